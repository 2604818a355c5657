import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Surveys (docs/domain.md §5): a program's questionnaires (NPS, CSAT, effort, the five loyalty factors,
 * free text). Answers are not a table of their own: each response is a SURVEY_RESPONSE touchpoint
 * (idempotent by its responseId, earning points by the program's rules, its NPS answer feeding the
 * customer's NPS), with the answers in its data.
 */
export class Surveys1764400000000 implements MigrationInterface {
  name = "Surveys1764400000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE surveys (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        description text,
        questions jsonb NOT NULL CHECK (jsonb_typeof(questions) = 'array'),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id)
      );
      -- Looked up by id alone (submitSurveyResponse, survey(id)), then checked against the credential's program.
      CREATE INDEX surveys_id_idx ON surveys (id);
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE surveys`);
  }
}
