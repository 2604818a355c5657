/**
 * Points moved by hand: ADMIN adjustments (a required reason) and transfers between two
 * customers of a program. Each claims an idempotency key in point_operations in its transaction,
 * so a retry returns the first result and posts nothing twice.
 */
import { RequestContext } from "../../context";
import { Tx } from "../../db/db";
import { IdempotencyKeyReused, NotFound } from "../../api/errors";
import { LoyaltyEventMessage } from "../../events/event.types";
import { requestHash } from "../touchpoint/request-hash";
import { CREDIT_POINTS, DEBIT_POINTS } from "../touchpoint/touchpoint.sql";
import { writeEvent } from "../rewards/reward.service";
import { expiryOf, OverdraftPolicy } from "./points.policy";

export interface AdjustmentResult {
  customerId: string;
  /** Points actually posted (a debit may stop at zero under CLAMP_AT_ZERO). */
  points: number;
  shortfall: number;
  balance: number;
  replayed: boolean;
}

export interface TransferResult {
  kind: "transfer" | "insufficient";
  fromCustomerId: string;
  toCustomerId: string;
  points: number;
  fromBalance: number;
  toBalance: number;
  replayed: boolean;
}

type Stored<T> = { replay: T } | { claimed: true };

export class PointsService {
  /** Claims the key, or returns the stored result of a retry (refusing a key reused for something else). */
  private async claim<T>(tx: Tx, programId: string, key: string, kind: string, hash: string): Promise<Stored<T>> {
    const [claimed] = await tx.query(
      `INSERT INTO point_operations (program_id, idempotency_key, kind, request_hash, result) VALUES ($1, $2, $3, $4, '{}')
       ON CONFLICT DO NOTHING RETURNING 1 AS ok`,
      [programId, key, kind, hash],
    );
    if (claimed) return { claimed: true };
    const [stored] = await tx.query(`SELECT kind, request_hash, result FROM point_operations WHERE program_id = $1 AND idempotency_key = $2`, [programId, key]);
    if (stored.kind !== kind || stored.request_hash !== hash) throw new IdempotencyKeyReused("idempotencyKey", key);
    return { replay: { ...stored.result, replayed: true } };
  }

  private async store(tx: Tx, programId: string, key: string, result: unknown): Promise<void> {
    await tx.query(`UPDATE point_operations SET result = $3 WHERE program_id = $1 AND idempotency_key = $2`, [programId, key, JSON.stringify(result)]);
  }

  async adjust(
    ctx: RequestContext,
    programId: string,
    input: { customerId: string; points: number; reason: string; idempotencyKey: string },
  ): Promise<AdjustmentResult> {
    const config = await ctx.app.programs.config(programId);
    const hash = requestHash({ customerId: input.customerId, points: input.points, reason: input.reason });
    const events: LoyaltyEventMessage[] = [];
    const result = await ctx.app.db.transaction(async (tx) => {
      events.length = 0;
      const [customer] = await tx.query(`SELECT id, erased_at FROM customers WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE`, [
        programId,
        input.customerId,
      ]);
      if (!customer || customer.erased_at) throw new NotFound("Customer", "customerId");
      const claim = await this.claim<AdjustmentResult>(tx, programId, input.idempotencyKey, "ADJUSTMENT", hash);
      if ("replay" in claim) return claim.replay;
      const now = ctx.app.clock();
      let posted: number;
      let shortfall = 0;
      let balance: number;
      if (input.points > 0) {
        const [credit] = await tx.query(
          CREDIT_POINTS,
          [
            programId,
            customer.id,
            input.points,
            "ADJUSTMENT",
            "ADJUSTMENT",
            null,
            now,
            expiryOf(config.points, now, config.program.timeZone),
            input.idempotencyKey,
            input.reason,
            true,
          ],
          { prepare: true },
        );
        posted = input.points;
        balance = Number(credit.balance);
      } else {
        const allowNegative = config.points.overdraft === OverdraftPolicy.ALLOW_NEGATIVE;
        const [debit] = await tx.query(
          DEBIT_POINTS,
          [programId, customer.id, -input.points, allowNegative, "ADJUSTMENT", null, null, input.idempotencyKey, input.reason],
          { prepare: true },
        );
        posted = -Number(debit.posted);
        shortfall = Number(debit.shortfall);
        balance = Number(debit.balance);
      }
      const result: AdjustmentResult = { customerId: customer.id, points: posted, shortfall, balance, replayed: false };
      await this.store(tx, programId, input.idempotencyKey, result);
      events.push(await writeEvent(tx, programId, "POINTS_ADJUSTED", customer.id, { points: String(posted), reason: input.reason }));
      return result;
    });
    if (events.length > 0) ctx.app.outbox.publishCommitted(events);
    return result;
  }

