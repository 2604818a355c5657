/** The statements of tiers: window values for many customers at once, and applying tier changes. */

/**
 * What each customer earned (points of its touchpoints, refunds negative) or spent (purchases
 * minus refunds) in its own window [$3[i], $4[i]). One indexed range scan per customer.
 */
export const TIER_VALUES = `
SELECT c.id, coalesce(v.value, 0)::float8 AS value
  FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS c(id, ws, we)
  LEFT JOIN LATERAL (
    SELECT sum(CASE WHEN $5 = 'POINTS_EARNED' THEN t.points::numeric
                    WHEN t.type = 'PURCHASE' THEN t.amount
                    WHEN t.type = 'REFUND' THEN -t.amount ELSE 0 END) AS value
      FROM touchpoints t
     WHERE t.program_id = $1 AND t.customer_id = c.id AND t.occurred_at >= c.ws AND t.occurred_at < c.we
  ) v ON true`;

/**
 * A TIER_CHANGED event's payload from a change's columns: one definition for every statement that
 * writes the event (APPLY_TIERS, and a write batch's upgrades in WRITE_BATCH).
 */
export const TIER_CHANGED_PAYLOAD = "jsonb_build_object('from', from_key, 'to', to_key, 'cause', cause, 'reason', reason)";

/** Sets tiers (and review dates), stores each change with its reason, and writes TIER_CHANGED events. $3: now. */
export const APPLY_TIERS = `
WITH x AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(customer_id uuid, from_key text, to_key text, review_at timestamptz,
                                                  manual_until timestamptz, changed boolean, reason jsonb, cause text)
), cust AS (
  UPDATE customers c SET tier_key = x.to_key,
         tier_since = CASE WHEN x.changed THEN $3::timestamptz ELSE c.tier_since END,
         tier_review_at = x.review_at, tier_manual_until = x.manual_until,
         tier_reason = CASE WHEN x.changed THEN x.reason ELSE c.tier_reason END
    FROM x WHERE c.program_id = $1 AND c.id = x.customer_id
), ch AS (
  INSERT INTO tier_changes (program_id, customer_id, from_key, to_key, at, cause, reason)
  SELECT $1, customer_id, from_key, to_key, $3, cause, reason FROM x WHERE changed ORDER BY customer_id
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'TIER_CHANGED', customer_id, ${TIER_CHANGED_PAYLOAD}
    FROM x WHERE changed ORDER BY customer_id
  RETURNING id, program_id, topic, customer_id, payload, created_at
)
SELECT coalesce((SELECT jsonb_agg(ev ORDER BY id) FROM ev), '[]') AS events`;

/** Customers whose tier is due for review ($2 now), not under a manual tier, locked, up to $3. */
export const LOCK_DUE_REVIEWS = `
SELECT id, created_at, tier_key, tier_review_at, tier_manual_until FROM customers
 WHERE program_id = $1 AND tier_key IS NOT NULL AND tier_review_at <= $2
   AND (tier_manual_until IS NULL OR tier_manual_until <= $2)
 ORDER BY id LIMIT $3 FOR NO KEY UPDATE SKIP LOCKED`;
