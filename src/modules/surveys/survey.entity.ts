/** The `surveys` table: a program's questionnaires; answers arrive as touchpoints (Surveys). */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { ProgramEntity } from "../program/program.entity";
import type { SurveyQuestionData } from "./survey.questions";

@Entity("surveys")
@Check("surveys_questions_check", "jsonb_typeof(questions) = 'array'")
// Looked up by id alone (submitSurveyResponse, survey(id)), then checked against the credential's program.
@Index("surveys_id_idx", ["id"])
export class SurveyEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "text", nullable: true })
  description: string | null;

  @Column({ type: "jsonb" })
  questions: SurveyQuestionData[];

  @Column({ type: "boolean", default: true })
  active: boolean;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
