import { Field, Int, InterfaceType, ObjectType } from "type-graphql";
import { Customer, StageTransition } from "../customer/customer.types";
import { Touchpoint } from "./touchpoint.types";

@InterfaceType({ description: "What every record mutation returns." })
export abstract class RecordPayload {
  @Field(() => Touchpoint)
  touchpoint: Touchpoint;

  @Field(() => Int, { description: "Points this record posted (negative for a refund)." })
  pointsEarned: number;

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
export class RecordRefundPayload extends RecordPayload {}

@ObjectType({ implements: RecordPayload })
export class RecordReviewPayload extends RecordPayload {}

@ObjectType({ implements: RecordPayload })
export class RecordTouchpointPayload extends RecordPayload {}
