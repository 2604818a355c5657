/**
 * The `stage_transitions` table: every move of a customer between stages, with the reason that
 * held, appended by the write path, recompute and jobs (Foundation).
 */
import { Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import type { StageReason } from "../../domain/ladder/ladder.types";
import { PartialIndex } from "../../db/partial-index";
import { CustomerEntity } from "../customer/customer.entity";

@Entity("stage_transitions")
// No foreign key to programs: the customer's implies it (LeanerWriteChecks).
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
@Index("stage_transitions_customer_idx", ["programId", "customerId", "id"])
@Index("stage_transitions_at_idx", ["programId", "at"])
@PartialIndex("stage_transitions_touchpoint_idx", ["programId", "touchpointId"], "touchpoint_id IS NOT NULL")
export class StageTransitionEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  @PrimaryGeneratedColumn("identity", { type: "bigint", generatedIdentity: "ALWAYS" })
  id: string;

  @Column({ type: "uuid" })
  customerId: string;

  /** Null for the first placement. */
  @Column({ type: "text", nullable: true })
  fromKey: string | null;

  @Column({ type: "text" })
  toKey: string;

  @Column({ type: "timestamptz", default: () => "now()" })
  at: Date;

  @Column({ type: "text" })
  cause: string;

  @Column({ type: "bigint", nullable: true })
  touchpointId: string | null;

  @Column({ type: "jsonb" })
  reason: StageReason;
}
