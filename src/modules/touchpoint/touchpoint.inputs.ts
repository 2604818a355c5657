import { GraphQLJSONObject } from "graphql-scalars";
import { ArrayMaxSize, IsInt, IsOptional, Length, Matches, Max, Min, ValidateNested, ValidateIf, IsDefined } from "class-validator";
import { Field, Float, ID, InputType, Int } from "type-graphql";
import { TouchpointType } from "../program/earning";
import { IsPartnerCustomerId } from "../../api/validation";

const MAX_AMOUNT = 1e12;

/** Who (the customer, by our id or the partner's), when and where: every record of a customer's touchpoint has them. */
@InputType()
export abstract class CustomerEventInput {
  @Field(() => ID, { nullable: true, description: "Our id of the customer; or give customerExternalId." })
  @IsOptional()
  customerId?: string | null;

  @Field(() => String, { nullable: true, description: "The partner's id of the customer; an unknown one creates the customer." })
  @IsOptional()
  @IsPartnerCustomerId()
  customerExternalId?: string | null;

  @Field(() => Date, { nullable: true, description: "When it happened; defaults to now. Not in the future." })
  @IsOptional()
  occurredAt?: Date | null;

  @Field(() => String, { nullable: true, description: "Where it happened: pos, web, app, ..." })
  @IsOptional()
  @Length(1, 50)
  channel?: string | null;
}

/** Fields every record mutation shares: the program, and the customer, when and where. */
@InputType()
abstract class CustomerTouchpointInput extends CustomerEventInput {
  @Field(() => ID)
  programId: string;
}

@InputType({ description: "Units of one SKU of the order given back." })
export class RefundLineInput {
  @Field()
  @Length(1, 100)
  sku: string;

  @Field(() => Int)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  quantity: number;
}

@InputType({ description: "One line of an order." })
export class PurchaseLineInput extends RefundLineInput {
  @Field(() => Float)
  @Min(0)
  @Max(MAX_AMOUNT)
  unitPrice: number;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 100)
  category?: string | null;

  @Field({ defaultValue: false, description: "A voided line (cancelled at the till) is kept for the record but is not paid and earns nothing." })
  voided: boolean;
}

@InputType()
export class RecordPurchaseInput extends CustomerTouchpointInput {
  @Field({ description: "The order's id: the idempotency key of this purchase." })
  @Length(1, 200)
  orderId: string;

  @Field(() => Float, { description: "The amount paid, in currency units (at most 2 decimals)." })
  @Min(0)
  @Max(MAX_AMOUNT)
  amount: number;

  @Field({ description: "ISO 4217 code, e.g. EUR." })
  @Matches(/^[A-Z]{3}$/, { message: "currency must be a 3-letter ISO 4217 code such as EUR" })
  currency: string;

  @Field(() => [PurchaseLineInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(500)
  @ValidateNested({ each: true })
  lines?: PurchaseLineInput[] | null;
}

@InputType({ description: "A refund of part or all of an order: give amount (points back pro rata), or lines (exactly those lines' points back)." })
export class RecordRefundInput {
  @Field(() => ID)
  programId: string;

  @Field({ description: "The refunded order." })
  @Length(1, 200)
  orderId: string;

  @Field({ description: "The refund's id: the idempotency key of this refund." })
  @Length(1, 200)
  refundId: string;

  @Field(() => Float, { nullable: true })
  @ValidateIf((o) => o.amount !== undefined && o.amount !== null)
  @Min(0.01)
  @Max(MAX_AMOUNT)
  amount?: number | null;

  @Field(() => [RefundLineInput], { nullable: true, description: "SKUs and units given back, priced as the order recorded them." })
  @IsOptional()
  @ArrayMaxSize(500)
  @ValidateNested({ each: true })
  lines?: RefundLineInput[] | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Matches(/^[A-Z]{3}$/, { message: "currency must be a 3-letter ISO 4217 code such as EUR" })
  currency?: string | null;

  @Field(() => Date, { nullable: true })
  @IsOptional()
  occurredAt?: Date | null;
}

@InputType()
export class RecordReviewInput extends CustomerTouchpointInput {
  @Field({ description: "The review's id: the idempotency key." })
  @Length(1, 200)
  reviewId: string;

  @Field(() => Int, { description: "1 to 5 stars." })
  @IsDefined()
  @IsInt()
  @Min(1)
  @Max(5)
  rating: number;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 200)
  productId?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 5000)
  text?: string | null;
}

@InputType({ description: "Any other touchpoint: a visit, a referral, a share, a survey answer (data.nps 0-10), ..." })
export class RecordTouchpointInput extends CustomerTouchpointInput {
  @Field(() => TouchpointType)
  type: TouchpointType;

  @Field({ description: "The reporter's id for it: the idempotency key (per type)." })
  @Length(1, 200)
  externalId: string;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "Free-form payload (at most 16 KB)." })
  @IsOptional()
  data?: Record<string, unknown> | null;
}
