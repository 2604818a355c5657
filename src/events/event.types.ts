/** The events that leave through the outbox. `sequence` is the outbox id: global and increasing. */
export type EventTopic =
  | "STAGE_CHANGED"
  | "TOUCHPOINT_RECORDED"
  | "PROGRAM_CHANGED"
  | RewardTopic
  | "POINTS_ADJUSTED"
  | "POINTS_EXPIRED"
  | "POINTS_ACTIVATED"
  | "TIER_CHANGED"
  | "DETRACTOR_ALERT"
  | "CUSTOMER_ERASED"
  | "LIFECYCLE_CHANGED"
  /** Internal, never stored nor delivered: a resuming subscription's probe of its own live feed (resume.ts). */
  | "FEED_MARKER";

/** The topics of rewardEvents: a reward issued (a triggered reward), redeemed for points, its coupon used, cancelled, expired. */
export const REWARD_TOPICS = ["REWARD_ISSUED", "REWARD_REDEEMED", "COUPON_USED", "REDEMPTION_CANCELLED", "REDEMPTION_EXPIRED"] as const;
export type RewardTopic = (typeof REWARD_TOPICS)[number];

/** The topics clients see (loyaltyEvents, webhooks): every event about customers; not the internal PROGRAM_CHANGED. */
export const LOYALTY_TOPICS: readonly string[] = [
  "STAGE_CHANGED",
  "TOUCHPOINT_RECORDED",
  ...REWARD_TOPICS,
  "POINTS_ADJUSTED",
  "POINTS_EXPIRED",
  "POINTS_ACTIVATED",
  "TIER_CHANGED",
  "DETRACTOR_ALERT",
  "CUSTOMER_ERASED",
  "LIFECYCLE_CHANGED",
];

export interface LoyaltyEventMessage {
  sequence: string;
  programId: string;
  topic: EventTopic;
  customerId: string | null;
  payload: Record<string, any>;
  createdAt: string;
}

/** Maps an outbox row (as returned by INSERT ... RETURNING or SELECT) to the message published. */
export function messageFromOutboxRow(row: any): LoyaltyEventMessage {
  return {
    sequence: String(row.id),
    programId: row.program_id,
    topic: row.topic,
    customerId: row.customer_id ?? null,
    payload: row.payload,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
