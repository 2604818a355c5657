/**
 * The statements of a write batch (group commit): the touchpoints of concurrent requests read,
 * then claimed, posted and counted together, in two statements whatever the number of requests
 * (three with tiers: their windows are read between, see tier.sql.ts).
 */
import { Metric } from "../../domain/ladder/ladder.types";
import { windowSubquery } from "../customer/customer.metrics";
import { TIER_CHANGED_PAYLOAD } from "../tiers/tier.sql";

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
 * The locked path's first statement: the program row (shared, so a ladder change waits for the
 * batch), then the batch's customers in id order, the order every writer locks them in, so two
 * batches or a batch and a ladder change cannot deadlock. Its own statement, before the read: a
 * statement's snapshot is taken before it waits on a lock, so a read that locked as it read would
 * see the row a concurrent writer committed meanwhile but not that writer's touchpoints.
 */
export const LOCK_BATCH = `
WITH prog AS (SELECT id FROM programs WHERE id = $1 FOR SHARE)
SELECT c.id FROM customers c
 WHERE c.program_id = $1 AND c.id = ANY($2::uuid[]) AND EXISTS (SELECT 1 FROM prog)
 ORDER BY c.id FOR NO KEY UPDATE OF c`;

/**
 * The read of a batch: the customers as they are (with their row version, xmin), by id ($2) or by
 * the partner's id ($5, those not cached), their windowed metrics ($6, the batch's clock, when the
 * ladder has windows), and which of the batch's keys ($3 types, $4 external ids) were recorded
 * before. One snapshot, so the three agree. Without a transaction, the write statement then checks
 * the versions; on the locked path the customers are locked already (LOCK_BATCH).
 */
export function readBatchSql(windows: Array<{ metric: Metric; windowDays: number }>): string {
  const windowed = windows.length > 0;
  return `
WITH c AS (
  SELECT c.*, c.xmin::text AS row_version FROM customers c
   WHERE c.program_id = $1 AND (c.id = ANY($2::uuid[]) OR c.external_id = ANY($5::text[]))
)
SELECT 'c' AS kind, to_jsonb(c.*) AS row, ${windowed ? "to_jsonb(w.*)" : "NULL::jsonb"} AS windows
  FROM c ${windowed ? `CROSS JOIN LATERAL (${windowSubquery(windows, { programId: "$1", customerId: "c.id", asOf: "$6" })}) w` : ""}
UNION ALL
SELECT 'k', jsonb_build_object('type', t.type, 'external_id', t.external_id), NULL
  FROM unnest($3::text[], $4::text[]) AS k(type, external_id)
  JOIN touchpoints t ON t.program_id = $1 AND t.type = k.type AND t.external_id = k.external_id`;
}

/**
 * The second and last statement: everything the batch writes, computed in memory from what the
 * first one read. Touchpoints are inserted with their points and why (one tuple each, never
 * updated), each customer is updated once (counters, points, first and last purchase, NPS, stage),
 * then lots, ledger entries, what capped rules gave, transitions and events, in causal order.
 * Records refer to their touchpoint by their position in $2 (tp), the id being known only here.
 *
 * Tier upgrades the batch qualified for ($12) go with it: the customer's tier columns in its update,
 * the change and its TIER_CHANGED event after the batch's own events (the final UNION reads
 * tier_ev last; events are sorted by sequence after the write in any case).
 *
 * Nothing is written unless (write_batch_check):
 *   - the program's configuration is still version $3 (else SQLSTATE LY001: evaluate again with
 *     the new one). The share lock makes a ladder change wait for the batch;
 *   - every key was claimed ($9 of them) and every customer was unchanged since the first
 *     statement (its xmin, $10 of them). Else 40001: a concurrent writer got there first, and the
 *     batch is read and evaluated again. This is what lets the two statements run without a
 *     transaction between them: the customer rows are their version numbers.
 */
