import { IsIn, IsInt, IsOptional, IsUUID, Length, Max, Min, ValidateNested, ArrayMaxSize, ArrayNotEmpty } from "class-validator";
import { Field, Float, ID, InputType, Int } from "type-graphql";
import { Comparator, Metric } from "../../domain/ladder/ladder.types";
import { LADDER_PRESETS } from "../../domain/ladder/ladder.presets";
import { TouchpointType } from "./earning";
import { CapPeriodEnum } from "./program.types";
import { ExpiryPolicy, OverdraftPolicy } from "../points/points.policy";
import { TiersInput } from "../tiers/tier.types";

@InputType({ description: "One condition of a stage path." })
export class CriterionInput {
  @Field(() => Metric)
  metric: Metric;

  @Field(() => Comparator)
  op: Comparator;

  @Field(() => Float)
  value: number;

  @Field(() => Int, { nullable: true, description: "Count only touchpoints of the last N days (1-3650)." })
  windowDays?: number | null;
}

@InputType({ description: "A stage, in ladder order (bottom first). The bottom stage has no paths." })
export class StageInput {
  @Field({ description: "Stable key: lower-case letters, digits and _." })
  key: string;

  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 1000)
  description?: string | null;

  @Field({ defaultValue: false, description: "A side stage (lapsed, disqualified) takes precedence when it holds." })
  side: boolean;

  @Field(() => [[CriterionInput]], { defaultValue: [], description: "Alternatives: all criteria of any one path must hold." })
  paths: CriterionInput[][];
}

@InputType({ description: "A ladder: a preset key or explicit stages, exactly one." })
export class LadderInput {
  @Field(() => String, { nullable: true, description: `One of: ${Object.keys(LADDER_PRESETS).join(", ")}.` })
  @IsOptional()
  @IsIn(Object.keys(LADDER_PRESETS), { message: `preset must be one of ${Object.keys(LADDER_PRESETS).join(", ")}` })
  preset?: string | null;

  @Field(() => [StageInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(50)
  stages?: StageInput[] | null;
}

@InputType({ description: "How touchpoints of one type earn points. Rules run by priority (high first), then the order listed." })
export class EarningRuleInput {
  @Field(() => ID, {
    nullable: true,
    description: "In setEarningRules: the rule this entry updates (it keeps counting what it gave against its caps). Omit for a new rule.",
  })
  @IsOptional()
  @IsUUID("all", { message: "id must be an earning rule id" })
  id?: string | null;

  @Field(() => TouchpointType)
  touchpointType: TouchpointType;

  @Field(() => Float, { nullable: true, description: "e.g. 1 = one point per currency unit of the eligible amount (rounded down)." })
  @IsOptional()
  @Min(0)
  @Max(10000)
  pointsPerUnit?: number | null;

  @Field(() => Int, { nullable: true, description: "Points for each touchpoint of the type." })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  fixedPoints?: number | null;

  @Field(() => Float, {
    nullable: true,
    description:
      "Alone: multiplies what earlier rules gave (on its SKUs/categories if it names some), e.g. 2 = double points. With pointsPerUnit/fixedPoints: multiplies this rule's own points.",
  })
  @IsOptional()
  @Min(0.01)
  @Max(100)
  multiplier?: number | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 100)
  name?: string | null;

  @Field(() => Int, { defaultValue: 0 })
  @IsInt()
  @Min(-1_000_000)
  @Max(1_000_000)
  priority: number;

  @Field(() => [String], { nullable: true, description: "Only these SKUs of the purchase's lines earn (purchases with lines)." })
  @IsOptional()
  @ArrayMaxSize(1000)
  @Length(1, 100, { each: true })
  skus?: string[] | null;

  @Field(() => [String], { nullable: true, description: "Only lines of these categories earn." })
  @IsOptional()
  @ArrayMaxSize(1000)
  @Length(1, 100, { each: true })
  categories?: string[] | null;

  @Field(() => [String], { nullable: true, description: "Only customers on these stages (keys), as they were before the touchpoint." })
  @IsOptional()
  @ArrayMaxSize(50)
  stages?: string[] | null;

  @Field(() => [String], { nullable: true, description: "Only customers in these tiers (keys)." })
  @IsOptional()
  @ArrayMaxSize(50)
  tiers?: string[] | null;

  @Field(() => Date, { nullable: true, description: "Runs for touchpoints that happened at or after this time." })
  @IsOptional()
  activeFrom?: Date | null;

  @Field(() => Date, { nullable: true, description: "Runs for touchpoints that happened before this time." })
  @IsOptional()
  activeTo?: Date | null;

  @Field(() => [Int], { nullable: true, description: "ISO weekdays the rule runs on (1 = Monday … 7 = Sunday), in the program's time zone." })
  @IsOptional()
  @ArrayNotEmpty()
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(7, { each: true })
  daysOfWeek?: number[] | null;

  @Field(() => Int, { nullable: true, description: "At most this many points per customer per capPeriod." })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  capPoints?: number | null;

  @Field(() => CapPeriodEnum, { nullable: true })
  @IsOptional()
  capPeriod?: CapPeriodEnum | null;

  @Field(() => Float, { nullable: true, description: "At most this many points from this rule over all customers, ever." })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1e15)
  totalCap?: number | null;

