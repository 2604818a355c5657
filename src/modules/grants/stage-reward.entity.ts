/**
 * The `stage_rewards` table: a reward owed, as a grant, to a customer who moves into a stage: once,
 * or again on a later entry after so many days (StageRewards).
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { ProgramEntity } from "../program/program.entity";
import { RewardEntity } from "../rewards/reward.entity";

@Entity("stage_rewards")
@ForeignKey(() => RewardEntity, ["programId", "rewardId"], ["programId", "id"])
@Check("stage_rewards_repeat_after_days_check", "repeat_after_days BETWEEN 1 AND 3650")
export class StageRewardEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "text" })
  stageKey: string;

  @Column({ type: "uuid" })
  rewardId: string;

  /** Null: once per customer; else again on a later entry once this many days have passed. */
  @Column({ type: "int", nullable: true })
  repeatAfterDays: number | null;

  @Column({ type: "boolean", default: true })
  active: boolean;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
