/**
 * What one touchpoint adds to its customer's counters. The write path adds these to the customer's
 * state record by record (to evaluate rules and the ladder in order), and sums them per customer
 * into one atomic `SET x = x + delta` UPDATE. Points are not here: they depend on that state
 * (stage multipliers, caps), so the batch computes them record by record.
 */
import { TouchpointType } from "../program/earning";
import { TouchpointRecord } from "./touchpoint.model";

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

/** Every counter at 0: a literal, not built from COUNTERS, since it runs for every record and customer written. */
export function zeroCounters(): Record<Counter, number> {
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
  return { counters, purchaseAt, nps: record.type === TouchpointType.SURVEY_RESPONSE ? (record.nps ?? null) : null };
}
