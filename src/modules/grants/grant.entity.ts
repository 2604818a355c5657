/**
 * The `grants` table: points or a reward owed to a customer (a referral bonus, a trigger, a stage
 * reward), given when due by a job, tried again a few times if it fails. Keyed by what owes it, so
 * nothing is owed twice. Migrations: ReferralsAndTriggers, StageRewards.
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn } from "typeorm";
import { PartialIndex } from "../../db/partial-index";
import { bigintPoints } from "../../db/transformers";
import { CustomerEntity } from "../customer/customer.entity";
import { ProgramEntity } from "../program/program.entity";

@Entity("grants")
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
@Check("grants_kind_check", "kind IN ('POINTS', 'REWARD')")
@Check("grants_points_check", "points > 0")
// A POINTS grant carries points and a REWARD grant a reward, never both (PostgreSQL's names).
@Check("grants_check", "(kind = 'POINTS') = (points IS NOT NULL)")
@Check("grants_check1", "(kind = 'REWARD') = (reward_id IS NOT NULL)")
@PartialIndex("grants_pending_idx", ["programId", "createdAt"], "granted_at IS NULL")
@PartialIndex("grants_trigger_idx", ["programId", "customerId", "triggerId", "createdAt"], "trigger_id IS NOT NULL")
@Index("grants_customer_idx", ["programId", "customerId", "createdAt"])
@PartialIndex("grants_touchpoint_idx", ["programId", "touchpointId"], "touchpoint_id IS NOT NULL")
@PartialIndex("grants_stage_reward_idx", ["programId", "customerId", "stageRewardId", "createdAt"], "stage_reward_id IS NOT NULL")
export class GrantEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  /** What owes it, e.g. `referral:<referee>:SIGNUP:<rule>`: the same cause never grants twice. */
  @PrimaryColumn({ type: "text" })
  key: string;

  @Column({ type: "uuid" })
  customerId: string;

  @Column({ type: "text" })
  kind: "POINTS" | "REWARD";

  @Column({ type: "bigint", nullable: true, transformer: bigintPoints })
  points: number | null;

  @Column({ type: "uuid", nullable: true })
  rewardId: string | null;

  @Column({ type: "uuid", nullable: true })
  triggerId: string | null;

  @Column({ type: "uuid", nullable: true })
  ruleId: string | null;

  @Column({ type: "text" })
  reason: string;

  /** The purchase that earned it (a referee's first purchase): a full refund before it is due cancels it. */
  @Column({ type: "bigint", nullable: true })
  touchpointId: string | null;

  @Column({ type: "timestamptz" })
  createdAt: Date;

  /** Not given before this (the program's return window); null: at once. */
  @Column({ type: "timestamptz", nullable: true })
  dueAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  grantedAt: Date | null;

  @Column({ type: "jsonb", nullable: true })
  result: Record<string, unknown> | null;

  /** A grant that fails (a bug, a constraint) is tried again a few times, never blocking the others. */
  @Column({ type: "int", default: 0 })
  attempts: number;

  @Column({ type: "text", nullable: true })
  lastError: string | null;

  @Column({ type: "uuid", nullable: true })
  stageRewardId: string | null;
}
