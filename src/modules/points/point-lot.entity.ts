/**
 * The `point_lots` table: points as earned, each lot with what is left of it, when it becomes
 * spendable and when it expires; debits take from lots first-expiring-first (PointsEconomy's
 * debit_points and credit_points functions, which stay in the migration).
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { PartialIndex } from "../../db/partial-index";
import { bigintPoints } from "../../db/transformers";
import { CustomerEntity } from "../customer/customer.entity";

export type PointLotStatus = "PENDING" | "ACTIVE" | "EXPIRED" | "CANCELLED";

@Entity("point_lots")
// No foreign key to programs: the customer's implies it (LeanerWriteChecks).
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
@Check("point_lots_amount_check", "amount > 0")
@Check("point_lots_check", "remaining >= 0 AND remaining <= amount")
@Check("point_lots_status_check", "status IN ('PENDING', 'ACTIVE', 'EXPIRED', 'CANCELLED')")
@Index("point_lots_customer_idx", ["programId", "customerId", "status", "expiresAt"])
@PartialIndex("point_lots_touchpoint_idx", ["programId", "touchpointId"], "touchpoint_id IS NOT NULL")
@PartialIndex("point_lots_rule_idx", ["programId", "customerId", "ruleId", "earnedAt"], "rule_id IS NOT NULL")
@PartialIndex("point_lots_pending_idx", ["programId", "activatesAt"], "status = 'PENDING'")
@PartialIndex("point_lots_expiring_idx", ["programId", "expiresAt"], "status = 'ACTIVE' AND remaining > 0")
export class PointLotEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  @PrimaryGeneratedColumn("identity", { type: "bigint", generatedIdentity: "ALWAYS" })
  id: string;

  @Column({ type: "uuid" })
  customerId: string;

  /** EARN (a touchpoint), ADJUSTMENT, TRANSFER, REDEMPTION_CANCELLED. */
  @Column({ type: "text" })
  source: string;

  @Column({ type: "bigint", nullable: true })
  touchpointId: string | null;

  /** The earning rule that gave it, for its cap per period. */
  @Column({ type: "uuid", nullable: true })
  ruleId: string | null;

  @Column({ type: "bigint", transformer: bigintPoints })
  amount: number;

  @Column({ type: "bigint", transformer: bigintPoints })
  remaining: number;

  @Column({ type: "text" })
  status: PointLotStatus;

  @Column({ type: "timestamptz" })
  earnedAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  activatesAt: Date | null;

  /** Null: never. */
  @Column({ type: "timestamptz", nullable: true })
  expiresAt: Date | null;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
