import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { TouchpointType } from "../program/earning";
import { RecordPurchaseInput, RecordRefundInput, RecordReviewInput, RecordTouchpointInput } from "./touchpoint.inputs";
import { RecordPurchasePayload, RecordRefundPayload, RecordReviewPayload, RecordTouchpointPayload } from "./touchpoint.payloads";
import { TouchpointRecord } from "./touchpoint.model";

const FUTURE_TOLERANCE_MS = 5 * 60_000;

export function when(ctx: RequestContext, occurredAt: Date | null | undefined, field = "occurredAt"): Date {
  if (!occurredAt) return ctx.now;
  if (Number.isNaN(occurredAt.getTime())) throw new BadInput(field, "not a valid date-time");
  if (occurredAt.getTime() > ctx.now.getTime() + FUTURE_TOLERANCE_MS) throw new BadInput(field, "must not be in the future");
  if (occurredAt.getUTCFullYear() < 1970) throw new BadInput(field, "must be after 1970");
  return occurredAt;
}

function money(value: number, field: string): number {
  if (!Number.isFinite(value) || Math.abs(Math.round(value * 100) - value * 100) > 1e-6) {
    throw new BadInput(field, `${field} has at most 2 decimals`);
  }
  return Math.round(value * 100) / 100;
}

export function customerRef(input: { customerId?: string | null; customerExternalId?: string | null }) {
  const hasId = !!input.customerId;
  const hasExternal = !!input.customerExternalId;
  if (hasId === hasExternal) throw new BadInput("customerId", "give exactly one of customerId and customerExternalId");
  return hasId ? { customerId: uuidArg(input.customerId!, "customerId") } : { customerExternalId: input.customerExternalId! };
}

/** What the paid lines add up to (voided lines are not paid). */
function linesTotal(lines: Array<{ quantity: number; unitPrice: number; voided?: boolean | null }>): number {
  return Math.round(lines.reduce((sum, l) => sum + (l.voided ? 0 : l.quantity * Math.round(l.unitPrice * 100)), 0)) / 100;
}

@Resolver()
export class TouchpointResolver {
  private async write(ctx: RequestContext, record: Omit<TouchpointRecord, "programId"> & { programId: string }) {
    const programId = uuidArg(record.programId, "programId");
    const config = await ctx.app.programs.config(programId);
    return ctx.app.touchpoints.record(ctx, config, { ...record, programId });
  }

  @Mutation(() => RecordPurchasePayload, { description: "Records a purchase and posts its points. orderId makes a retry safe." })
  async recordPurchase(@Arg("input") input: RecordPurchaseInput, @Ctx() ctx: RequestContext): Promise<RecordPurchasePayload> {
    const amount = money(input.amount, "amount");
    if (input.lines?.length && Math.abs(linesTotal(input.lines) - amount) > 0.005) {
      throw new BadInput("lines", `the paid (not voided) lines add up to ${linesTotal(input.lines)}, not the amount ${amount}`);
    }
    return this.write(ctx, {
      programId: input.programId,
      ...customerRef(input),
      type: TouchpointType.PURCHASE,
      externalId: input.orderId,
      keyField: "orderId",
      occurredAt: when(ctx, input.occurredAt),
      channel: input.channel,
      amount,
      currency: input.currency,
      data: input.lines?.length ? { lines: input.lines.map((l) => ({ ...l })) } : null,
      hashed: input,
    });
  }

  @Mutation(() => RecordRefundPayload, {
    description: "Records a refund of an order and takes back the points of what was refunded. refundId makes a retry safe.",
  })
  async recordRefund(@Arg("input") input: RecordRefundInput, @Ctx() ctx: RequestContext): Promise<RecordRefundPayload> {
    const hasAmount = input.amount !== null && input.amount !== undefined;
    if (hasAmount === !!input.lines?.length) throw new BadInput("amount", "give exactly one of amount and lines");
    const amount = hasAmount ? money(input.amount!, "amount") : null;
    const result = await this.write(ctx, {
      programId: input.programId,
      customerId: "", // taken from the purchase
      type: TouchpointType.REFUND,
      externalId: input.refundId,
      keyField: "refundId",
      relatedExternalId: input.orderId,
      occurredAt: when(ctx, input.occurredAt),
      amount,
      currency: input.currency,
      data: input.lines?.length ? { lines: input.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })) } : null,
      hashed: input,
    });
    return { ...result, pointsShortfall: result.pointsShortfall ?? 0 };
  }

  @Mutation(() => RecordReviewPayload, { description: "Records a review (1-5 stars). reviewId makes a retry safe." })
  async recordReview(@Arg("input") input: RecordReviewInput, @Ctx() ctx: RequestContext): Promise<RecordReviewPayload> {
    return this.write(ctx, {
      programId: input.programId,
      ...customerRef(input),
      type: TouchpointType.REVIEW,
      externalId: input.reviewId,
      keyField: "reviewId",
      occurredAt: when(ctx, input.occurredAt),
      channel: input.channel,
      amount: null,
      rating: input.rating,
      productId: input.productId,
      data: input.text ? { text: input.text } : null,
      hashed: input,
    });
  }

  @Mutation(() => RecordTouchpointPayload, { description: "Records any other touchpoint. (type, externalId) makes a retry safe." })
  async recordTouchpoint(@Arg("input") input: RecordTouchpointInput, @Ctx() ctx: RequestContext): Promise<RecordTouchpointPayload> {
    const dedicated: Partial<Record<TouchpointType, string>> = {
      [TouchpointType.PURCHASE]: "recordPurchase",
      [TouchpointType.REFUND]: "recordRefund",
      [TouchpointType.REVIEW]: "recordReview",
    };
    if (dedicated[input.type]) throw new BadInput("type", `record a ${input.type} with ${dedicated[input.type]}`);
    if (input.data && JSON.stringify(input.data).length > 16_384) throw new BadInput("data", "data is at most 16 KB");
    if (input.data && "survey" in input.data) throw new BadInput("data.survey", "data.survey is set by submitSurveyResponse only");
    let nps: number | null = null;
    if (input.type === TouchpointType.SURVEY_RESPONSE && input.data && "nps" in input.data) {
      const value = input.data.nps;
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 10) {
        throw new BadInput("data.nps", "nps is a whole number from 0 to 10");
      }
      nps = value;
    }
    return this.write(ctx, {
      programId: input.programId,
      ...customerRef(input),
      type: input.type,
      externalId: input.externalId,
      keyField: "externalId",
      occurredAt: when(ctx, input.occurredAt),
      channel: input.channel,
      amount: null,
      data: input.data ?? null,
      nps,
      hashed: input,
    });
  }
}
