/**
 * The write path of every touchpoint (docs/architecture.md): atomically (a batch's one checked write
 * statement, or one transaction), claim the idempotency key, store the touchpoint, post its
 * points, bump the customer's counters, move the stage if the ladder says so, and write the
 * events; publish them after commit.
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
import { LOCK_CUSTOMER } from "../customer/customer.sql";
import { loadProgramConfig, ProgramConfig, stageOf } from "../program/program.config";
import { computePoints, EarningRule, TouchpointType } from "../program/earning";
import { purchaseLines } from "./batch-points";
import { touchpointFromRow } from "./touchpoint.types";
import { DEBIT_POINTS, MOVE_STAGE, POST_REFUND, REVERSE_PENDING, TOUCHPOINT_EVENT } from "./touchpoint.sql";
import { planRefund } from "./refund-plan";
import { CANCEL_PURCHASE_GRANTS } from "../grants/grant.sql";
import { OverdraftPolicy } from "../points/points.policy";
import { requestHash } from "./request-hash";
import { WriteBatcher } from "./write-batcher";
import { WriteWorkerClient } from "./write-worker.client";
import type { App } from "../../app";
import { StageMove, TouchpointRecord, RecordResult } from "./touchpoint.model";
import { ExternalIdCache } from "./external-id.cache";
import { loadReplay } from "./replay";

/** A configuration's rules with their stage and tier conditions dropped, made once per configuration. */
const unrestrictedRules = new WeakMap<ProgramConfig, EarningRule[]>();
function unrestricted(config: ProgramConfig): EarningRule[] {
  let rules = unrestrictedRules.get(config);
  if (!rules) unrestrictedRules.set(config, (rules = config.rules.map((r) => ({ ...r, stages: null, tiers: null }))));
  return rules;
}

/** Points are stored per touchpoint as a 32-bit integer; no real purchase comes near this. */
const MAX_POINTS_PER_RECORD = 1_000_000_000;

export class TouchpointService {
  readonly externalIds = new ExternalIdCache(100_000);
  /** Group commit of the record mutations (public for tests' hooks on its writer). */
  readonly batcher: WriteBatcher;

  /** The write worker thread, when the configuration asks for one. */
  readonly worker?: WriteWorkerClient;

  constructor(app: App) {
    const { config } = app;
    if (config.writeWorker && config.databaseUrl) {
      this.worker = new WriteWorkerClient({ databaseUrl: config.databaseUrl, poolSize: Math.max(2, config.writeBatchesInFlight + 1) }, app.log);
    }
    // PGlite runs one statement at a time on one connection: a second batch in flight would only wait.
    const inFlight = config.databaseUrl ? config.writeBatchesInFlight : 1;
    this.batcher = new WriteBatcher(app, this.externalIds, this.worker, 64, inFlight);
  }

  async record(ctx: RequestContext, config: ProgramConfig, record: TouchpointRecord): Promise<RecordResult> {
    if (record.type !== TouchpointType.REFUND) {
      // An upper bound: every rule as if the customer qualified for it, no caps.
      const bound = computePoints(unrestricted(config), {
        type: record.type,
        amount: record.amount,
        lines: purchaseLines(record),
        occurredAt: record.occurredAt,
        timeZone: config.program.timeZone,
      });
      if (Math.abs(bound.total) > MAX_POINTS_PER_RECORD) {
        throw new BadInput("amount", `this record would post more than ${MAX_POINTS_PER_RECORD.toLocaleString("en")} points`);
      }
      return this.batcher.submit(config, record);
    }
    const events: LoyaltyEventMessage[] = [];
    let changed = false;
    const result = await ctx.app.db.transaction(async (tx) => {
      events.length = 0;
      // As a batch does: never evaluate with a ladder another process has replaced meanwhile. Under
      // the program's lock (shared) the configuration cannot change until commit: one read since
      // the cached one is the one to use (retrying with the cache failed when an ADMIN edited rules
      // many times a second).
      const [program] = await tx.query(`SELECT updated_at::text AS version FROM programs WHERE id = $1 FOR SHARE`, [config.program.id]);
      let current = config;
      if (program?.version !== config.version) {
        current = (await loadProgramConfig(tx, config.program.id)) ?? config;
        changed = true;
      }
      return this.refund(ctx, tx, current, record, events);
    });
    if (changed) ctx.app.programs.cache.invalidate(config.program.id);
    if (events.length > 0) ctx.app.outbox.publishCommitted(events);
    ctx.app.metrics.touchpoints.inc({ outcome: result.replayed ? "replayed" : "written" });
    return result;
  }

