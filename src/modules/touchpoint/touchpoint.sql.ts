/**
 * The statements of the refund path (and the replay lookup every record uses). Purchases and
 * other touchpoints are written in batches: see batch.sql.ts.
 */

/**
 * Claims a refund's key, stores it, takes its amount (and, when it completes the order, the
 * purchase, and its date from the first and last purchase dates) off the customer's counters, and
 * records on the purchase what was refunded.
 * Points are taken back after it (REVERSE_PENDING, then debit_points), with the customer locked here.
 * $1 program, $2 customer, $3 refundId, $4 occurredAt, $5 amount, $6 currency, $7 orderId, $8 data,
 * $9 points taken back (negative), $10 request hash, $11 purchase id, $12 purchase count delta,
 * $13 units refunded per SKU (merged into the purchase's refunded_lines), $14 points to reverse.
 */
export const POST_REFUND = `
WITH tp AS (
  INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency,
                           related_external_id, data, points, request_hash)
  VALUES ($1, $2, 'REFUND', $3, $4::timestamptz, $5, $6, $7, $8, $9::int, $10)
  ON CONFLICT (program_id, type, external_id) DO NOTHING
  RETURNING id, occurred_at, recorded_at
), still AS (
  -- When the refund completes the order ($12 = -1): the customer's purchases that still count (no
  -- refund completed them), without this one, for the purchase dates.
  SELECT min(t.occurred_at) AS first_at, max(t.occurred_at) AS last_at FROM touchpoints t
   WHERE $12::int < 0 AND t.program_id = $1 AND t.customer_id = $2 AND t.type = 'PURCHASE' AND t.id <> $11
     AND t.refund_completed_at IS NULL
), c AS (
  UPDATE customers SET touchpoint_count = touchpoint_count + 1, purchase_count = purchase_count + $12,
         purchase_amount = purchase_amount - $5, lifetime_points = lifetime_points - $14::bigint, updated_at = now(),
         -- A fully refunded order is no longer the customer's first or last purchase (recency, lapse, CLV).
         first_purchase_at = CASE WHEN $12::int < 0 THEN (SELECT first_at FROM still) ELSE first_purchase_at END,
         last_purchase_at = CASE WHEN $12::int < 0 THEN (SELECT last_at FROM still) ELSE last_purchase_at END
  WHERE program_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM tp)
  RETURNING id
), p AS (
  UPDATE touchpoints SET refunded_amount = refunded_amount + $5, points_reversed = points_reversed + $14::int,
         refund_completed_at = CASE WHEN $12::int < 0 THEN $4::timestamptz ELSE refund_completed_at END,
         refunded_lines = (SELECT coalesce(jsonb_object_agg(k, coalesce((refunded_lines->>k)::int, 0) + coalesce(($13::jsonb->>k)::int, 0)), '{}')
                             FROM jsonb_object_keys(refunded_lines || $13::jsonb) AS k)
   WHERE program_id = $1 AND id = $11 AND EXISTS (SELECT 1 FROM tp)
)
SELECT tp.id AS tp_id, tp.occurred_at AS tp_occurred_at, tp.recorded_at AS tp_recorded_at FROM tp, c`;

/**
 * Cancels up to $4 points of a purchase's PENDING lots ($3, the purchase): points not yet spendable
 * are simply not given. Returns how many were cancelled; the customer is locked already.
 */
export const REVERSE_PENDING = `
WITH ordered AS (
  SELECT id, remaining, sum(remaining) OVER (ORDER BY id) AS upto FROM point_lots
   WHERE program_id = $1 AND customer_id = $2 AND touchpoint_id = $3 AND status = 'PENDING' AND remaining > 0
), taken AS (
  UPDATE point_lots l SET remaining = l.remaining - t.take, status = CASE WHEN l.remaining = t.take THEN 'CANCELLED' ELSE l.status END
    FROM (SELECT id, least(remaining, $4::bigint - (upto - remaining)) AS take FROM ordered WHERE upto - remaining < $4::bigint) t
   WHERE l.program_id = $1 AND l.id = t.id
  RETURNING t.take
), c AS (
  UPDATE customers SET pending_points = pending_points - (SELECT coalesce(sum(take), 0) FROM taken)
   WHERE program_id = $1 AND id = $2
)
SELECT coalesce(sum(take), 0)::bigint AS cancelled FROM taken`;

/** Takes points back from spendable lots (see the debit_points function in the migration). */
export const DEBIT_POINTS = `SELECT o_posted AS posted, o_shortfall AS shortfall, o_balance AS balance, o_ledger_id AS ledger_id
  FROM debit_points($1, $2, $3::bigint, $4, $5, $6::bigint, $7::bigint, $8, $9)`;

/** Gives points as a new spendable lot (see the credit_points function in the migration). */
export const CREDIT_POINTS = `SELECT o_lot_id AS lot_id, o_balance AS balance, o_ledger_id AS ledger_id
  FROM credit_points($1, $2, $3::bigint, $4, $5, $6::bigint, $7::timestamptz, $8::timestamptz, $9, $10, $11)`;

/** The outbox row of a recorded touchpoint. */
export const TOUCHPOINT_EVENT = `
INSERT INTO outbox (program_id, topic, customer_id, payload) VALUES ($1, 'TOUCHPOINT_RECORDED', $2, $3::jsonb)
RETURNING id, program_id, topic, customer_id, payload, created_at`;

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
