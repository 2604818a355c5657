import { LifecyclePhase } from "../../domain/value/lifecycle";
import "../customer/lifecycle.types"; // registers LifecyclePhase
import { createUnionType, Field, Float, ID, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "Something customers get for points: a catalog item of a program." })
export class Reward {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  programId: string;

  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field(() => Float)
  pointsCost: number;

  @Field(() => Int, { nullable: true, description: "Units available in total; null: unlimited." })
  stock: number | null;

  @Field(() => Int, { description: "Units issued (cancelled redemptions give theirs back)." })
  issued: number;

  @Field(() => Int, { nullable: true, description: "Units left; null: unlimited." })
  remaining: number | null;

  @Field(() => Date, { nullable: true })
  validFrom: Date | null;

  @Field(() => Date, { nullable: true })
  validTo: Date | null;

  @Field(() => [String], { nullable: true, description: "Only customers on these stages may redeem it." })
  stages: string[] | null;

  @Field(() => [String], { nullable: true, description: "Only customers in these tiers may redeem it." })
  tiers: string[] | null;

  @Field(() => [LifecyclePhase], { nullable: true, description: "Only customers in these lifecycle phases (Customer.lifecycle) may redeem it." })
  lifecyclePhases: LifecyclePhase[] | null;

  @Field(() => Int, { nullable: true, description: "Redemptions per customer (cancelled ones do not count)." })
  perCustomerLimit: number | null;

  @Field({ description: "GENERATED (unique, unguessable codes) or POOL (codes uploaded with addRewardCoupons)." })
  couponSource: string;

  @Field(() => Int, { nullable: true, description: "A coupon expires this many days after it is issued; null: never." })
  couponValidDays: number | null;

  @Field()
  active: boolean;

  @Field()
  createdAt: Date;
}

export function rewardFromRow(row: any): Reward {
  const stock = row.stock === null ? null : Number(row.stock);
  return Object.assign(new Reward(), {
    id: row.id,
    programId: row.program_id,
    name: row.name,
    description: row.description,
    pointsCost: Number(row.points_cost),
    stock,
    issued: Number(row.issued),
    remaining: stock === null ? null : stock - Number(row.issued),
    validFrom: row.valid_from,
    validTo: row.valid_to,
    stages: row.stages,
    tiers: row.tiers,
    lifecyclePhases: row.lifecycle_phases ?? null,
    perCustomerLimit: row.per_customer_limit,
    couponSource: row.coupon_source,
    couponValidDays: row.coupon_valid_days,
    active: row.active,
    createdAt: row.created_at,
  });
}

@ObjectType({ description: "A reward a customer got: the points it cost and its coupon, issued → used | cancelled | expired." })
export class Redemption {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  programId: string;

  @Field(() => ID)
  customerId: string;

  @Field(() => ID)
  rewardId: string;

  @Field(() => Float, { description: "Points it cost (given back if cancelled)." })
  points: number;

  @Field({ description: "The coupon code to present." })
  code: string;

  @Field({ description: "ISSUED, USED, CANCELLED or EXPIRED." })
  status: string;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  expiresAt: Date | null;

  @Field(() => Date, { nullable: true })
  usedAt: Date | null;

  @Field(() => Date, { nullable: true })
  cancelledAt: Date | null;

  @Field({ description: "True when the idempotency key was seen before: the first redemption is returned, nothing was written." })
  replayed: boolean;
}

export function redemptionFromRow(row: any, replayed = false): Redemption {
  return Object.assign(new Redemption(), {
    id: row.id,
    programId: row.program_id,
    customerId: row.customer_id,
    rewardId: row.reward_id,
    points: Number(row.points),
    code: row.code,
    status: row.status,
    createdAt: new Date(row.created_at),
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
    usedAt: row.used_at ? new Date(row.used_at) : null,
    cancelledAt: row.cancelled_at ? new Date(row.cancelled_at) : null,
    replayed,
  });
}

@ObjectType({ description: "Not enough spendable points for the reward." })
export class InsufficientPoints {
  @Field(() => Float)
  balance: number;

  @Field(() => Float)
  required: number;
}

@ObjectType({ description: "The reward cannot be had now." })
export class RewardUnavailable {
  @Field({ description: "OUT_OF_STOCK, NO_CODES_LEFT, INACTIVE, NOT_YET_VALID or ENDED." })
  reason: string;

  @Field()
  message: string;
}

@ObjectType({ description: "The customer's stage, tier or lifecycle phase does not give access to the reward." })
export class NotEligible {
  @Field()
  message: string;

  @Field(() => [String], { nullable: true })
  stages: string[] | null;

  @Field(() => [String], { nullable: true })
  tiers: string[] | null;

  @Field(() => [LifecyclePhase], { nullable: true })
  lifecyclePhases: LifecyclePhase[] | null;
}

@ObjectType({ description: "The customer already has as many of this reward as it allows." })
export class LimitReached {
  @Field(() => Int)
  limit: number;

  @Field(() => Int)
  used: number;
}

export const RedeemRewardResult = createUnionType({
  name: "RedeemRewardResult",
  description: "A redemption, or why there is none (nothing was written then).",
  types: () => [Redemption, InsufficientPoints, RewardUnavailable, NotEligible, LimitReached] as const,
});
export type RedeemRewardResult = Redemption | InsufficientPoints | RewardUnavailable | NotEligible | LimitReached;

@ObjectType({ description: "The coupon cannot be used or cancelled in its state." })
export class CouponUnusable {
  @Field()
  code: string;

  @Field({ description: "The redemption's status: USED, CANCELLED or EXPIRED (or ISSUED but past its expiry)." })
  status: string;

  @Field()
  message: string;
}

export const CouponResult = createUnionType({
  name: "CouponResult",
  description: "The redemption after the change, or why it could not change.",
  types: () => [Redemption, CouponUnusable] as const,
});
export type CouponResult = Redemption | CouponUnusable;
