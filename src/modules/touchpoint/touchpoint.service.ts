/**
 * The write path of every touchpoint (architecture.md): in one transaction, claim the idempotency
 * key, store the touchpoint, post its points, bump the customer's counters, evaluate the ladder,
 * move the stage if it changed, and write the events; publish them after commit.
 *
 * Purchases, reviews and other touchpoints go through the WriteBatcher (group commit). A refund is
 * written alone: it locks the refunded purchase to serialize the refunds of one order.
 */
import { RequestContext } from "../../context";
import { Tx } from "../../db/db";
import { BadInput, NotFound } from "../../api/errors";
import { evaluateLadder } from "../../domain/ladder/ladder.engine";
import { StageReason } from "../../domain/ladder/ladder.types";
import { messageFromOutboxRow, LoyaltyEventMessage } from "../../events/event.types";
import { metricReader, loadWindowValues } from "../customer/customer.metrics";
import { customerFromRow } from "../customer/customer.types";
import { ProgramConfig, stageOf } from "../program/program.config";
import { computePoints, refundPoints, TouchpointType } from "../program/earning";
import { touchpointFromRow } from "./touchpoint.types";
import { CounterDeltas, counterParams, MOVE_STAGE, POST_REFUND } from "./touchpoint.sql";
import { requestHash } from "./request-hash";
import { WriteBatcher } from "./write-batcher";
import { CONFIG_CHANGED } from "./batch-writer";
import { WriteWorkerClient } from "./write-worker.client";
import type { App } from "../../app";
import { StageMove, TouchpointRecord, RecordResult } from "./touchpoint.model";
import { ExternalIdCache } from "./external-id.cache";
import { loadReplay } from "./replay";

const NO_COUNTERS: Omit<CounterDeltas, "ledgerKind"> = {
  purchaseCount: 0,
  purchaseAmount: 0,
  isPurchase: false,
  reviewCount: 0,
  ratingSum: 0,
  referralCount: 0,
  socialShareCount: 0,
  visitCount: 0,
  productViewCount: 0,
  supportContactCount: 0,
  eventAttendanceCount: 0,
  nps: null,
};

/** Points are stored per touchpoint as a 32-bit integer; no real purchase comes near this. */
const MAX_POINTS_PER_RECORD = 1_000_000_000;

export class TouchpointService {
  readonly externalIds = new ExternalIdCache(100_000);
  private readonly batcher: WriteBatcher;

  /** The write worker thread, when the configuration asks for one. */
  readonly worker?: WriteWorkerClient;

  constructor(app: App) {
    const { config } = app;
    if (config.writeWorker && config.databaseUrl) {
      this.worker = new WriteWorkerClient({ databaseUrl: config.databaseUrl, poolSize: 2 }, app.log);
    }
    this.batcher = new WriteBatcher(app, this.externalIds, this.worker);
  }