  @Field({ defaultValue: false, description: "When this rule runs, no later rule does." })
  stopFurtherRules: boolean;

  @Field(() => String, {
    nullable: true,
    description:
      "A referral rule: SIGNUP (touchpointType REFERRAL) or FIRST_PURCHASE (touchpointType PURCHASE, the referee's first). Gives fixedPoints to the beneficiary.",
  })
  @IsOptional()
  @IsIn(["SIGNUP", "FIRST_PURCHASE"], { message: "referralTrigger must be SIGNUP or FIRST_PURCHASE" })
  referralTrigger?: "SIGNUP" | "FIRST_PURCHASE" | null;

  @Field(() => String, { nullable: true, description: "For a referral rule: REFERRER or REFEREE." })
  @IsOptional()
  @IsIn(["REFERRER", "REFEREE"], { message: "beneficiary must be REFERRER or REFEREE" })
  beneficiary?: "REFERRER" | "REFEREE" | null;
}

@InputType({ description: "How points live: pending for a return window, when they expire, what a refund does to spent points." })
export class PointsPolicyInput {
  @Field(() => Int, { defaultValue: 0, description: "Purchase points stay pending this many days (0-365) before they can be spent." })
  @IsInt()
  @Min(0)
  @Max(365)
  pendingDays: number;

  @Field(() => ExpiryPolicy, { defaultValue: ExpiryPolicy.NEVER })
  expiry: ExpiryPolicy;

  @Field(() => Int, { nullable: true, description: "For expiry AFTER_DAYS: days after points become spendable." })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(36500)
  expiryDays?: number | null;

  @Field(() => OverdraftPolicy, { defaultValue: OverdraftPolicy.ALLOW_NEGATIVE })
  overdraft: OverdraftPolicy;
}

@InputType()
export class CreateProgramInput {
  @Field()
  @Length(1, 200)
  name: string;

  @Field({ defaultValue: "points" })
  @Length(1, 50)
  pointsName: string;

  @Field({ defaultValue: "UTC", description: "IANA time zone, e.g. Europe/Paris." })
  @Length(1, 64)
  timeZone: string;

  @Field(() => LadderInput)
  @ValidateNested()
  ladder: LadderInput;

  @Field(() => [EarningRuleInput], { defaultValue: [] })
  @ValidateNested({ each: true })
  @ArrayMaxSize(100)
  earningRules: EarningRuleInput[];

  @Field(() => PointsPolicyInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  points?: PointsPolicyInput | null;

  @Field(() => TiersInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  tiers?: TiersInput | null;
}
