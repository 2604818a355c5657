/**
 * The `programs` table: one loyalty program, the tenant every other row belongs to, with its
 * points, expiry, tier and customer-value policies. Migrations: Foundation, PointsEconomy, Tiers,
 * ValuePolicy.
 */
import { Check, Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import type { TierBasis, TierDowngrade, TierWindow } from "../../domain/points/tiers";

export type ExpiryPolicy = "NEVER" | "AFTER_DAYS" | "END_OF_MONTH" | "END_OF_YEAR";
export type OverdraftPolicy = "ALLOW_NEGATIVE" | "CLAMP_AT_ZERO";

@Entity("programs")
@Check("programs_pending_days_check", "pending_days BETWEEN 0 AND 365")
@Check("programs_expiry_policy_check", "expiry_policy IN ('NEVER', 'AFTER_DAYS', 'END_OF_MONTH', 'END_OF_YEAR')")
@Check("programs_expiry_days_check", "expiry_days BETWEEN 1 AND 36500")
@Check("programs_overdraft_policy_check", "overdraft_policy IN ('ALLOW_NEGATIVE', 'CLAMP_AT_ZERO')")
@Check("programs_tier_basis_check", "tier_basis IN ('POINTS_EARNED', 'AMOUNT_SPENT')")
@Check("programs_tier_window_check", "tier_window IN ('ROLLING_DAYS', 'CALENDAR_YEAR', 'ANNIVERSARY')")
@Check("programs_tier_window_days_check", "tier_window_days BETWEEN 1 AND 3650")
@Check("programs_tier_grace_days_check", "tier_grace_days BETWEEN 0 AND 3650")
@Check("programs_tier_downgrade_check", "tier_downgrade IN ('ONE_TIER', 'TO_QUALIFIED')")
@Check("programs_value_active_days_check", "value_active_days BETWEEN 180 AND 3650")
@Check("programs_value_horizon_years_check", "value_horizon_years BETWEEN 1 AND 10")
// PostgreSQL named this column check `programs_check` because it compares two columns.
@Check("programs_check", "value_first_repeat_days >= 7 AND value_first_repeat_days <= value_active_days - 90")
export class ProgramEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "text", default: "points" })
  pointsName: string;

  /** IANA zone: calendar periods (caps, expiry at month end, calendar-year tiers) are local to it. */
  @Column({ type: "text", default: "UTC" })
  timeZone: string;

  @Column({ type: "text", nullable: true })
  ladderPreset: string | null;

  /** Signs the program's customer tokens. */
  @Column({ type: "text" })
  tokenSecret: string;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  @Column({ type: "timestamptz", default: () => "now()" })
  updatedAt: Date;

  @Column({ type: "int", default: 0 })
  pendingDays: number;

  @Column({ type: "text", default: "NEVER" })
  expiryPolicy: ExpiryPolicy;

  @Column({ type: "int", nullable: true })
  expiryDays: number | null;

  @Column({ type: "text", default: "ALLOW_NEGATIVE" })
  overdraftPolicy: OverdraftPolicy;

  @Column({ type: "text", default: "POINTS_EARNED" })
  tierBasis: TierBasis;

  @Column({ type: "text", default: "ROLLING_DAYS" })
  tierWindow: TierWindow;

  @Column({ type: "int", default: 365 })
  tierWindowDays: number;

  @Column({ type: "int", default: 0 })
  tierGraceDays: number;

  @Column({ type: "text", default: "ONE_TIER" })
  tierDowngrade: TierDowngrade;

  @Column({ type: "int", default: 365 })
  valueActiveDays: number;

  @Column({ type: "int", default: 3 })
  valueHorizonYears: number;

  @Column({ type: "int", default: 90 })
  valueFirstRepeatDays: number;
}
