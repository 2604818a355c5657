/**
 * The `reward_triggers` table: a reward issued when a customer records enough touchpoints of a
 * type within a window (ReferralsAndTriggers).
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { ProgramEntity } from "../program/program.entity";
import { RewardEntity } from "../rewards/reward.entity";

@Entity("reward_triggers")
@ForeignKey(() => RewardEntity, ["programId", "rewardId"], ["programId", "id"])
@Check("reward_triggers_min_count_check", "min_count >= 1")
@Check("reward_triggers_window_hours_check", "window_hours BETWEEN 1 AND 87600")
export class RewardTriggerEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "uuid" })
  rewardId: string;

  @Column({ type: "text" })
  touchpointType: string;

  @Column({ type: "int" })
  minCount: number;

  @Column({ type: "int" })
  windowHours: number;

  @Column({ type: "boolean", default: false })
  requireNoPurchase: boolean;

  @Column({ type: "boolean", default: true })
  active: boolean;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