export const WRITE_BATCH = `
WITH prog AS (
  SELECT updated_at::text AS version FROM programs WHERE id = $1 FOR SHARE
), input AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(
    ord int, customer_id uuid, type text, external_id text, channel text, occurred_at timestamptz, amount numeric,
    currency text, rating smallint, product_id text, data jsonb, request_hash text, points int, earning jsonb)
), claimed AS (
  INSERT INTO touchpoints (program_id, customer_id, type, external_id, channel, occurred_at, amount, currency,
                           rating, product_id, data, request_hash, points, earning)
  -- In arrival order, so touchpoint ids (newest first in the API) follow it.
  SELECT $1, customer_id, type, external_id, channel, occurred_at, amount, currency, rating, product_id, data, request_hash, points, earning
    FROM input ORDER BY ord
  ON CONFLICT (program_id, type, external_id) DO NOTHING
  RETURNING id, type, external_id, recorded_at
), posted AS (
  SELECT i.ord, claimed.id, claimed.recorded_at FROM claimed JOIN input i USING (type, external_id)
), locked AS (
  -- In id order, as every writer locks customers: two batches of different processes cannot deadlock.
  SELECT c.id FROM customers c WHERE c.program_id = $1 AND c.id = ANY($11::uuid[]) ORDER BY c.id FOR NO KEY UPDATE
), cust AS (
  UPDATE customers c SET
    touchpoint_count = c.touchpoint_count + x.touchpoint_count,
    purchase_count = c.purchase_count + x.purchase_count, purchase_amount = c.purchase_amount + x.purchase_amount,
    review_count = c.review_count + x.review_count, rating_sum = c.rating_sum + x.rating_sum,
    referral_count = c.referral_count + x.referral_count, social_share_count = c.social_share_count + x.social_share_count,
    visit_count = c.visit_count + x.visit_count, product_view_count = c.product_view_count + x.product_view_count,
    support_contact_count = c.support_contact_count + x.support_contact_count,
    event_attendance_count = c.event_attendance_count + x.event_attendance_count,
    balance = c.balance + x.balance, pending_points = c.pending_points + x.pending,
    lifetime_points = c.lifetime_points + x.lifetime,
    last_purchase_at = CASE WHEN x.last_purchase_at IS NULL THEN c.last_purchase_at
                            ELSE greatest(coalesce(c.last_purchase_at, x.last_purchase_at), x.last_purchase_at) END,
    first_purchase_at = CASE WHEN x.first_purchase_at IS NULL THEN c.first_purchase_at
                             ELSE least(coalesce(c.first_purchase_at, x.first_purchase_at), x.first_purchase_at) END,
    nps = coalesce(x.nps, c.nps),
    stage_key = coalesce(x.stage_key, c.stage_key),
    stage_entered_at = CASE WHEN x.stage_key IS NOT NULL THEN now() ELSE c.stage_entered_at END,
    -- An upgrade the batch's touchpoints qualified for (tier_since: the batch's clock).
    tier_key = CASE WHEN x.tier_since IS NOT NULL THEN x.tier_key ELSE c.tier_key END,
    tier_since = coalesce(x.tier_since, c.tier_since),
    tier_review_at = CASE WHEN x.tier_since IS NOT NULL THEN x.tier_review_at ELSE c.tier_review_at END,
    tier_manual_until = CASE WHEN x.tier_since IS NOT NULL THEN NULL ELSE c.tier_manual_until END,
    tier_reason = CASE WHEN x.tier_since IS NOT NULL THEN x.tier_reason ELSE c.tier_reason END,
    updated_at = now()
  FROM jsonb_to_recordset($4::jsonb) AS x(
    id uuid, row_version text, touchpoint_count int, purchase_count int, purchase_amount numeric, review_count int, rating_sum int,
    referral_count int, social_share_count int, visit_count int, product_view_count int, support_contact_count int,
    event_attendance_count int, balance bigint, pending bigint, lifetime bigint,
    last_purchase_at timestamptz, first_purchase_at timestamptz, nps smallint, stage_key text,
    tier_key text, tier_since timestamptz, tier_review_at timestamptz, tier_reason jsonb)
  WHERE c.program_id = $1 AND c.id IN (SELECT id FROM locked) AND c.id = x.id AND c.xmin::text = x.row_version
  RETURNING c.id
), lots AS (
  INSERT INTO point_lots (program_id, customer_id, source, touchpoint_id, rule_id, amount, remaining, status, earned_at, activates_at, expires_at)
  SELECT $1, l.customer_id, 'EARN', p.id, l.rule_id, l.amount, l.remaining, l.status, l.earned_at, l.activates_at, l.expires_at
    FROM jsonb_to_recordset($5::jsonb) AS l(ord int, tp int, customer_id uuid, rule_id uuid, amount bigint, remaining bigint,
                                           status text, earned_at timestamptz, activates_at timestamptz, expires_at timestamptz)
    JOIN posted p ON p.ord = l.tp
   ORDER BY l.ord
  RETURNING id, customer_id, touchpoint_id, amount, status
), led AS (
  INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id, lot_id)
  SELECT $1, customer_id, amount, 'EARN', touchpoint_id, id FROM lots WHERE status = 'ACTIVE' ORDER BY id
), awarded AS (
  UPDATE earning_rules r SET awarded = r.awarded + x.points
    FROM jsonb_to_recordset($8::jsonb) AS x(id uuid, points bigint)
   WHERE r.program_id = $1 AND r.id = x.id
), tr AS (
  INSERT INTO stage_transitions (program_id, customer_id, from_key, to_key, cause, touchpoint_id, reason)
  SELECT $1, m.customer_id, m.from_key, m.to_key, 'TOUCHPOINT', p.id, m.reason
    FROM jsonb_to_recordset($6::jsonb) AS m(ord int, tp int, customer_id uuid, from_key text, to_key text, reason jsonb)
    JOIN posted p ON p.ord = m.tp
   ORDER BY m.ord
  RETURNING id, touchpoint_id, at
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, e.topic, e.customer_id,
         e.payload || jsonb_build_object('touchpointId', p.id::text)
           || CASE WHEN tr.id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('transitionId', tr.id::text, 'at', tr.at) END
    FROM jsonb_to_recordset($7::jsonb) AS e(ord int, tp int, topic text, customer_id uuid, payload jsonb)
    JOIN posted p ON p.ord = e.tp
    LEFT JOIN tr ON e.topic = 'STAGE_CHANGED' AND tr.touchpoint_id = p.id
   ORDER BY e.ord
  RETURNING id, program_id, topic, customer_id, payload, created_at
), tiered AS (
  -- Tier upgrades ($12), each with its reason, after the batch's other events.
  INSERT INTO tier_changes (program_id, customer_id, from_key, to_key, at, cause, reason)
  SELECT $1, t.customer_id, t.from_key, t.to_key, t.at, t.cause, t.reason
    FROM jsonb_to_recordset($12::jsonb) AS t(customer_id uuid, from_key text, to_key text, at timestamptz, cause text, reason jsonb)
   ORDER BY t.customer_id
  RETURNING customer_id, from_key, to_key, cause, reason
), tier_ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'TIER_CHANGED', customer_id, ${TIER_CHANGED_PAYLOAD}
    FROM tiered ORDER BY customer_id
  RETURNING id, program_id, topic, customer_id, payload, created_at
), checked AS (
  -- The program's version first: its share lock is taken before any customer's (see LOCK_BATCH).
  SELECT write_batch_check((SELECT version FROM prog) = $3, (SELECT count(*) FROM claimed) = $9, (SELECT count(*) FROM cust) = $10) AS ok
)
SELECT 'ok' AS kind, to_jsonb(ok) AS row FROM checked
UNION ALL
SELECT 't', jsonb_build_object('ord', ord, 'id', id::text, 'recorded_at', recorded_at) FROM posted
UNION ALL
SELECT 'tr', jsonb_build_object('id', id::text, 'touchpoint_id', touchpoint_id::text, 'at', at) FROM tr
UNION ALL
SELECT 'ev', to_jsonb(ev.*) FROM ev
UNION ALL
SELECT 'ev', to_jsonb(tier_ev.*) FROM tier_ev`;

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
