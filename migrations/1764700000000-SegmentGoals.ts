import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Goals per RFM segment (docs/domain.md §3: "move segment X from 150 to 200 a year"): a target count of
 * customers by a date, with the count when the goal was set, so progress can be read.
 */
export class SegmentGoals1764700000000 implements MigrationInterface {
  name = "SegmentGoals1764700000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE segment_goals (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        segment text NOT NULL CHECK (segment IN ('CHAMPIONS', 'LOYAL', 'POTENTIAL_LOYALISTS', 'NEW_CUSTOMERS', 'NEEDS_ATTENTION', 'AT_RISK', 'HIBERNATING')),
        target integer NOT NULL CHECK (target >= 0),
        baseline integer NOT NULL CHECK (baseline >= 0),
        due_at timestamptz NOT NULL,
        note text,
        set_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, segment)
      )
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE segment_goals`);
  }
}
