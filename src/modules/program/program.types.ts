import { Field, Float, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { ExpiryPolicy, OverdraftPolicy } from "../points/points.policy";

export enum CapPeriodEnum {
  DAY = "DAY",
  WEEK = "WEEK",
  MONTH = "MONTH",
}
registerEnumType(CapPeriodEnum, { name: "CapPeriod", description: "A calendar period in the program's time zone (weeks start on Monday)." });
import { Comparator, Metric } from "../../domain/ladder/ladder.types";
import { TouchpointType } from "./earning";

@ObjectType({ description: "One condition of a stage path, e.g. PURCHASE_COUNT GTE 4 over 365 days." })
export class Criterion {
  @Field(() => Metric)
  metric: Metric;

  @Field(() => Comparator)
  op: Comparator;

  @Field(() => Float)
  value: number;

  @Field(() => Int, { nullable: true, description: "Only touchpoints of the last N days count." })
  windowDays?: number | null;
}

@ObjectType({ description: "A rung of the loyalty ladder (or a side stage such as lapsed)." })
export class Stage {
  @Field({ description: "Stable key clients refer to, e.g. `repeat_customer`." })
  key: string;

  @Field()
  name: string;

  @Field(() => Int, { description: "Position in the ladder, 0 at the bottom." })
  rank: number;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field({ description: "Side stages (lapsed, disqualified) are not rungs; when one holds it takes precedence." })
  side: boolean;

  @Field(() => [[Criterion]], { description: "Alternative paths: the stage holds when every criterion of any one path holds." })
  paths: Criterion[][];
}

@ObjectType("EarningRule", { description: "How touchpoints of one type earn points." })
export class EarningRuleType {
  @Field(() => ID)
  id: string;

  @Field(() => String, { nullable: true })
  name: string | null;

  @Field(() => TouchpointType)
  touchpointType: TouchpointType;

  @Field(() => Float, { nullable: true, description: "Points per currency unit of the amount, rounded down." })
  pointsPerUnit: number | null;

  @Field(() => Int, { nullable: true, description: "Points for each touchpoint of the type." })
  fixedPoints: number | null;

  @Field(() => Int, { description: "Rules apply highest priority first, ties by id." })
  priority: number;

  @Field(() => Float, { nullable: true })
  multiplier?: number | null;

  @Field(() => [String], { nullable: true })
  skus?: string[] | null;

  @Field(() => [String], { nullable: true })
  categories?: string[] | null;

  @Field(() => [String], { nullable: true })
  stages?: string[] | null;

  @Field(() => [String], { nullable: true })
  tiers?: string[] | null;

  @Field(() => Date, { nullable: true })
  activeFrom?: Date | null;

  @Field(() => Date, { nullable: true })
  activeTo?: Date | null;

  @Field(() => [Int], { nullable: true })
  daysOfWeek?: number[] | null;

  @Field(() => Int, { nullable: true })
  capPoints?: number | null;

  @Field(() => CapPeriodEnum, { nullable: true })
  capPeriod?: CapPeriodEnum | null;

  @Field(() => Float, { nullable: true })
  totalCap?: number | null;

  @Field({ description: "When this rule runs, no later rule does." })
  stopFurtherRules: boolean;

  @Field(() => String, { nullable: true, description: "SIGNUP or FIRST_PURCHASE for a referral rule." })
  referralTrigger?: string | null;

  @Field(() => String, { nullable: true, description: "REFERRER or REFEREE for a referral rule." })
  beneficiary?: string | null;
}

@ObjectType({ description: "How a program's points live." })
export class PointsPolicyType {
  @Field(() => Int, { description: "Purchase points stay pending this many days." })
  pendingDays: number;

  @Field(() => ExpiryPolicy)
  expiry: ExpiryPolicy;

  @Field(() => Int, { nullable: true })
  expiryDays: number | null;

  @Field(() => OverdraftPolicy)
  overdraft: OverdraftPolicy;
}

@ObjectType({ description: "A loyalty program: its ladder, earning rules and customers." })
export class Program {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field({ description: "What the program calls its points, e.g. stars." })
  pointsName: string;

  @Field({ description: "IANA time zone used for calendar windows." })
  timeZone: string;

  @Field(() => String, { nullable: true, description: "The preset the ladder was created from, if any." })
  ladderPreset: string | null;

  @Field()
  createdAt: Date;
}
