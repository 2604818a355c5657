import { GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, Int, ObjectType } from "type-graphql";
import { TouchpointType } from "../program/earning";

@ObjectType({ description: "One interaction of a customer, as a partner app or storefront reported it." })
export class Touchpoint {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  customerId: string;

  @Field(() => TouchpointType)
  type: TouchpointType;

  @Field({ description: "The reporter's key for it (orderId, refundId, reviewId, ...): the idempotency key." })
  externalId: string;

  @Field(() => String, { nullable: true })
  channel: string | null;

  @Field()
  occurredAt: Date;

  @Field()
  recordedAt: Date;

  @Field(() => Float, { nullable: true })
  amount: number | null;

  @Field(() => String, { nullable: true })
  currency: string | null;

  @Field(() => Int, { nullable: true })
  rating: number | null;

  @Field(() => String, { nullable: true })
  productId: string | null;

  @Field(() => String, { nullable: true, description: "For a refund: the orderId it refunds." })
  relatedExternalId: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  data: Record<string, unknown> | null;

  @Field(() => Int, { description: "Points this touchpoint posted (negative for a refund)." })
  points: number;
}

export function touchpointFromRow(row: any): Touchpoint {
  return Object.assign(new Touchpoint(), {
    id: String(row.id),
    customerId: row.customer_id,
    type: row.type,
    externalId: row.external_id,
    channel: row.channel,
    occurredAt: row.occurred_at,
    recordedAt: row.recorded_at,
    amount: row.amount === null ? null : Number(row.amount),
    currency: row.currency,
    rating: row.rating,
    productId: row.product_id,
    relatedExternalId: row.related_external_id,
    data: row.data,
    points: row.points,
  });
}

@ObjectType({ description: "One entry of the append-only points ledger." })
export class LedgerEntry {
  @Field(() => ID)
  id: string;

  @Field(() => Int, { description: "Points added (positive) or taken (negative)." })
  amount: number;

  @Field({
    description:
      "EARN, REVERSAL (a refund taking back what a purchase earned), REDEMPTION, REDEMPTION_CANCELLED, EXPIRY, ADJUSTMENT, TRANSFER_OUT, TRANSFER_IN or GRANT (referral bonus).",
  })
  kind: string;

  @Field(() => ID, { nullable: true, description: "The touchpoint that caused it (for a reversal, the refund)." })
  touchpointId: string | null;

  @Field(() => ID, { nullable: true, description: "The lot it credited or expired." })
  lotId: string | null;

  @Field(() => String, {
    nullable: true,
    description: "What else it belongs to: purchase:<touchpoint id> for a reversal, the redemption id, the adjustment's or transfer's key, the grant's key.",
  })
  reference: string | null;

  @Field(() => String, { nullable: true })
  note: string | null;

  @Field()
  createdAt: Date;
}

export function ledgerEntryFromRow(row: any): LedgerEntry {
  return Object.assign(new LedgerEntry(), {
    id: String(row.id),
    amount: Number(row.amount),
    kind: row.kind,
    touchpointId: row.touchpoint_id === null ? null : String(row.touchpoint_id),
    lotId: row.lot_id === null || row.lot_id === undefined ? null : String(row.lot_id),
    reference: row.reference ?? null,
    note: row.note,
    createdAt: row.created_at,
  });
}
