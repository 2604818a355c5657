/**
 * The `redemptions` table: a reward redeemed for points, with its coupon code and what became of
 * it; idempotent by the client's key (PointsEconomy).
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from "typeorm";
import { PartialIndex } from "../../db/partial-index";
import { bigintPoints } from "../../db/transformers";
import { CustomerEntity } from "../customer/customer.entity";
import { ProgramEntity } from "../program/program.entity";
import { RewardEntity } from "./reward.entity";

export type RedemptionStatus = "ISSUED" | "USED" | "CANCELLED" | "EXPIRED";

@Entity("redemptions")
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
@ForeignKey(() => RewardEntity, ["programId", "rewardId"], ["programId", "id"])
@Unique(["programId", "idempotencyKey"])
@Unique(["programId", "code"])
@Check("redemptions_status_check", "status IN ('ISSUED', 'USED', 'CANCELLED', 'EXPIRED')")
@Index("redemptions_customer_idx", ["programId", "customerId", "rewardId", "status"])
@PartialIndex("redemptions_expiring_idx", ["programId", "expiresAt"], "status = 'ISSUED'")
@Index("redemptions_id_idx", ["id"])
export class RedemptionEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  customerId: string;

  @Column({ type: "uuid" })
  rewardId: string;

  @Column({ type: "text" })
  idempotencyKey: string;

  @Column({ type: "text" })
  requestHash: string;

  @Column({ type: "bigint", transformer: bigintPoints })
  points: number;

  @Column({ type: "text" })
  code: string;

  @Column({ type: "text" })
  status: RedemptionStatus;

  /** The request's time by the app's clock, written by the service: no default. */
  @Column({ type: "timestamptz" })
  createdAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  expiresAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  usedAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  cancelledAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  expiredAt: Date | null;
}
