import { ArrayMaxSize, IsIn, IsInt, IsOptional, Length, Max, Min } from "class-validator";
import { LifecyclePhase } from "../../domain/value/lifecycle";
import "../customer/lifecycle.types"; // registers LifecyclePhase
import { Field, Float, ID, InputType, Int } from "type-graphql";

@InputType()
export class CreateRewardInput {
  @Field(() => ID)
  programId: string;

  @Field()
  @Length(1, 200)
  name: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 5000)
  description?: string | null;

  @Field(() => Float, { description: "Points it costs (a whole number, at least 1)." })
  @IsInt()
  @Min(1)
  @Max(1e15)
  pointsCost: number;

  @Field(() => Int, { nullable: true, description: "Units available; omit for unlimited." })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  stock?: number | null;

  @Field(() => Date, { nullable: true })
  @IsOptional()
  validFrom?: Date | null;

  @Field(() => Date, { nullable: true })
  @IsOptional()
  validTo?: Date | null;

  @Field(() => [String], { nullable: true, description: "Stage keys that may redeem it (all when omitted)." })
  @IsOptional()
  @ArrayMaxSize(50)
  stages?: string[] | null;

  @Field(() => [String], { nullable: true, description: "Tier keys that may redeem it (all when omitted)." })
  @IsOptional()
  @ArrayMaxSize(50)
  tiers?: string[] | null;

  @Field(() => [LifecyclePhase], {
    nullable: true,
    description:
      "Lifecycle phases whose customers may redeem it, as Customer.lifecycle places them when they redeem (all when omitted): a win-back offer for DECLINE, a second-purchase offer for ACQUISITION. Like stages and tiers, it limits redeemReward: a trigger or stage reward giving this reward gives it regardless. A refusal names the phases, so a customer's token learns it is not in them.",
  })
  @IsOptional()
  @ArrayMaxSize(6)
  lifecyclePhases?: LifecyclePhase[] | null;

  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  perCustomerLimit?: number | null;

  @Field({ defaultValue: "GENERATED", description: "GENERATED or POOL." })
  @IsIn(["GENERATED", "POOL"], { message: "couponSource must be GENERATED or POOL" })
  couponSource: string;

  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(36500)
  couponValidDays?: number | null;
}

@InputType({ description: "Spend points on a reward. idempotencyKey makes a retry safe." })
export class RedeemRewardInput {
  @Field(() => ID)
  customerId: string;

  @Field(() => ID)
  rewardId: string;

  @Field({ description: "The client's key for this redemption: a retry with it returns the first redemption." })
  @Length(1, 200)
  idempotencyKey: string;
}
