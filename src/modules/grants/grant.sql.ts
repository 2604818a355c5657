/**
 * Grants are written in the transaction that earned them. These two run inside a write batch,
 * after its points and counters are applied, and only when the program has such rules.
 */

/** The referees of $2 making their first purchase: their referral's FIRST_PURCHASE rules owe points. $3: now. */
export const FIRST_PURCHASE_GRANTS = `
WITH r AS (
  UPDATE referrals SET first_purchase_at = $3
   WHERE program_id = $1 AND referee_id = ANY($2::uuid[]) AND first_purchase_at IS NULL
  RETURNING referee_id, referrer_id
)
INSERT INTO grants (program_id, key, customer_id, kind, points, rule_id, reason, created_at)
SELECT $1, 'referral:' || r.referee_id || ':FIRST_PURCHASE:' || rule.id,
       CASE WHEN rule.beneficiary = 'REFERRER' THEN r.referrer_id ELSE r.referee_id END,
       'POINTS', rule.fixed_points, rule.id, coalesce(rule.name, 'referral: first purchase'), $3
  FROM r CROSS JOIN earning_rules rule
 WHERE rule.program_id = $1 AND rule.referral_trigger = 'FIRST_PURCHASE' AND rule.fixed_points > 0
ON CONFLICT DO NOTHING
RETURNING key`;

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
