/**
 * The `earning_rules` table: how a program gives points for touchpoints, with its filters, caps
 * and referral bonuses. Applied by priority, then by its place in the admin's list. Migrations:
 * Foundation, PointsEconomy, ReferralsAndTriggers.
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { bigintPoints, numericNumber } from "../../db/transformers";
import { ProgramEntity } from "./program.entity";

@Entity("earning_rules")
@Check("earning_rules_gives_points", "points_per_unit IS NOT NULL OR fixed_points IS NOT NULL OR multiplier IS NOT NULL")
@Check("earning_rules_multiplier_check", "multiplier > 0")
@Check("earning_rules_cap_points_check", "cap_points >= 0")
@Check("earning_rules_cap_period_check", "cap_period IN ('DAY', 'WEEK', 'MONTH')")
@Check("earning_rules_total_cap_check", "total_cap >= 0")
@Check("earning_rules_referral_trigger_check", "referral_trigger IN ('SIGNUP', 'FIRST_PURCHASE')")
@Check("earning_rules_beneficiary_check", "beneficiary IN ('REFERRER', 'REFEREE')")
@Check("earning_rules_referral", "(referral_trigger IS NULL) = (beneficiary IS NULL)")
export class EarningRuleEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text", nullable: true })
  name: string | null;

  @Column({ type: "text" })
  touchpointType: string;

  @Column({ type: "numeric", precision: 14, scale: 4, nullable: true, transformer: numericNumber })
  pointsPerUnit: number | null;

  @Column({ type: "int", nullable: true })
  fixedPoints: number | null;

  @Column({ type: "int", default: 0 })
  priority: number;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  @Column({ type: "numeric", precision: 8, scale: 4, nullable: true, transformer: numericNumber })
  multiplier: number | null;

  @Column({ type: "text", array: true, nullable: true })
  skus: string[] | null;

  @Column({ type: "text", array: true, nullable: true })
  categories: string[] | null;

  @Column({ type: "text", array: true, nullable: true })
  stages: string[] | null;

  @Column({ type: "text", array: true, nullable: true })
  tiers: string[] | null;

  @Column({ type: "timestamptz", nullable: true })
  activeFrom: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  activeTo: Date | null;

  @Column({ type: "smallint", array: true, nullable: true })
  daysOfWeek: number[] | null;

  @Column({ type: "int", nullable: true })
  capPoints: number | null;

  @Column({ type: "text", nullable: true })
  capPeriod: "DAY" | "WEEK" | "MONTH" | null;

  @Column({ type: "bigint", nullable: true, transformer: bigintPoints })
  totalCap: number | null;

  /** What the rule gave so far over all customers, kept by the write path for its total cap. */
  @Column({ type: "bigint", default: 0, transformer: bigintPoints })
  awarded: number;

  @Column({ type: "boolean", default: false })
  stopFurtherRules: boolean;

  /** The rule's place in the admin's list: the tie-break after priority, never the last edit. */
  @Column({ type: "int", default: 0 })
  position: number;

  @Column({ type: "text", nullable: true })
  referralTrigger: "SIGNUP" | "FIRST_PURCHASE" | null;

  @Column({ type: "text", nullable: true })
  beneficiary: "REFERRER" | "REFEREE" | null;
}
