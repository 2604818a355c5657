/**
 * The `tiers` table: a program's status levels, reached by points earned or amount spent in a
 * window (Tiers). Lower rank first; the policy is on the program.
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn, Unique } from "typeorm";
import { numericNumber } from "../../db/transformers";
import { ProgramEntity } from "../program/program.entity";

@Entity("tiers")
@Unique(["programId", "rank"])
@Check("tiers_threshold_check", "threshold >= 0")
export class TierEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryColumn({ type: "text" })
  key: string;

  @Column({ type: "int" })
  rank: number;

  @Column({ type: "text" })
  name: string;

  /** Points or money, by the program's tier basis. */
  @Column({ type: "numeric", precision: 16, scale: 2, transformer: numericNumber })
  threshold: number;
}
