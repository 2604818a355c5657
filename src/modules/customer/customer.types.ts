import { GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, Int, ObjectType } from "type-graphql";
import { CustomerMetricRow } from "./customer.metrics";
import { Criterion, Stage } from "../program/program.types";

@ObjectType({ description: "A member's points. Points are whole numbers from an append-only ledger." })
export class Points {
  @Field(() => Float, { description: "Spendable points (the sum of the ledger). Float because points are 64-bit." })
  balance: number;

  @Field(() => Float, { description: "Points earned but not yet spendable." })
  pending: number;

  @Field(() => Float, { description: "Points ever earned, never reduced by spending." })
  lifetime: number;
}

@ObjectType({
  description: "Points credited together (one rule's points for one touchpoint, an adjustment, a transfer): what is left of them and when they expire.",
})
export class PointLot {
  @Field(() => ID)
  id: string;

  @Field({ description: "EARN, ADJUSTMENT, TRANSFER or REDEMPTION_CANCELLED." })
  source: string;

  @Field(() => ID, { nullable: true })
  touchpointId: string | null;

  @Field(() => ID, { nullable: true, description: "The earning rule that gave them." })
  ruleId: string | null;

  @Field(() => Float)
  amount: number;

  @Field(() => Float, { description: "Not spent, reversed or expired yet." })
  remaining: number;

  @Field({ description: "PENDING (in the return window), ACTIVE, EXPIRED or CANCELLED." })
  status: string;

  @Field()
  earnedAt: Date;

  @Field(() => Date, { nullable: true })
  activatesAt: Date | null;

  @Field(() => Date, { nullable: true, description: "Null: never." })
  expiresAt: Date | null;
}

export function pointLotFromRow(row: any): PointLot {
  return Object.assign(new PointLot(), {
    id: String(row.id),
    source: row.source,
    touchpointId: row.touchpoint_id === null ? null : String(row.touchpoint_id),
    ruleId: row.rule_id,
    amount: Number(row.amount),
    remaining: Number(row.remaining),
    status: row.status,
    earnedAt: row.earned_at,
    activatesAt: row.activates_at,
    expiresAt: row.expires_at,
  });
}

@ObjectType({ description: "Points that expire at one moment." })
export class ExpiringPoints {
  @Field(() => Float)
  points: number;

  @Field()
  expiresAt: Date;
}

@ObjectType({ description: "The lifetime behaviour counters the ladder reads (kept on every touchpoint)." })
export class CustomerMetrics {
  @Field(() => Int) purchaseCount: number;
  @Field(() => Float) purchaseAmount: number;
  @Field(() => Date, { nullable: true }) firstPurchaseAt: Date | null;
  @Field(() => Date, { nullable: true }) lastPurchaseAt: Date | null;
  @Field(() => Int) reviewCount: number;
  @Field(() => Float, { nullable: true }) averageRating: number | null;
  @Field(() => Int) referralCount: number;
  @Field(() => Int) socialShareCount: number;
  @Field(() => Int) visitCount: number;
  @Field(() => Int) productViewCount: number;
  @Field(() => Int) supportContactCount: number;
  @Field(() => Int) eventAttendanceCount: number;
  @Field(() => Int, { nullable: true, description: "The latest NPS answer (0-10)." }) nps: number | null;
}

@ObjectType({ description: "A member of a loyalty program." })
export class Customer {
  @Field(() => ID)
  id: string;

  @Field({ description: "The partner's id for this customer (unique in the program)." })
  externalId: string;

  @Field(() => ID)
  programId: string;

  @Field(() => String, { nullable: true })
  email: string | null;

  @Field(() => String, { nullable: true })
  name: string | null;

  @Field(() => GraphQLJSONObject)
  attributes: Record<string, unknown>;

  @Field({ description: "When the customer entered the current stage." })
  stageEnteredAt: Date;

  @Field()
  createdAt: Date;

  @Field(() => Date, {
    nullable: true,
    description: "When the customer was erased (eraseCustomer): anonymous since, and taking no new record; null otherwise.",
  })
  erasedAt: Date | null;

  stageKey: string;
  /** The row as read: the source of points, metrics and stage evaluation. */
  row: CustomerMetricRow & Record<string, any>;
}

export function customerFromRow(row: any): Customer {
  return Object.assign(new Customer(), {
    id: row.id,
    externalId: row.external_id,
    programId: row.program_id,
    email: row.email,
    name: row.name,
    attributes: row.attributes ?? {},
    stageKey: row.stage_key,
    stageEnteredAt: row.stage_entered_at,
    createdAt: row.created_at,
    erasedAt: row.erased_at ?? null,
    row,
  });
}

@ObjectType({ description: "A criterion as evaluated: the value seen and whether it held." })
export class CriterionResult extends Criterion {
  @Field(() => Float, { nullable: true, description: "The value seen; null when there was none (never bought, never answered)." })
  have: number | null;

  @Field()
  passed: boolean;
}

@ObjectType({ description: "Why a customer entered a stage: the path that held and each criterion with the value seen." })
export class StageReason {
  @Field({ description: "Key of the stage the reason is for." })
  stage: string;

  @Field(() => Int, { nullable: true, description: "Index of the path that held; null for the bottom stage." })
  pathIndex: number | null;

  @Field(() => [CriterionResult])
  criteria: CriterionResult[];

  @Field({ description: "The reason in one line, e.g. `PURCHASE_COUNT (365d) 4 >= 4`." })
  summary: string;
}

@ObjectType({ description: "One move of a customer between stages." })
export class StageTransition {
  @Field(() => ID)
  id: string;

  @Field(() => Stage, { nullable: true, description: "Null for the first placement." })
  from: Stage | null;

  @Field(() => Stage)
  to: Stage;

  @Field()
  at: Date;

  @Field({ description: "What triggered the evaluation: TOUCHPOINT, RECOMPUTE or LADDER_UPDATE." })
  cause: string;

  @Field(() => ID, { nullable: true, description: "The touchpoint that moved the customer, if one did." })
  touchpointId: string | null;

  @Field(() => StageReason)
  reason: StageReason;
}

@ObjectType({ description: "One criterion of the next stage: what the customer has and what is needed." })
export class Requirement {
  @Field(() => Criterion)
  criterion: Criterion;

  @Field(() => Float, { nullable: true })
  have: number | null;

  @Field(() => Float)
  need: number;

  @Field()
  met: boolean;
}

@ObjectType({ description: "The next rung up and the closest path to it." })
export class NextStage {
  @Field(() => Stage)
  stage: Stage;

  @Field(() => Int)
  pathIndex: number;

  @Field(() => [Requirement])
  requirements: Requirement[];
}
