/**
 * The set-based statements of the points lifecycle jobs. Each runs for one chunk of customers
 * whose rows the transaction locked first (LOCK_DUE_CUSTOMERS), so the lots it changes cannot
 * change under it: every writer of lots holds the customer's row lock.
 */

/** Locks up to $3 customers of program $1 that have lots due ($2 = now), in id order. $4: 'PENDING' or 'ACTIVE'. */
export const LOCK_DUE_CUSTOMERS = `
SELECT c.id FROM customers c
 WHERE c.program_id = $1 AND c.id IN (
   SELECT DISTINCT l.customer_id FROM point_lots l
    WHERE l.program_id = $1 AND l.status = $4
      AND CASE WHEN $4 = 'PENDING' THEN l.activates_at <= $2 ELSE l.remaining > 0 AND l.expires_at <= $2 END
    LIMIT $3)
 ORDER BY c.id FOR NO KEY UPDATE`;

/**
 * Pending lots whose return window ended become spendable: a ledger entry each, the balance up,
 * pending down. A negative balance is paid first, so a lot keeps only what is left after the debt.
 */
export const ACTIVATE_PENDING = `
WITH due AS (
  SELECT l.id, l.customer_id, l.remaining, l.touchpoint_id,
         sum(l.remaining) OVER (PARTITION BY l.customer_id ORDER BY l.id) AS upto
    FROM point_lots l
   WHERE l.program_id = $1 AND l.customer_id = ANY($3::uuid[]) AND l.status = 'PENDING' AND l.activates_at <= $2
), calc AS (
  SELECT d.*, d.remaining - least(d.remaining, greatest(greatest(-c.balance, 0) - (d.upto - d.remaining), 0)) AS keep
    FROM due d JOIN customers c ON c.program_id = $1 AND c.id = d.customer_id
), lots AS (
  UPDATE point_lots l SET status = CASE WHEN calc.remaining > 0 THEN 'ACTIVE' ELSE 'CANCELLED' END, remaining = calc.keep
    FROM calc WHERE l.program_id = $1 AND l.id = calc.id
), led AS (
  INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id, lot_id)
  SELECT $1, customer_id, remaining, 'EARN', touchpoint_id, id FROM calc WHERE remaining > 0 ORDER BY customer_id, id
), totals AS (
  SELECT customer_id, sum(remaining) AS points FROM calc GROUP BY customer_id HAVING sum(remaining) > 0
), cust AS (
  UPDATE customers c SET balance = c.balance + t.points, pending_points = c.pending_points - t.points, updated_at = now()
    FROM totals t WHERE c.program_id = $1 AND c.id = t.customer_id
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'POINTS_ACTIVATED', customer_id, jsonb_build_object('points', points::text) FROM totals ORDER BY customer_id
  RETURNING id, program_id, topic, customer_id, payload, created_at
)
SELECT (SELECT count(*)::int FROM calc) AS lots, coalesce((SELECT jsonb_agg(ev ORDER BY id) FROM ev), '[]') AS events`;

/**
 * Spendable lots past their expiry lose what is left of them: a ledger entry each, the balance
 * down by exactly that. Spent points were taken from the lots expiring first, so only what is
 * really left expires (a balance never collapses at expiry).
 */
export const EXPIRE_LOTS = `
WITH due AS (
  SELECT l.id, l.customer_id, l.remaining FROM point_lots l
   WHERE l.program_id = $1 AND l.customer_id = ANY($3::uuid[]) AND l.status = 'ACTIVE' AND l.remaining > 0 AND l.expires_at <= $2
), lots AS (
  UPDATE point_lots l SET status = 'EXPIRED', remaining = 0 FROM due WHERE l.program_id = $1 AND l.id = due.id
), led AS (
  INSERT INTO ledger_entries (program_id, customer_id, amount, kind, lot_id)
  SELECT $1, customer_id, -remaining, 'EXPIRY', id FROM due ORDER BY customer_id, id
), totals AS (
  SELECT customer_id, sum(remaining) AS points FROM due GROUP BY customer_id
), cust AS (
  UPDATE customers c SET balance = c.balance - t.points, updated_at = now()
    FROM totals t WHERE c.program_id = $1 AND c.id = t.customer_id
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'POINTS_EXPIRED', customer_id, jsonb_build_object('points', (-points)::text) FROM totals ORDER BY customer_id
  RETURNING id, program_id, topic, customer_id, payload, created_at
)
SELECT (SELECT count(*)::int FROM due) AS lots, coalesce((SELECT jsonb_agg(ev ORDER BY id) FROM ev), '[]') AS events`;

/** Issued coupons past their expiry expire (up to $3 at a time; the points are not given back). */
export const EXPIRE_COUPONS = `
WITH due AS (
  SELECT id FROM redemptions WHERE program_id = $1 AND status = 'ISSUED' AND expires_at <= $2
   ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED
), expired AS (
  UPDATE redemptions r SET status = 'EXPIRED', expired_at = $2 FROM due WHERE r.program_id = $1 AND r.id = due.id
  RETURNING r.*
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'REDEMPTION_EXPIRED', e.customer_id, jsonb_build_object(
    'redemptionId', e.id, 'rewardId', e.reward_id, 'rewardName', rw.name, 'customerId', e.customer_id,
    'points', e.points::text, 'code', e.code, 'status', e.status)
    FROM expired e JOIN rewards rw ON rw.program_id = $1 AND rw.id = e.reward_id
  RETURNING id, program_id, topic, customer_id, payload, created_at
)
SELECT (SELECT count(*)::int FROM expired) AS coupons, coalesce((SELECT jsonb_agg(ev ORDER BY id) FROM ev), '[]') AS events`;
