/**
 * The statements of the refund path (and the replay lookup every record uses). A refund is one
 * claim-and-post statement, plus a stage statement only when the stage moves. Purchases and other
 * touchpoints are written in batches: see batch.sql.ts.
 */

/** Parameters $15..$27 of POST_REFUND, by name, in order. */
export interface CounterDeltas {
  ledgerKind: "EARN" | "REVERSAL";
  purchaseCount: number;
  purchaseAmount: number;
  isPurchase: boolean;
  reviewCount: number;
  ratingSum: number;
  referralCount: number;
  socialShareCount: number;
  visitCount: number;
  productViewCount: number;
  supportContactCount: number;
  eventAttendanceCount: number;
  nps: number | null;
}

export function counterParams(d: CounterDeltas): unknown[] {
  return [
    d.ledgerKind,
    d.purchaseCount,
    d.purchaseAmount,
    d.isPurchase,
    d.reviewCount,
    d.ratingSum,
    d.referralCount,
    d.socialShareCount,
    d.visitCount,
    d.productViewCount,
    d.supportContactCount,
    d.eventAttendanceCount,
    d.nps,
  ];
}

const claimAndPost = (extraCte: string) => `
WITH tp AS (
  INSERT INTO touchpoints (program_id, customer_id, type, external_id, channel, occurred_at, amount, currency,
                           rating, product_id, related_external_id, data, points, request_hash)
  VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7, $8, $9, $10, $11, $12, $13::int, $14)
  ON CONFLICT (program_id, type, external_id) DO NOTHING
  RETURNING id, occurred_at, recorded_at
), le AS (
  INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id)
  SELECT $1, $2, $13::int, $15, tp.id FROM tp WHERE $13::int <> 0
), c AS (
  UPDATE customers SET
    balance = balance + $13::int, lifetime_points = lifetime_points + $13::int, touchpoint_count = touchpoint_count + 1,
    purchase_count = purchase_count + $16, purchase_amount = purchase_amount + $17,
    first_purchase_at = CASE WHEN $18 THEN least(coalesce(first_purchase_at, $6), $6) ELSE first_purchase_at END,
    last_purchase_at = CASE WHEN $18 THEN greatest(coalesce(last_purchase_at, $6), $6) ELSE last_purchase_at END,
    review_count = review_count + $19, rating_sum = rating_sum + $20, referral_count = referral_count + $21,
    social_share_count = social_share_count + $22, visit_count = visit_count + $23,
    product_view_count = product_view_count + $24, support_contact_count = support_contact_count + $25,
    event_attendance_count = event_attendance_count + $26, nps = coalesce($27::smallint, nps), updated_at = now()
  WHERE program_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM tp)
  RETURNING *
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'TOUCHPOINT_RECORDED', $2, jsonb_build_object(
    'touchpointId', tp.id::text, 'type', $3::text, 'externalId', $4::text, 'points', $13::int,
    'balance', c.balance::text, 'occurredAt', tp.occurred_at)
  FROM tp, c
  RETURNING id, created_at, payload
)${extraCte}
SELECT c.*, tp.id AS tp_id, tp.occurred_at AS tp_occurred_at, tp.recorded_at AS tp_recorded_at,
       ev.id AS ev_id, ev.created_at AS ev_created_at, ev.payload AS ev_payload
  FROM tp, c, ev`;

/** Claims the refund's key, stores it, takes back its points, and records what it took back on the purchase ($28 id, $29 amount). */
export const POST_REFUND = claimAndPost(`, p AS (
  UPDATE touchpoints SET refunded_amount = refunded_amount + $29, points_reversed = points_reversed - $13::int
   WHERE program_id = $1 AND id = $28 AND EXISTS (SELECT 1 FROM tp)
)`);

/** Moves the customer to a new stage, stores why, and writes the event. */
export const MOVE_STAGE = `
WITH u AS (
  UPDATE customers SET stage_key = $3, stage_entered_at = now() WHERE program_id = $1 AND id = $2
), t AS (
  INSERT INTO stage_transitions (program_id, customer_id, from_key, to_key, cause, touchpoint_id, reason)
  VALUES ($1, $2, $4, $3, $5, $6, $7) RETURNING id, at
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'STAGE_CHANGED', $2, $8::jsonb || jsonb_build_object('transitionId', t.id::text, 'at', t.at) FROM t
  RETURNING id, created_at, payload
)
SELECT t.id, t.at, ev.id AS ev_id, ev.created_at AS ev_created_at, ev.payload AS ev_payload FROM t, ev`;

/** What a replay returns: the stored touchpoint and the move it caused, if any. */
export const FIND_RECORDED = `
SELECT t.*,
  (SELECT row_to_json(st) FROM stage_transitions st
    WHERE st.program_id = t.program_id AND st.touchpoint_id = t.id ORDER BY st.id LIMIT 1) AS transition
  FROM touchpoints t WHERE t.program_id = $1 AND t.type = $2 AND t.external_id = $3`;