  /**
   * A refund: takes back exactly the points of what was refunded (the refunded lines' points, or
   * pro rata to the amount), never more than the purchase earned, and all that is left when the
   * order is fully refunded. Pending points of the order are cancelled first; then spendable points
   * are debited, the order's own lots first; what was spent already is left to the overdraft policy.
   */
  private async refund(ctx: RequestContext, tx: Tx, config: ProgramConfig, record: TouchpointRecord, events: LoyaltyEventMessage[]): Promise<RecordResult> {
    const programId = config.program.id;
    const hash = requestHash(record.hashed);
    // Lock the purchase: refunds of one order are serialized, so together they never reverse more than it earned.
    const [purchase] = await tx.query(
      `SELECT id, customer_id, amount, points, refunded_amount, points_reversed, currency, earning, refunded_lines, refund_completed_at FROM touchpoints
        WHERE program_id = $1 AND type = 'PURCHASE' AND external_id = $2 FOR UPDATE`,
      [programId, record.relatedExternalId],
    );
    if (!purchase) throw new NotFound(`Purchase with orderId "${record.relatedExternalId}"`, "orderId");
    // Then the customer (every writer of a customer locks it; none locks a purchase after it): what
    // is read from here on (expired points, the purchases behind the first and last purchase dates)
    // cannot change until commit.
    const [customer] = await tx.query(LOCK_CUSTOMER, [programId, purchase.customer_id]);
    // An erased customer takes no new record (erasure.ts), a refund neither.
    if (customer.erased_at) throw new NotFound("Customer of the order", "orderId");
    const replay = await loadReplay(tx, config, record, hash);
    if (replay) return replay;
    const [{ expired }] = await tx.query(
      `SELECT coalesce(-sum(le.amount), 0)::bigint AS expired FROM point_lots l
         JOIN ledger_entries le ON le.program_id = l.program_id AND le.lot_id = l.id AND le.kind = 'EXPIRY'
        WHERE l.program_id = $1 AND l.touchpoint_id = $2`,
      [programId, purchase.id],
    );
    const plan = planRefund(purchase, record, Number(expired));
    if (purchase.currency && record.currency && purchase.currency !== record.currency) {
      throw new BadInput("currency", `the order was paid in ${purchase.currency}`);
    }
    const customerId: string = purchase.customer_id;
    const reverse = plan.points;
    const [claimed] = await tx.query(
      POST_REFUND,
      [
        programId,
        customerId,
        record.externalId,
        record.occurredAt,
        plan.amount,
        record.currency ?? purchase.currency ?? null,
        record.relatedExternalId,
        record.data ?? null,
        -reverse,
        hash,
        purchase.id,
        plan.completes ? -1 : 0,
        JSON.stringify(plan.units),
        reverse,
      ],
      { prepare: true },
    );
    if (!claimed) {
      const replay = await loadReplay(tx, config, record, hash);
      if (!replay) throw new Error("touchpoint key conflicted but no stored touchpoint was found");
      return replay;
    }
    let shortfall = 0;
    if (reverse > 0) {
      const [{ cancelled }] = await tx.query(REVERSE_PENDING, [programId, customerId, purchase.id, reverse], { prepare: true });
      const rest = reverse - Number(cancelled);
      if (rest > 0) {
        const allowNegative = config.points.overdraft === OverdraftPolicy.ALLOW_NEGATIVE;
        const [debit] = await tx.query(
          DEBIT_POINTS,
          [programId, customerId, rest, allowNegative, "REVERSAL", claimed.tp_id, purchase.id, `purchase:${purchase.id}`, `order ${record.relatedExternalId}`],
          {
            prepare: true,
          },
        );
        shortfall = Number(debit.shortfall);
        if (shortfall > 0) {
          await tx.query(`UPDATE touchpoints SET points = $3, points_shortfall = $4 WHERE program_id = $1 AND id = $2`, [
            programId,
            claimed.tp_id,
            -(reverse - shortfall),
            shortfall,
          ]);
        }
      }
    }
    // A full refund within the return window also cancels the referral bonuses the purchase earned.
    if (plan.completes) await tx.query(CANCEL_PURCHASE_GRANTS, [programId, purchase.id, ctx.app.clock()]);
    const points = -(reverse - shortfall);
    const [customerRow] = await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND id = $2`, [programId, customerId]);
    const [event] = await tx.query(TOUCHPOINT_EVENT, [
      programId,
      customerId,
      JSON.stringify({
        touchpointId: claimed.tp_id,
        type: record.type,
        externalId: record.externalId,
        points,
        pending: false,
        balance: String(customerRow.balance),
        occurredAt: claimed.tp_occurred_at,
        shortfall,
      }),
    ]);
    events.push(messageFromOutboxRow(event));
    const touchpoint = touchpointFromRow({
      id: claimed.tp_id,
      customer_id: customerId,
      type: record.type,
      external_id: record.externalId,
      channel: null,
      occurred_at: claimed.tp_occurred_at,
      recorded_at: claimed.tp_recorded_at,
      amount: plan.amount,
      currency: record.currency ?? purchase.currency ?? null,
      rating: null,
      product_id: null,
      related_external_id: record.relatedExternalId ?? null,
      data: record.data ?? null,
      points,
    });
    const move = await this.evaluateAndMove(ctx, tx, config, customerRow, "TOUCHPOINT", touchpoint.id, events);
    if (move) {
      customerRow.stage_key = move.to.key;
      customerRow.stage_entered_at = move.at;
    }
    return {
      touchpoint,
      pointsEarned: points,
      pointsPending: 0,
      appliedRules: [],
      pointsShortfall: shortfall,
      customer: customerFromRow(customerRow),
      stageChange: move,
      replayed: false,
    };
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
    events.push(
      messageFromOutboxRow({
        id: row.ev_id,
        program_id: config.program.id,
        topic: "STAGE_CHANGED",
        customer_id: customerId,
        payload: row.ev_payload,
        created_at: row.ev_created_at,
      }),
    );
    return { id: String(row.id), from, to, at: row.at, cause, touchpointId, reason };
  }
}