  async record(ctx: RequestContext, config: ProgramConfig, record: TouchpointRecord): Promise<RecordResult> {
    if (record.type !== TouchpointType.REFUND) {
      if (Math.abs(computePoints(config.rules, record.type, record.amount).total) > MAX_POINTS_PER_RECORD) {
        throw new BadInput("amount", `this record would post more than ${MAX_POINTS_PER_RECORD.toLocaleString("en")} points`);
      }
      return this.batcher.submit(config, record);
    }
    const events: LoyaltyEventMessage[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await ctx.app.db.transaction(async (tx) => {
          events.length = 0;
          // As a batch does: never evaluate with a ladder another process has replaced meanwhile.
          const [program] = await tx.query(`SELECT updated_at::text AS version FROM programs WHERE id = $1 FOR SHARE`, [config.program.id]);
          if (program?.version !== config.version) throw Object.assign(new Error("configuration changed"), { code: CONFIG_CHANGED });
          return this.refund(ctx, tx, config, record, events);
        });
        if (events.length > 0) ctx.app.outbox.publishCommitted(events);
        return result;
      } catch (err) {
        if ((err as { code?: string }).code !== CONFIG_CHANGED || attempt >= 3) throw err;
        ctx.app.programs.cache.invalidate(config.program.id);
        config = await ctx.app.programs.config(config.program.id);
      }
    }
  }

  /** A refund: takes back the points of what was refunded, pro rata, never more than the purchase earned. */
  private async refund(ctx: RequestContext, tx: Tx, config: ProgramConfig, record: TouchpointRecord, events: LoyaltyEventMessage[]): Promise<RecordResult> {
    const programId = config.program.id;
    const hash = requestHash(record.hashed);
    // Lock the purchase: refunds of one order are serialized, so together they never reverse more than it earned.
    const [purchase] = await tx.query(
      `SELECT id, customer_id, amount, points, refunded_amount, points_reversed, currency FROM touchpoints
        WHERE program_id = $1 AND type = 'PURCHASE' AND external_id = $2 FOR UPDATE`,
      [programId, record.relatedExternalId],
    );
    if (!purchase) throw new NotFound(`Purchase with orderId "${record.relatedExternalId}"`, "orderId");
    const replay = await loadReplay(tx, config, record, hash);
    if (replay) return replay;
    const amount = Number(purchase.amount);
    const refunded = Number(purchase.refunded_amount);
    const refund = record.amount!;
    if (refund > amount - refunded + 0.0001) {
      throw new BadInput("amount", `refund of ${refund} exceeds what is left to refund on order "${record.relatedExternalId}" (${(amount - refunded).toFixed(2)})`);
    }
    if (purchase.currency && record.currency && purchase.currency !== record.currency) {
      throw new BadInput("currency", `the order was paid in ${purchase.currency}`);
    }
    const customerId: string = purchase.customer_id;
    const points = -refundPoints(
      { amount, points: purchase.points, refundedAmount: refunded, pointsReversed: purchase.points_reversed },
      refund,
    );
    const completes = amount > 0 && refunded + refund >= amount - 0.005;
    const deltas: CounterDeltas = { ...NO_COUNTERS, ledgerKind: "REVERSAL", purchaseAmount: -refund, purchaseCount: completes ? -1 : 0 };
    const extra: unknown[] = [purchase.id, refund];
    let rows: any[];
    try {
      rows = await tx.query(
        POST_REFUND,
        [
          programId,
          customerId,
          record.type,
          record.externalId,
          record.channel ?? null,
          record.occurredAt,
          record.amount ?? null,
          record.currency ?? null,
          record.rating ?? null,
          record.productId ?? null,
          record.relatedExternalId ?? null,
          record.data ?? null,
          points,
          hash,
          ...counterParams(deltas),
          ...extra,
        ],
        { prepare: true },
      );
    } catch (err: any) {
      if (err?.code === "23503") throw new NotFound("Customer", "customerId");
      throw err;
    }
    if (rows.length === 0) {
      const replay = await loadReplay(tx, config, record, hash);
      if (!replay) throw new Error("touchpoint key conflicted but no stored touchpoint was found");
      return replay;
    }

    const row = rows[0];
    events.push(messageFromOutboxRow({ id: row.ev_id, program_id: programId, topic: "TOUCHPOINT_RECORDED", customer_id: customerId, payload: row.ev_payload, created_at: row.ev_created_at }));
    const touchpoint = touchpointFromRow({
      id: row.tp_id,
      customer_id: customerId,
      type: record.type,
      external_id: record.externalId,
      channel: record.channel ?? null,
      occurred_at: row.tp_occurred_at,
      recorded_at: row.tp_recorded_at,
      amount: record.amount ?? null,
      currency: record.currency ?? null,
      rating: record.rating ?? null,
      product_id: record.productId ?? null,
      related_external_id: record.relatedExternalId ?? null,
      data: record.data ?? null,
      points,
    });
    const customerRow = row;
    const move = await this.evaluateAndMove(ctx, tx, config, customerRow, "TOUCHPOINT", touchpoint.id, events);
    if (move) {
      customerRow.stage_key = move.to.key;
      customerRow.stage_entered_at = move.at;
    }
    return { touchpoint, pointsEarned: points, customer: customerFromRow(customerRow), stageChange: move, replayed: false };
  }

  /**
   * Evaluates the ladder for a customer row this transaction holds locked, and moves the stage when
   * the answer differs. Windowed metrics are read here, after the lock, so they include every
   * touchpoint committed before ours (READ COMMITTED: a new statement, a new snapshot).
   */
  async evaluateAndMove(
    ctx: RequestContext,
    tx: Tx,
    config: ProgramConfig,
    customerRow: any,
    cause: string,
    touchpointId: string | null,
    events: LoyaltyEventMessage[],
  ): Promise<StageMove | null> {
    const now = ctx.app.clock();
    const windows = (await loadWindowValues(tx, config.program.id, [customerRow.id], config.windows, now)).get(customerRow.id)!;
    const reason = evaluateLadder(config.ladder, metricReader(customerRow, windows, now));
    if (reason.stage === customerRow.stage_key) return null;
    return this.moveStage(tx, config, customerRow.id, customerRow.stage_key, reason, cause, touchpointId, events);
  }

  async moveStage(
    tx: Tx,
    config: ProgramConfig,
    customerId: string,
    fromKey: string | null,
    reason: StageReason,
    cause: string,
    touchpointId: string | null,
    events: LoyaltyEventMessage[],
  ): Promise<StageMove> {
    const from = fromKey ? stageOf(config, fromKey) : null;
    const to = config.stageByKey.get(reason.stage)!;
    const stageRef = (s: typeof to | null) => (s ? { key: s.key, name: s.name, rank: s.rank } : null);
    const payload = { customerId, from: stageRef(from), to: stageRef(to), reason, cause, touchpointId };
    const [row] = await tx.query(
      MOVE_STAGE,
      [config.program.id, customerId, to.key, fromKey, cause, touchpointId, JSON.stringify(reason), JSON.stringify(payload)],
      { prepare: true },
    );
    events.push(messageFromOutboxRow({ id: row.ev_id, program_id: config.program.id, topic: "STAGE_CHANGED", customer_id: customerId, payload: row.ev_payload, created_at: row.ev_created_at }));
    return { id: String(row.id), from, to, at: row.at, cause, touchpointId, reason };
  }
}
