/**
 * The rewards catalog and redemptions. A redemption is one transaction: lock the customer, check
 * the reward (validity, eligibility, per-customer limit, balance), take a unit of stock with an
 * atomic conditional UPDATE (the reward row lock serializes racing redemptions, and a CHECK
 * refuses issued > stock), take a coupon code, debit the points from the lots that expire first,
 * store the redemption and its event. Expected failures are typed results and write nothing.
 */
import { lifecycleOf } from "../../domain/value/lifecycle";
import { ValuePolicy } from "../../domain/value/customer-value";
import { randomBytes, randomUUID } from "node:crypto";
import { RequestContext } from "../../context";
import { Tx } from "../../db/db";
import { BadInput, IdempotencyKeyReused, NotFound } from "../../api/errors";
import { LoyaltyEventMessage, messageFromOutboxRow } from "../../events/event.types";
import { requestHash } from "../touchpoint/request-hash";
import { expiryOf } from "../points/points.policy";
import { CREDIT_POINTS, DEBIT_POINTS } from "../touchpoint/touchpoint.sql";
import { CreateRewardInput, RedeemRewardInput } from "./reward.inputs";
import {
  CouponResult,
  CouponUnusable,
  InsufficientPoints,
  LimitReached,
  NotEligible,
  RedeemRewardResult,
  redemptionFromRow,
  Reward,
  rewardFromRow,
  RewardUnavailable,
} from "./reward.types";

