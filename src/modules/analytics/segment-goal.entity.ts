/**
 * The `segment_goals` table: a target count of customers in an RFM segment by a date, with the
 * count when the goal was set, so progress can be read (SegmentGoals).
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn } from "typeorm";
import type { RfmSegment } from "../../domain/value/customer-value";
import { ProgramEntity } from "../program/program.entity";

@Entity("segment_goals")
@Check("segment_goals_segment_check", "segment IN ('CHAMPIONS', 'LOYAL', 'POTENTIAL_LOYALISTS', 'NEW_CUSTOMERS', 'NEEDS_ATTENTION', 'AT_RISK', 'HIBERNATING')")
@Check("segment_goals_target_check", "target >= 0")
@Check("segment_goals_baseline_check", "baseline >= 0")
export class SegmentGoalEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryColumn({ type: "text" })
  segment: RfmSegment;

  @Column({ type: "int" })
  target: number;

  /** The segment's count when the goal was set. */
  @Column({ type: "int" })
  baseline: number;

  @Column({ type: "timestamptz" })
  dueAt: Date;

  @Column({ type: "text", nullable: true })
  note: string | null;

  @Column({ type: "timestamptz", default: () => "now()" })
  setAt: Date;
}
