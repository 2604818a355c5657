/**
 * Recording a referral: link the new customer to the one who brought them (idempotent by
 * referralId, also between racing first attempts), owe the SIGNUP referral rules' points, record
 * the referrer's REFERRAL touchpoint (the ladder counts referrals), and give what is owed.
 */
import { RequestContext } from "../../context";
import { BadInput, IdempotencyKeyReused, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { ProgramConfig } from "../program/program.config";
import { TouchpointType } from "../program/earning";
import { requestHash } from "../touchpoint/request-hash";

export interface ReferralRequest {
  referrerId?: string | null;
  referrerExternalId?: string | null;
  refereeExternalId: string;
  referralId: string;
}

export async function recordReferral(
  ctx: RequestContext,
  config: ProgramConfig,
  input: ReferralRequest,
): Promise<{ referrerId: string; refereeId: string; replayed: boolean }> {
  const programId = config.program.id;
  const hash = requestHash({ referrerId: input.referrerId?.toLowerCase(), referrerExternalId: input.referrerExternalId, referee: input.refereeExternalId });
  const now = ctx.app.clock();
  const link = await ctx.app.db.transaction(async (tx) => {
    const [referrer] = input.referrerId
      ? await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND id = $2`, [programId, uuidArg(input.referrerId, "referrerId")])
      : await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND external_id = $2`, [programId, input.referrerExternalId]);
    if (!referrer || referrer.erased_at) throw new NotFound("Referrer", input.referrerId ? "referrerId" : "referrerExternalId");
    await tx.query(`INSERT INTO customers (program_id, external_id, stage_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
      programId,
      input.refereeExternalId,
      config.bottom.key,
    ]);
    const [referee] = await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND external_id = $2 FOR NO KEY UPDATE`, [
      programId,
      input.refereeExternalId,
    ]);
    // After the referee's lock: a racing first attempt with the same key waits above, then replays here.
    const replay = async () => {
      const [existing] = await tx.query(`SELECT * FROM referrals WHERE program_id = $1 AND referral_key = $2`, [programId, input.referralId]);
      if (!existing) return null;
      if (existing.request_hash !== hash) throw new IdempotencyKeyReused("referralId", input.referralId);
      return { referrerId: existing.referrer_id as string, refereeId: existing.referee_id as string, replayed: true };
    };
    const earlier = await replay();
    if (earlier) return earlier;
    if (referee.id === referrer.id) throw new BadInput("refereeExternalId", "a customer cannot refer themselves");
    if (referee.purchase_count > 0) throw new BadInput("refereeExternalId", "the referee is already a buying customer");
    const [claimed] = await tx.query(
      `INSERT INTO referrals (program_id, referee_id, referrer_id, referral_key, request_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING RETURNING 1 AS ok`,
      [programId, referee.id, referrer.id, input.referralId, hash, now],
    );
    if (!claimed) {
      // The key was taken meanwhile for another referee (IDEMPOTENCY_KEY_REUSED), or this referee has a referral already.
      await replay();
      throw new BadInput("refereeExternalId", "the referee was already referred");
    }
    await tx.query(
      `INSERT INTO grants (program_id, key, customer_id, kind, points, rule_id, reason, created_at)
       SELECT $1, 'referral:' || $2::text || ':SIGNUP:' || r.id, CASE WHEN r.beneficiary = 'REFERRER' THEN $3::uuid ELSE $2::uuid END,
              'POINTS', r.fixed_points, r.id, coalesce(r.name, 'referral: signup'), $4
         FROM earning_rules r WHERE r.program_id = $1 AND r.referral_trigger = 'SIGNUP' AND r.fixed_points > 0
       ON CONFLICT DO NOTHING`,
      [programId, referee.id, referrer.id, now],
    );
    return { referrerId: referrer.id as string, refereeId: referee.id as string, replayed: false };
  });
  // The referrer's REFERRAL touchpoint (idempotent by the same key): the ladder counts referrals.
  await ctx.app.touchpoints.record(ctx, config, {
    programId,
    customerId: link.referrerId,
    type: TouchpointType.REFERRAL,
    externalId: input.referralId,
    keyField: "referralId",
    occurredAt: now,
    amount: null,
    data: { refereeId: link.refereeId },
    hashed: { referralId: input.referralId, referee: link.refereeId },
  });
  // This referral's grants, waiting for any a racing retry is giving: the answer shows them given.
  await ctx.app.grants.process(programId, `referral:${link.refereeId}:`);
  return link;
}
