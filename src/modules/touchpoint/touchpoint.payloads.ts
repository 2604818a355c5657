import { Field, ID, Int, InterfaceType, ObjectType } from "type-graphql";
import { Customer, StageTransition } from "../customer/customer.types";
import { Touchpoint } from "./touchpoint.types";

@ObjectType({ description: "An earning rule that gave points to a record, and how many." })
export class AppliedRuleType {
  @Field(() => ID)
  ruleId: string;

  @Field(() => String, { nullable: true })
  name: string | null;

  @Field(() => Int)
  points: number;

  @Field({ description: "True when a cap (per customer per period, or the rule's total) cut the points." })
  capped: boolean;
}

@InterfaceType({ description: "What every record mutation returns." })
export abstract class RecordPayload {
  @Field(() => Touchpoint)
  touchpoint: Touchpoint;

  @Field(() => Int, { description: "Points this record posted (negative for a refund)." })
  pointsEarned: number;

  @Field(() => Int, { description: "Of pointsEarned, the points held pending until the program's return window ends." })
  pointsPending: number;

  @Field(() => [AppliedRuleType], { description: "Every earning rule that gave points, in the order they ran: why the customer got what they got." })
  appliedRules: AppliedRuleType[];

  @Field(() => Customer, { description: "The customer after the record." })
  customer: Customer;

  @Field(() => StageTransition, { nullable: true, description: "The stage move this record caused, if any." })
  stageChange: StageTransition | null;

  @Field({ description: "True when the key was seen before: the first result is returned and nothing was written." })
  replayed: boolean;
}

@ObjectType({ implements: RecordPayload })
export class RecordPurchasePayload extends RecordPayload {}

@ObjectType({ implements: RecordPayload })
export class RecordRefundPayload extends RecordPayload {
  @Field(() => Int, { description: "Points the refund could not take back because they were spent (overdraft policy CLAMP_AT_ZERO)." })
  pointsShortfall: number;
}

@ObjectType({ implements: RecordPayload })
export class RecordReviewPayload extends RecordPayload {}

@ObjectType({ implements: RecordPayload })
export class RecordTouchpointPayload extends RecordPayload {}
