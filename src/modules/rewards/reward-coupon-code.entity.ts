/**
 * The `reward_coupon_codes` table: codes uploaded for a reward whose coupons come from a pool; a
 * redemption takes a free one (PointsEconomy).
 */
import { Column, Entity, ForeignKey, PrimaryColumn } from "typeorm";
import { PartialIndex } from "../../db/partial-index";
import { RewardEntity } from "./reward.entity";

@Entity("reward_coupon_codes")
@ForeignKey(() => RewardEntity, ["programId", "rewardId"], ["programId", "id"], { onDelete: "CASCADE" })
@PartialIndex("reward_coupon_codes_free_idx", ["programId", "rewardId"], "redemption_id IS NULL")
export class RewardCouponCodeEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  @PrimaryColumn({ type: "uuid" })
  rewardId: string;

  @PrimaryColumn({ type: "text" })
  code: string;

  /** Null while free. */
  @Column({ type: "uuid", nullable: true })
  redemptionId: string | null;
}