  async transfer(
    ctx: RequestContext,
    programId: string,
    input: { fromCustomerId: string; toCustomerId: string; points: number; idempotencyKey: string; reason?: string | null },
  ): Promise<TransferResult> {
    const config = await ctx.app.programs.config(programId);
    const hash = requestHash({ from: input.fromCustomerId, to: input.toCustomerId, points: input.points });
    const events: LoyaltyEventMessage[] = [];
    const result = await ctx.app.db.transaction(async (tx) => {
      events.length = 0;
      // Both customers locked, in id order: two opposite transfers cannot deadlock.
      const rows = await tx.query(
        `SELECT id, balance FROM customers WHERE program_id = $1 AND id = ANY($2::uuid[]) AND erased_at IS NULL ORDER BY id FOR NO KEY UPDATE`,
        [programId, [input.fromCustomerId, input.toCustomerId]],
      );
      const from = rows.find((r) => r.id === input.fromCustomerId);
      const to = rows.find((r) => r.id === input.toCustomerId);
      if (!from) throw new NotFound("Customer", "fromCustomerId");
      if (!to) throw new NotFound("Customer", "toCustomerId");
      const claim = await this.claim<TransferResult>(tx, programId, input.idempotencyKey, "TRANSFER", hash);
      if ("replay" in claim) return claim.replay;
      if (Number(from.balance) < input.points) {
        // Nothing moves; the key is released so the same transfer can be tried again later.
        await tx.query(`DELETE FROM point_operations WHERE program_id = $1 AND idempotency_key = $2`, [programId, input.idempotencyKey]);
        return {
          kind: "insufficient",
          fromCustomerId: from.id,
          toCustomerId: to.id,
          points: input.points,
          fromBalance: Number(from.balance),
          toBalance: Number(to.balance),
          replayed: false,
        } as TransferResult;
      }
      const now = ctx.app.clock();
      // The points keep the earliest expiry of the lots they leave: a transfer never extends their life.
      const [first] = await tx.query(
        `SELECT expires_at FROM point_lots WHERE program_id = $1 AND customer_id = $2 AND status = 'ACTIVE' AND remaining > 0 ORDER BY expires_at NULLS LAST, id LIMIT 1`,
        [programId, from.id],
      );
      const note = input.reason ?? "transfer";
      const [debit] = await tx.query(DEBIT_POINTS, [programId, from.id, input.points, false, "TRANSFER_OUT", null, null, input.idempotencyKey, note], {
        prepare: true,
      });
      const [credit] = await tx.query(
        CREDIT_POINTS,
        [
          programId,
          to.id,
          input.points,
          "TRANSFER_IN",
          "TRANSFER",
          null,
          now,
          first ? first.expires_at : expiryOf(config.points, now, config.program.timeZone),
          input.idempotencyKey,
          note,
          false,
        ],
        { prepare: true },
      );
      const result: TransferResult = {
        kind: "transfer",
        fromCustomerId: from.id,
        toCustomerId: to.id,
        points: input.points,
        fromBalance: Number(debit.balance),
        toBalance: Number(credit.balance),
        replayed: false,
      };
      await this.store(tx, programId, input.idempotencyKey, result);
      events.push(await writeEvent(tx, programId, "POINTS_ADJUSTED", from.id, { points: String(-input.points), reason: note }));
      events.push(await writeEvent(tx, programId, "POINTS_ADJUSTED", to.id, { points: String(input.points), reason: note }));
      return result;
    });
    if (events.length > 0) ctx.app.outbox.publishCommitted(events);
    return result;
  }
}
