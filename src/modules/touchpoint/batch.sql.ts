/**
 * The statements of a write batch (group commit): the touchpoints of concurrent requests claimed,
 * posted and counted together, in few round trips whatever the number of requests.
 */

/** Finds or creates customers by the partner's ids ($2 sorted, so concurrent batches insert in one order). */
export const RESOLVE_EXTERNAL_CUSTOMERS = `
WITH input AS (SELECT DISTINCT external_id FROM unnest($2::text[]) AS x(external_id)),
ins AS (
  INSERT INTO customers (program_id, external_id, stage_key)
  SELECT $1, external_id, $3 FROM input ORDER BY external_id
  ON CONFLICT (program_id, external_id) DO NOTHING RETURNING id, external_id
)
SELECT id, external_id, true AS created FROM ins
UNION ALL
SELECT id, external_id, false FROM customers WHERE program_id = $1 AND external_id = ANY($2::text[])`;

/**
 * Claims every key (ON CONFLICT DO NOTHING: a key seen before is not claimed) and adds the claimed
 * ones' counters to each customer in one atomic UPDATE, which also locks the customers for the
 * rest of the batch. Points come later (APPLY_OUTCOME): they depend on the state this returns.
 * A customer that does not exist fails the batch (foreign key); its records are then retried one by
 * one, so only the record naming it fails (NOT_FOUND).
 * Returns the customers after the UPDATE ('c'), the claimed touchpoints ('t') and the program's
 * configuration version ('v'). Nothing is written unless that version is $3, the one the batch was
 * evaluated with; the share lock makes a ladder change wait for batches in flight, and batches
 * after it see the new version (and are written again with the new ladder).
 */
export const CLAIM_AND_POST = `
WITH prog AS (
  SELECT updated_at::text AS version FROM programs WHERE id = $1 FOR SHARE
), input AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(
    ord int, customer_id uuid, type text, external_id text, channel text, occurred_at timestamptz,
    amount numeric, currency text, rating smallint, product_id text, data jsonb, request_hash text,
    purchase_count int, purchase_amount numeric, review_count int, rating_sum int, referral_count int,
    social_share_count int, visit_count int, product_view_count int, support_contact_count int, event_attendance_count int)
   WHERE (SELECT version FROM prog) = $3
), claimed AS (
  INSERT INTO touchpoints (program_id, customer_id, type, external_id, channel, occurred_at, amount, currency,
                           rating, product_id, data, request_hash)
  SELECT $1, customer_id, type, external_id, channel, occurred_at, amount, currency, rating, product_id, data, request_hash
    -- In arrival order, so touchpoint ids (newest first in the API) follow it. Two batches claiming
    -- the same two new keys in opposite orders can only be two processes racing on retries of the
    -- same records; PostgreSQL detects that deadlock and the batch is retried.
    FROM input ORDER BY ord
  ON CONFLICT (program_id, type, external_id) DO NOTHING
  RETURNING id, type, external_id, recorded_at
), posted AS (
  SELECT i.*, claimed.id AS touchpoint_id, claimed.recorded_at FROM claimed JOIN input i USING (type, external_id)
), totals AS (
  SELECT customer_id, count(*) AS n, sum(purchase_count) AS purchase_count,
         sum(purchase_amount) AS purchase_amount, sum(review_count) AS review_count, sum(rating_sum) AS rating_sum,
         sum(referral_count) AS referral_count, sum(social_share_count) AS social_share_count,
         sum(visit_count) AS visit_count, sum(product_view_count) AS product_view_count,
         sum(support_contact_count) AS support_contact_count, sum(event_attendance_count) AS event_attendance_count
    FROM posted GROUP BY customer_id
), locked AS (
  -- Two batches in flight lock their customers in one order (by id), so they cannot deadlock.
  SELECT c.id FROM customers c WHERE c.program_id = $1 AND c.id IN (SELECT customer_id FROM totals) ORDER BY c.id FOR NO KEY UPDATE
), updated AS (
  UPDATE customers c SET
    touchpoint_count = c.touchpoint_count + t.n,
    purchase_count = c.purchase_count + t.purchase_count, purchase_amount = c.purchase_amount + t.purchase_amount,
    review_count = c.review_count + t.review_count, rating_sum = c.rating_sum + t.rating_sum,
    referral_count = c.referral_count + t.referral_count, social_share_count = c.social_share_count + t.social_share_count,
    visit_count = c.visit_count + t.visit_count, product_view_count = c.product_view_count + t.product_view_count,
    support_contact_count = c.support_contact_count + t.support_contact_count,
    event_attendance_count = c.event_attendance_count + t.event_attendance_count,
    updated_at = now()
  FROM totals t WHERE c.program_id = $1 AND c.id = t.customer_id AND c.id IN (SELECT id FROM locked)
  RETURNING c.*
)
SELECT 'c' AS kind, to_jsonb(updated.*) AS row FROM updated
UNION ALL
SELECT 't', jsonb_build_object('ord', ord, 'id', touchpoint_id::text, 'recorded_at', recorded_at) FROM posted
UNION ALL
SELECT 'v', jsonb_build_object('version', version) FROM prog`;

