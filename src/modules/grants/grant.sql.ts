/**
 * Grants are written in the transaction that earned them. These run inside a write batch (stage
 * rewards also in a recompute), after its points, counters and moves are applied, and only when the
 * program has such rules.
 */

/**
 * The referees of $2 making their first purchase ($4: that purchase's touchpoint, $5: when it
 * happened): their referral's FIRST_PURCHASE rules owe points, due when the program's return
 * window ($6 days) ends, so a full refund before then cancels them. $3: now.
 */
export const FIRST_PURCHASE_GRANTS = `
WITH buys AS (
  SELECT * FROM unnest($2::uuid[], $4::bigint[], $5::timestamptz[]) AS b(customer_id, touchpoint_id, occurred_at)
), r AS (
  UPDATE referrals SET first_purchase_at = $3
   WHERE program_id = $1 AND referee_id IN (SELECT customer_id FROM buys) AND first_purchase_at IS NULL
  RETURNING referee_id, referrer_id
)
INSERT INTO grants (program_id, key, customer_id, kind, points, rule_id, reason, touchpoint_id, created_at, due_at)
SELECT $1, 'referral:' || r.referee_id || ':FIRST_PURCHASE:' || rule.id || ':' || b.touchpoint_id,
       CASE WHEN rule.beneficiary = 'REFERRER' THEN r.referrer_id ELSE r.referee_id END,
       'POINTS', rule.fixed_points, rule.id, coalesce(rule.name, 'referral: first purchase'), b.touchpoint_id, $3,
       CASE WHEN $6::int > 0 THEN b.occurred_at + $6::int * interval '1 day' END
  FROM r JOIN buys b ON b.customer_id = r.referee_id CROSS JOIN earning_rules rule
 WHERE rule.program_id = $1 AND rule.referral_trigger = 'FIRST_PURCHASE' AND rule.fixed_points > 0
ON CONFLICT DO NOTHING
RETURNING key`;

/**
 * A purchase fully refunded ($2): the referral bonuses it earned and that are not given yet are
 * cancelled, and the referee's next purchase counts as the first again. $3: now.
 */
export const CANCEL_PURCHASE_GRANTS = `
WITH cancelled AS (
  UPDATE grants SET granted_at = $3, result = '{"cancelled": "the purchase was refunded"}'
   WHERE program_id = $1 AND touchpoint_id = $2 AND granted_at IS NULL
  RETURNING key
), reopened AS (
  UPDATE referrals r SET first_purchase_at = NULL
    FROM touchpoints t
   WHERE t.program_id = $1 AND t.id = $2 AND r.program_id = $1 AND r.referee_id = t.customer_id
     AND EXISTS (SELECT 1 FROM cancelled)
)
SELECT count(*)::int AS cancelled FROM cancelled`;

/**
 * Triggered rewards: for the batch's customers ($2) and the triggers its touchpoint types can
 * fire ($4), a reward is owed when the customer has at least min_count touchpoints of the type in
 * the last window_hours (and never bought, if the trigger says so), at most once per window.
 */
export const TRIGGER_GRANTS = `
INSERT INTO grants (program_id, key, customer_id, kind, reward_id, trigger_id, reason, created_at)
SELECT $1, 'trigger:' || tr.id || ':' || c.id || ':' || floor(extract(epoch FROM $3::timestamptz) / (tr.window_hours * 3600))::bigint,
       c.id, 'REWARD', tr.reward_id, tr.id, tr.name, $3
  FROM reward_triggers tr
 CROSS JOIN unnest($2::uuid[]) AS c(id)
  JOIN customers cu ON cu.program_id = $1 AND cu.id = c.id
 WHERE tr.program_id = $1 AND tr.active AND tr.id = ANY($4::uuid[])
   AND (NOT tr.require_no_purchase OR cu.purchase_count = 0)
   AND (SELECT count(*) FROM touchpoints t
         WHERE t.program_id = $1 AND t.customer_id = c.id AND t.type = tr.touchpoint_type
           AND t.occurred_at > $3::timestamptz - tr.window_hours * interval '1 hour') >= tr.min_count
   AND NOT EXISTS (SELECT 1 FROM grants g
         WHERE g.program_id = $1 AND g.customer_id = c.id AND g.trigger_id = tr.id
           AND g.created_at > $3::timestamptz - tr.window_hours * interval '1 hour')
ON CONFLICT DO NOTHING
RETURNING key`;

/**
 * Stage rewards: the moves of a transaction ($2 customers, $4 stages entered, $5 their transitions,
 * $6 the touchpoints that caused them or null, $7 their types, $8 when they happened; $3: now) into
 * a stage with an active stage reward owe its reward, unless the customer is erased. Once per
 * customer (the key names the customer), or with repeat_after_days, on every entry unless the
 * customer got it in the last repeat_after_days (the key names the transition). One per customer
 * and reward per statement. A move made by a purchase owes it when the purchase's return window
 * ($9 days) ends, as its points: a full refund before then cancels it (CANCEL_PURCHASE_GRANTS).
 */
export const STAGE_ENTRY_GRANTS = `
INSERT INTO grants (program_id, key, customer_id, kind, reward_id, stage_reward_id, reason, touchpoint_id, created_at, due_at)
SELECT DISTINCT ON (sr.id, m.customer_id) $1,
       'stage:' || sr.id || ':' || m.customer_id || CASE WHEN sr.repeat_after_days IS NULL THEN '' ELSE ':' || m.transition_id END,
       m.customer_id, 'REWARD', sr.reward_id, sr.id, sr.name, m.touchpoint_id, $3,
       CASE WHEN m.type = 'PURCHASE' AND $9::int > 0 THEN m.occurred_at + $9::int * interval '1 day' END
  FROM unnest($2::uuid[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::timestamptz[])
         AS m(customer_id, to_key, transition_id, touchpoint_id, type, occurred_at)
  JOIN stage_rewards sr ON sr.program_id = $1 AND sr.active AND sr.stage_key = m.to_key
  JOIN customers c ON c.program_id = $1 AND c.id = m.customer_id AND c.erased_at IS NULL
 WHERE sr.repeat_after_days IS NULL
    OR NOT EXISTS (SELECT 1 FROM grants g
         WHERE g.program_id = $1 AND g.customer_id = m.customer_id AND g.stage_reward_id = sr.id
           AND g.created_at > $3::timestamptz - sr.repeat_after_days * interval '1 day')
 ORDER BY sr.id, m.customer_id, m.transition_id
ON CONFLICT DO NOTHING
RETURNING key`;
