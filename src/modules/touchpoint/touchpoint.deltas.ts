/**
 * What one touchpoint adds to its customer's counters. The write path sums these per customer
 * into one atomic `SET x = x + delta` UPDATE, and subtracts the later ones to know the customer's
 * state right after each touchpoint of a batch (to evaluate rules and the ladder in order).
 * Points are not here: they depend on that state (stage multipliers, caps), so the batch
 * computes them record by record.
 */
import { Metric } from "../../domain/ladder/ladder.types";
import { TouchpointType } from "../program/earning";
import { TouchpointRecord } from "./touchpoint.model";
import { WINDOW_TYPE_OF_METRIC } from "../customer/customer.metrics";

/** Counter columns of `customers` that touchpoints increment. */
export const COUNTERS = [
  "purchase_count",
  "purchase_amount",
  "review_count",
  "rating_sum",
  "referral_count",
  "social_share_count",
  "visit_count",
  "product_view_count",
  "support_contact_count",
  "event_attendance_count",
] as const;
export type Counter = (typeof COUNTERS)[number];

export interface ItemDeltas {
  counters: Record<Counter, number>;
  /** For purchases: when it happened (moves first/last purchase). */
  purchaseAt: Date | null;
  nps: number | null;
}

const COUNTER_OF_TYPE: Partial<Record<TouchpointType, Counter>> = {
  [TouchpointType.REFERRAL]: "referral_count",
  [TouchpointType.SOCIAL_SHARE]: "social_share_count",
  [TouchpointType.VISIT]: "visit_count",
  [TouchpointType.PRODUCT_VIEW]: "product_view_count",
  [TouchpointType.SUPPORT_CONTACT]: "support_contact_count",
  [TouchpointType.EVENT_ATTENDANCE]: "event_attendance_count",
};

/** Which windowed metrics a touchpoint type feeds, for the in-window part of a batch. */
export const WINDOW_METRIC_OF_TYPE: Partial<Record<TouchpointType, Metric[]>> = {};
for (const [metric, type] of Object.entries(WINDOW_TYPE_OF_METRIC) as Array<[Metric, TouchpointType]>) (WINDOW_METRIC_OF_TYPE[type] ??= []).push(metric);

function zeroCounters(): Record<Counter, number> {
  // A literal, not built from COUNTERS: this runs twice per record written.
  return {
    purchase_count: 0,
    purchase_amount: 0,
    review_count: 0,
    rating_sum: 0,
    referral_count: 0,
    social_share_count: 0,
    visit_count: 0,
    product_view_count: 0,
    support_contact_count: 0,
    event_attendance_count: 0,
  } satisfies Record<Counter, number>;
}

export function deltasFor(record: TouchpointRecord): ItemDeltas {
  const counters = zeroCounters();
  let purchaseAt: Date | null = null;
  if (record.type === TouchpointType.PURCHASE) {
    counters.purchase_count = 1;
    counters.purchase_amount = record.amount ?? 0;
    purchaseAt = record.occurredAt;
  } else if (record.type === TouchpointType.REVIEW) {
    counters.review_count = 1;
    counters.rating_sum = record.rating ?? 0;
  }
  const counter = COUNTER_OF_TYPE[record.type];
  if (counter) counters[counter] = 1;
  return { counters, purchaseAt, nps: record.type === TouchpointType.SURVEY_RESPONSE ? record.nps ?? null : null };
}
