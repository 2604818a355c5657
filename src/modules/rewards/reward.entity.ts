/**
 * The `rewards` table: what customers redeem points for, with stock, eligibility and coupon
 * settings. Migrations: PointsEconomy, RewardLifecycle.
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import type { LifecyclePhase } from "../../domain/value/lifecycle";
import { bigintPoints } from "../../db/transformers";
import { ProgramEntity } from "../program/program.entity";

@Entity("rewards")
@Check("rewards_points_cost_check", "points_cost > 0")
@Check("rewards_stock_check", "stock >= 0")
@Check("rewards_issued_check", "issued >= 0")
@Check("rewards_per_customer_limit_check", "per_customer_limit > 0")
@Check("rewards_coupon_source_check", "coupon_source IN ('GENERATED', 'POOL')")
@Check("rewards_coupon_valid_days_check", "coupon_valid_days > 0")
// Never more issued than stocked: the database refuses it even if the code were wrong.
@Check("rewards_check", "stock IS NULL OR issued <= stock")
@Check("rewards_lifecycle_phases_check", "lifecycle_phases <@ ARRAY['CONTACT', 'ACQUISITION', 'GROWTH', 'MATURITY', 'DECLINE', 'CHURNED']::text[]")
@Index("rewards_id_idx", ["id"])
export class RewardEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "text", nullable: true })
  description: string | null;

  @Column({ type: "bigint", transformer: bigintPoints })
  pointsCost: number;

  /** Null: unlimited. */
  @Column({ type: "int", nullable: true })
  stock: number | null;

  @Column({ type: "int", default: 0 })
  issued: number;

  @Column({ type: "timestamptz", nullable: true })
  validFrom: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  validTo: Date | null;

  /** Null: any stage. */
  @Column({ type: "text", array: true, nullable: true })
  stages: string[] | null;

  @Column({ type: "text", array: true, nullable: true })
  tiers: string[] | null;

  @Column({ type: "int", nullable: true })
  perCustomerLimit: number | null;

  @Column({ type: "text", default: "GENERATED" })
  couponSource: "GENERATED" | "POOL";

  @Column({ type: "int", nullable: true })
  couponValidDays: number | null;

  @Column({ type: "boolean", default: true })
  active: boolean;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  @Column({ type: "text", array: true, nullable: true })
  lifecyclePhases: LifecyclePhase[] | null;
}