/**
 * After rules and the ladder were evaluated in order: the points (balance, pending and lifetime
 * deltas; one lot per rule that gave points, and a ledger entry per spendable lot), the touchpoints'
 * points and why, what capped rules gave in total, the fields that are not sums (first and last
 * purchase, latest NPS, the stage), the transitions with their reasons, and every event, in causal order.
 */
export const APPLY_OUTCOME = `
WITH cust AS (
  UPDATE customers c SET
    balance = c.balance + x.balance, pending_points = c.pending_points + x.pending,
    lifetime_points = c.lifetime_points + x.lifetime,
    last_purchase_at = CASE WHEN x.last_purchase_at IS NULL THEN c.last_purchase_at
                            ELSE greatest(coalesce(c.last_purchase_at, x.last_purchase_at), x.last_purchase_at) END,
    first_purchase_at = CASE WHEN x.first_purchase_at IS NULL THEN c.first_purchase_at
                             ELSE least(coalesce(c.first_purchase_at, x.first_purchase_at), x.first_purchase_at) END,
    nps = coalesce(x.nps, c.nps),
    stage_key = coalesce(x.stage_key, c.stage_key),
    stage_entered_at = CASE WHEN x.stage_key IS NOT NULL THEN now() ELSE c.stage_entered_at END
  FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, last_purchase_at timestamptz, first_purchase_at timestamptz, nps smallint, stage_key text,
                                          balance bigint, pending bigint, lifetime bigint)
  WHERE c.program_id = $1 AND c.id = ANY($5::uuid[]) AND c.id = x.id
  RETURNING c.id
), lots AS (
  INSERT INTO point_lots (program_id, customer_id, source, touchpoint_id, rule_id, amount, remaining, status, earned_at, activates_at, expires_at)
  SELECT $1, customer_id, 'EARN', touchpoint_id, rule_id, amount, remaining, status, earned_at, activates_at, expires_at
    FROM jsonb_to_recordset($6::jsonb) AS l(ord int, customer_id uuid, touchpoint_id bigint, rule_id uuid, amount bigint, remaining bigint,
                                           status text, earned_at timestamptz, activates_at timestamptz, expires_at timestamptz)
   ORDER BY ord
  RETURNING id, customer_id, touchpoint_id, amount, status
), led AS (
  INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id, lot_id)
  SELECT $1, customer_id, amount, 'EARN', touchpoint_id, id FROM lots WHERE status = 'ACTIVE' ORDER BY id
), tp AS (
  UPDATE touchpoints t SET points = x.points, earning = x.earning
    FROM jsonb_to_recordset($7::jsonb) AS x(id bigint, points int, earning jsonb)
   WHERE t.program_id = $1 AND t.id = x.id
), awarded AS (
  UPDATE earning_rules r SET awarded = r.awarded + x.points
    FROM jsonb_to_recordset($8::jsonb) AS x(id uuid, points bigint)
   WHERE r.program_id = $1 AND r.id = x.id
), tr AS (
  INSERT INTO stage_transitions (program_id, customer_id, from_key, to_key, cause, touchpoint_id, reason)
  SELECT $1, customer_id, from_key, to_key, 'TOUCHPOINT', touchpoint_id, reason
    FROM jsonb_to_recordset($3::jsonb) AS m(ord int, customer_id uuid, from_key text, to_key text, touchpoint_id bigint, reason jsonb)
   ORDER BY ord
  RETURNING id, touchpoint_id, at
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, e.topic, e.customer_id,
         CASE WHEN tr.id IS NULL THEN e.payload ELSE e.payload || jsonb_build_object('transitionId', tr.id::text, 'at', tr.at) END
    FROM jsonb_to_recordset($4::jsonb) AS e(ord int, topic text, customer_id uuid, touchpoint_id bigint, payload jsonb)
    LEFT JOIN tr ON e.topic = 'STAGE_CHANGED' AND tr.touchpoint_id = e.touchpoint_id
   ORDER BY e.ord
  RETURNING id, program_id, topic, customer_id, payload, created_at
)
SELECT 'tr' AS kind, jsonb_build_object('id', id::text, 'touchpoint_id', touchpoint_id::text, 'at', at) AS row FROM tr
UNION ALL
SELECT 'ev', to_jsonb(ev.*) FROM ev`;

/**
 * What capped rules gave the batch's customers since $4 (the earliest period start the batch
 * needs), less what refunds took back of those touchpoints (pro rata): a refunded purchase gives
 * its room under the cap back.
 */
export const CAP_USAGE = `
SELECT l.customer_id, l.rule_id, l.earned_at,
       l.amount - CASE WHEN t.points > 0 THEN (l.amount * least(t.points_reversed, t.points)) / t.points ELSE 0 END AS amount
  FROM point_lots l
  LEFT JOIN touchpoints t ON t.program_id = l.program_id AND t.id = l.touchpoint_id
 WHERE l.program_id = $1 AND l.customer_id = ANY($2::uuid[]) AND l.rule_id = ANY($3::uuid[]) AND l.earned_at >= $4`;

/** What rules with a total cap gave so far, locked until the batch commits (so two batches never both take the last points). */
export const LOCK_TOTAL_CAPS = `
SELECT id, awarded FROM earning_rules WHERE program_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE`;