const DAY_MS = 86_400_000;
/** Redemptions a grant issues (triggered rewards) use this key prefix, which clients may not use. */
export const GRANT_KEY_PREFIX = "grant:";
/** Crockford base32 without I, L, O, U: nothing to misread at a till. */
const CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** 60 random bits as XXXX-XXXX-XXXX: unique per program (a constraint checks) and not guessable. */
function generateCouponCode(): string {
  const bytes = randomBytes(12);
  let code = "";
  for (let i = 0; i < 12; i++) code += CODE_ALPHABET[bytes[i] & 31];
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/**
 * Takes a unit of the reward (an atomic conditional UPDATE: the row lock serializes racing takers)
 * and a coupon code, and stores the redemption. Shared by redeeming (points paid by the caller) and
 * by rewards a trigger issues (points 0). A pool without codes left rolls the transaction back.
 */
export async function issueUnit(
  tx: Tx,
  reward: Reward,
  customerId: string,
  at: { key: string; hash: string; points: number; now: Date },
): Promise<any | RewardUnavailable> {
  const programId = reward.programId;
  const [taken] = await tx.query(
    `UPDATE rewards SET issued = issued + 1 WHERE program_id = $1 AND id = $2 AND (stock IS NULL OR issued < stock) RETURNING issued`,
    [programId, reward.id],
  );
  if (!taken) return Object.assign(new RewardUnavailable(), { reason: "OUT_OF_STOCK", message: "No units left" });
  const id = randomUUID();
  let code: string;
  if (reward.couponSource === "POOL") {
    const [pooled] = await tx.query(
      `UPDATE reward_coupon_codes SET redemption_id = $3 WHERE (program_id, reward_id, code) = (
         SELECT c.program_id, c.reward_id, c.code FROM reward_coupon_codes c
          WHERE c.program_id = $1 AND c.reward_id = $2 AND c.redemption_id IS NULL
            AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.program_id = $1 AND r.code = c.code)
          ORDER BY c.code LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING code`,
      [programId, reward.id, id],
    );
    if (!pooled) throw new Refusal(Object.assign(new RewardUnavailable(), { reason: "NO_CODES_LEFT", message: "The reward's coupon codes are all taken" }));
    code = pooled.code;
  } else {
    code = generateCouponCode();
  }
  const expiresAt = reward.couponValidDays ? new Date(at.now.getTime() + reward.couponValidDays * DAY_MS) : null;
  const [stored] = await tx.query(
    `INSERT INTO redemptions (program_id, id, customer_id, reward_id, idempotency_key, request_hash, points, code, status, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ISSUED', $9, $10) RETURNING *`,
    [programId, id, customerId, reward.id, at.key, at.hash, at.points, code, at.now, expiresAt],
  );
  return stored;
}

/** A typed failure found after something was written: rolls the transaction back, then is answered. */
export class Refusal extends Error {
  constructor(readonly result: RedeemRewardResult) {
    super("redemption refused");
  }
}

const INSERT_EVENT = `INSERT INTO outbox (program_id, topic, customer_id, payload) VALUES ($1, $2, $3, $4::jsonb)
  RETURNING id, program_id, topic, customer_id, payload, created_at`;

export async function writeEvent(tx: Tx, programId: string, topic: string, customerId: string | null, payload: unknown): Promise<LoyaltyEventMessage> {
  const [row] = await tx.query(INSERT_EVENT, [programId, topic, customerId, JSON.stringify(payload)]);
  return messageFromOutboxRow(row);
}

export function redemptionPayload(row: any, rewardName: string) {
  return {
    redemptionId: row.id,
    rewardId: row.reward_id,
    rewardName,
    customerId: row.customer_id,
    points: String(row.points),
    code: row.code,
    status: row.status,
  };
}

export class RewardService {
  async create(ctx: RequestContext, programId: string, input: CreateRewardInput): Promise<Reward> {
    const config = await ctx.app.programs.config(programId);
    if (input.validFrom && input.validTo && input.validFrom >= input.validTo) throw new BadInput("validTo", "validTo must be after validFrom");
    const unknown = (input.stages ?? []).findIndex((k) => !config.stageByKey.has(k));
    if (unknown >= 0) throw new BadInput(`stages[${unknown}]`, `the ladder has no stage "${input.stages![unknown]}"`);
    const unknownTier = (input.tiers ?? []).findIndex((k) => !config.tiers.some((t) => t.key === k));
    if (unknownTier >= 0) throw new BadInput(`tiers[${unknownTier}]`, `the program has no tier "${input.tiers![unknownTier]}"`);
    const [row] = await ctx.app.db.query(
      `INSERT INTO rewards (program_id, name, description, points_cost, stock, valid_from, valid_to, stages, tiers, per_customer_limit, coupon_source, coupon_valid_days, lifecycle_phases)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
      [
        programId,
        input.name,
        input.description ?? null,
        input.pointsCost,
        input.stock ?? null,
        input.validFrom ?? null,
        input.validTo ?? null,
        input.stages?.length ? input.stages : null,
        input.tiers?.length ? input.tiers : null,
        input.perCustomerLimit ?? null,
        input.couponSource,
        input.couponValidDays ?? null,
        input.lifecyclePhases?.length ? [...new Set(input.lifecyclePhases)] : null,
      ],
    );
    return rewardFromRow(row);
  }

  async addCoupons(ctx: RequestContext, reward: Reward, codes: string[]): Promise<number> {
    const [row] = await ctx.app.db.query(
      // A code is unique in the program: not in any reward's pool yet, nor issued already.
      `WITH ins AS (
         INSERT INTO reward_coupon_codes (program_id, reward_id, code)
         SELECT DISTINCT $1::uuid, $2::uuid, u.code FROM unnest($3::text[]) AS u(code)
          WHERE NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.program_id = $1 AND r.code = u.code)
            AND NOT EXISTS (SELECT 1 FROM reward_coupon_codes p WHERE p.program_id = $1 AND p.code = u.code)
         ON CONFLICT DO NOTHING RETURNING 1)
       SELECT count(*)::int AS added FROM ins`,
      [reward.programId, reward.id, codes],
    );
    return row.added;
  }

  async find(ctx: RequestContext, rewardId: string): Promise<Reward | null> {
    const [row] = await ctx.app.db.query(`SELECT * FROM rewards WHERE id = $1`, [rewardId]);
    return row ? rewardFromRow(row) : null;
  }

  async list(ctx: RequestContext, programId: string): Promise<Reward[]> {
    const rows = await ctx.app.db.query(`SELECT * FROM rewards WHERE program_id = $1 ORDER BY created_at, id`, [programId]);
    return rows.map(rewardFromRow);
  }

  async redeem(ctx: RequestContext, reward: Reward, input: RedeemRewardInput): Promise<RedeemRewardResult> {
    const programId = reward.programId;
    const hash = requestHash({ customerId: input.customerId.toLowerCase(), rewardId: input.rewardId.toLowerCase() });
    const events: LoyaltyEventMessage[] = [];
    // Before the transaction: a configuration not cached is read on another connection, which the
    // embedded database (one connection) would only give once this transaction ends.
    const { valuePolicy } = await ctx.app.programs.config(programId);
    try {
      const result = await ctx.app.db.transaction(async (tx) => {
        events.length = 0;
        const now = ctx.app.clock();
        const [customer] = await tx.query(
          `SELECT id, stage_key, tier_key, balance, erased_at, purchase_count, first_purchase_at, last_purchase_at FROM customers WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE`,
          [programId, input.customerId],
        );
        if (!customer || customer.erased_at) throw new NotFound("Customer", "customerId");
        // After the customer lock: a racing retry with the same key waits here, then sees the first one.
        const [existing] = await tx.query(`SELECT * FROM redemptions WHERE program_id = $1 AND idempotency_key = $2`, [programId, input.idempotencyKey]);
        if (existing) {
          if (existing.request_hash !== hash) throw new IdempotencyKeyReused("idempotencyKey", input.idempotencyKey);
          return redemptionFromRow(existing, true);
        }
        const [row] = await tx.query(`SELECT * FROM rewards WHERE program_id = $1 AND id = $2`, [programId, reward.id]);
        const current = rewardFromRow(row);
        const refusal = await this.refusal(tx, current, customer, now, valuePolicy);
        if (refusal) return refusal;

        const issued = await issueUnit(tx, current, customer.id, { key: input.idempotencyKey, hash, points: current.pointsCost, now });
        if (!("id" in issued)) return issued;
        await tx.query(DEBIT_POINTS, [programId, customer.id, current.pointsCost, false, "REDEMPTION", null, null, issued.id, current.name], { prepare: true });
        const stored = issued;
        events.push(await writeEvent(tx, programId, "REWARD_REDEEMED", customer.id, redemptionPayload(stored, current.name)));
        return redemptionFromRow(stored);
      });
      if (events.length > 0) ctx.app.outbox.publishCommitted(events);
      return result;
    } catch (err) {
      if (err instanceof Refusal) return err.result;
      if ((err as { code?: string }).code === "23505" && String((err as any).constraint).includes("idempotency")) {
        // Two first attempts with one key for two customers: the loser sees the winner's row.
        throw new IdempotencyKeyReused("idempotencyKey", input.idempotencyKey);
      }
      throw err;
    }
  }

  /** Why this customer may not redeem the reward now, or null. */
  private async refusal(tx: Tx, reward: Reward, customer: any, now: Date, valuePolicy: ValuePolicy): Promise<RedeemRewardResult | null> {
    const unavailable = (reason: string, message: string) => Object.assign(new RewardUnavailable(), { reason, message });
    if (!reward.active) return unavailable("INACTIVE", "The reward is not offered");
    if (reward.validFrom && now < reward.validFrom) return unavailable("NOT_YET_VALID", `Offered from ${reward.validFrom.toISOString()}`);
    if (reward.validTo && now >= reward.validTo) return unavailable("ENDED", `Offered until ${reward.validTo.toISOString()}`);
    if (reward.remaining !== null && reward.remaining <= 0) return unavailable("OUT_OF_STOCK", "No units left");
    const notEligible = (message: string) =>
      Object.assign(new NotEligible(), { message, stages: reward.stages, tiers: reward.tiers, lifecyclePhases: reward.lifecyclePhases });
    if (reward.stages?.length && !reward.stages.includes(customer.stage_key)) return notEligible(`Only for stages ${reward.stages.join(", ")}`);
    if (reward.tiers?.length && !(customer.tier_key && reward.tiers.includes(customer.tier_key)))
      return notEligible(`Only for tiers ${reward.tiers.join(", ")}`);
    // The phase as of this moment (the transaction's clock, a hair after the request's), from the row
    // just locked, by the same rule and policy as the customer's own lifecycle.
    if (reward.lifecyclePhases?.length && !reward.lifecyclePhases.includes(lifecycleOf(customer, now, valuePolicy).phase)) {
      return notEligible(`Only for customers in ${reward.lifecyclePhases.join(", ")}`);
    }
    if (reward.perCustomerLimit) {
      const [{ used }] = await tx.query(
        `SELECT count(*)::int AS used FROM redemptions WHERE program_id = $1 AND customer_id = $2 AND reward_id = $3 AND status <> 'CANCELLED'`,
        [reward.programId, customer.id, reward.id],
      );
      if (used >= reward.perCustomerLimit) return Object.assign(new LimitReached(), { limit: reward.perCustomerLimit, used });
    }
    if (Number(customer.balance) < reward.pointsCost) {
      return Object.assign(new InsufficientPoints(), { balance: Number(customer.balance), required: reward.pointsCost });
    }
    return null;
  }

  async findRedemption(ctx: RequestContext, where: { id?: string; programId?: string; code?: string }): Promise<any | null> {
    const [row] = where.id
      ? await ctx.app.db.query(`SELECT * FROM redemptions WHERE id = $1`, [where.id])
      : await ctx.app.db.query(`SELECT * FROM redemptions WHERE program_id = $1 AND code = $2`, [where.programId, where.code]);
    return row ?? null;
  }

  /** Marks a coupon used at the till. A used, cancelled or expired coupon is refused, typed. */
  async use(ctx: RequestContext, redemption: any): Promise<CouponResult> {
    const events: LoyaltyEventMessage[] = [];
    const result = await ctx.app.db.transaction(async (tx) => {
      const now = ctx.app.clock();
      const [row] = await tx.query(`SELECT * FROM redemptions WHERE program_id = $1 AND id = $2 FOR UPDATE`, [redemption.program_id, redemption.id]);
      if (row.status !== "ISSUED" || (row.expires_at && new Date(row.expires_at) <= now)) {
        return Object.assign(new CouponUnusable(), {
          code: row.code,
          status: row.status,
          message: `The coupon is ${row.status === "ISSUED" ? "past its expiry" : row.status.toLowerCase()}`,
        });
      }
      const [used] = await tx.query(`UPDATE redemptions SET status = 'USED', used_at = $3 WHERE program_id = $1 AND id = $2 RETURNING *`, [
        row.program_id,
        row.id,
        now,
      ]);
      events.push(await writeEvent(tx, row.program_id, "COUPON_USED", row.customer_id, redemptionPayload(used, await this.rewardName(tx, used))));
      return redemptionFromRow(used);
    });
    if (events.length > 0) ctx.app.outbox.publishCommitted(events);
    return result;
  }

  /**
   * Cancels an issued redemption: the points come back (as a new lot), the unit goes back to stock.
   * Cancelling a cancelled redemption changes nothing and returns it: points are never given back twice.
   */
  async cancel(ctx: RequestContext, redemption: any, reason: string | null): Promise<CouponResult> {
    const events: LoyaltyEventMessage[] = [];
    // Before the transaction: a configuration not cached is read on another connection, which the
    // embedded database (one connection) would only give once this transaction ends.
    const config = await ctx.app.programs.config(redemption.program_id);
    const result = await ctx.app.db.transaction(async (tx) => {
      const now = ctx.app.clock();
      const [row] = await tx.query(`SELECT * FROM redemptions WHERE program_id = $1 AND id = $2 FOR UPDATE`, [redemption.program_id, redemption.id]);
      if (row.status === "CANCELLED") return redemptionFromRow(row);
      if (row.status !== "ISSUED") {
        return Object.assign(new CouponUnusable(), { code: row.code, status: row.status, message: `A ${row.status.toLowerCase()} coupon cannot be cancelled` });
      }
      if (row.expires_at && new Date(row.expires_at) <= now) {
        // Past its expiry (the job has not marked it yet): it expires, it does not come back as points.
        return Object.assign(new CouponUnusable(), { code: row.code, status: row.status, message: "The coupon is past its expiry" });
      }
      const name = await this.rewardName(tx, row);
      // A reward a trigger gave cost nothing: nothing to give back.
      if (Number(row.points) > 0)
        await tx.query(
          CREDIT_POINTS,
          [
            row.program_id,
            row.customer_id,
            row.points,
            "REDEMPTION_CANCELLED",
            "REDEMPTION_CANCELLED",
            null,
            now,
            expiryOf(config.points, now, config.program.timeZone),
            row.id,
            reason ?? name,
            false,
          ],
          { prepare: true },
        );
      await tx.query(`UPDATE rewards SET issued = issued - 1 WHERE program_id = $1 AND id = $2`, [row.program_id, row.reward_id]);
      const [cancelled] = await tx.query(`UPDATE redemptions SET status = 'CANCELLED', cancelled_at = $3 WHERE program_id = $1 AND id = $2 RETURNING *`, [
        row.program_id,
        row.id,
        now,
      ]);
      events.push(await writeEvent(tx, row.program_id, "REDEMPTION_CANCELLED", row.customer_id, { ...redemptionPayload(cancelled, name), reason }));
      return redemptionFromRow(cancelled);
    });
    if (events.length > 0) ctx.app.outbox.publishCommitted(events);
    return result;
  }

  private async rewardName(tx: Tx, redemption: any): Promise<string> {
    const [r] = await tx.query(`SELECT name FROM rewards WHERE program_id = $1 AND id = $2`, [redemption.program_id, redemption.reward_id]);
    return r?.name ?? "";
  }
}
