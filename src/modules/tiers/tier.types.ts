import { ArrayMaxSize, IsIn, IsInt, Length, Matches, Max, Min, ValidateNested } from "class-validator";
import { GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, InputType, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "A status level (silver, gold, ...) reached by points earned or money spent in a window." })
export class Tier {
  @Field()
  key: string;

  @Field()
  name: string;

  @Field(() => Int, { description: "0 for the lowest tier." })
  rank: number;

  @Field(() => Float, { description: "Points earned or amount spent in the window to qualify." })
  threshold: number;
}

@ObjectType({ description: "How tiers are earned and lost." })
export class TierPolicyType {
  @Field({ description: "POINTS_EARNED or AMOUNT_SPENT." })
  basis: string;

  @Field({ description: "ROLLING_DAYS, CALENDAR_YEAR or ANNIVERSARY (membership year)." })
  window: string;

  @Field(() => Int)
  windowDays: number;

  @Field(() => Int, { description: "Days after the window ends before a downgrade." })
  graceDays: number;

  @Field({ description: "ONE_TIER (down one level at most) or TO_QUALIFIED (to the tier the window supports)." })
  downgrade: string;
}

@ObjectType({ description: "What it takes to reach the next tier." })
export class TierProgress {
  @Field(() => Float, { description: "Points earned or amount spent in the current window." })
  have: number;

  @Field(() => Tier, { nullable: true, description: "The next tier up, if any." })
  next: Tier | null;

  @Field(() => Float, { nullable: true, description: "What is still missing for it." })
  need: number | null;

  @Field(() => Date, { nullable: true, description: "When the current window ends (null for a rolling window, which never ends)." })
  by: Date | null;
}

@ObjectType({ description: "A customer's tier: which, since when, why, and the way up." })
export class CustomerTier {
  @Field(() => Tier, { nullable: true, description: "Null below the lowest tier." })
  tier: Tier | null;

  @Field(() => Date, { nullable: true })
  since: Date | null;

  @Field(() => Date, { nullable: true, description: "When the tier is next reviewed for a downgrade." })
  reviewAt: Date | null;

  @Field(() => Date, { nullable: true, description: "Set by hand until this date (then reviewed like any tier)." })
  manualUntil: Date | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "Why the last change: basis, value seen, threshold, window, summary." })
  reason: Record<string, unknown> | null;

  @Field(() => TierProgress)
  progress: TierProgress;
}

@InputType()
export class TierLevelInput {
  @Field({ description: "Stable key: lower-case letters, digits and _." })
  @Matches(/^[a-z][a-z0-9_]{0,49}$/, { message: "key is lower-case letters, digits and _ (up to 50)" })
  key: string;

  @Field()
  @Length(1, 100)
  name: string;

  @Field(() => Float)
  @Min(0)
  @Max(1e12)
  threshold: number;
}

@InputType({ description: "Tiers, lowest first, with how they are earned and lost." })
export class TiersInput {
  @Field(() => [TierLevelInput])
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  levels: TierLevelInput[];

  @Field({ defaultValue: "POINTS_EARNED" })
  @IsIn(["POINTS_EARNED", "AMOUNT_SPENT"], { message: "basis must be POINTS_EARNED or AMOUNT_SPENT" })
  basis: string;

  @Field({ defaultValue: "ROLLING_DAYS" })
  @IsIn(["ROLLING_DAYS", "CALENDAR_YEAR", "ANNIVERSARY"], { message: "window must be ROLLING_DAYS, CALENDAR_YEAR or ANNIVERSARY" })
  window: string;

  @Field(() => Int, { defaultValue: 365 })
  @IsInt()
  @Min(1)
  @Max(3650)
  windowDays: number;

  @Field(() => Int, { defaultValue: 0 })
  @IsInt()
  @Min(0)
  @Max(3650)
  graceDays: number;

  @Field({ defaultValue: "ONE_TIER" })
  @IsIn(["ONE_TIER", "TO_QUALIFIED"], { message: "downgrade must be ONE_TIER or TO_QUALIFIED" })
  downgrade: string;
}
