/**
 * What a write batch writes, computed in memory from what its read returned: for each customer,
 * its records in arrival order, each evaluated from the customer's exact state right before it
 * (earning rules first, then the ladder). Pure but for the caps, which count what the batch gives.
 * The rows it returns are the parameters of WRITE_BATCH (batch.sql.ts); records refer to their
 * touchpoint by `tp`, their position in the batch, since only the write knows the ids.
 */
import { evaluateLadder } from "../../domain/ladder/ladder.engine";
import { Metric } from "../../domain/ladder/ladder.types";
import { metricReader, ratingCountKey, ratingSumKey, windowKey, WindowValues, WINDOW_TYPE_OF_METRIC } from "../customer/customer.metrics";
import { AppliedRule } from "../program/earning";
import { ProgramConfig, stageOf } from "../program/program.config";
import type { WriteItem } from "./batch-writer";
import { BatchCaps, earnFor, LotPlan, lotsFor, storedEarning } from "./batch-points";
import { COUNTERS, zeroCounters } from "./touchpoint.deltas";

/** NPS answers from 0 to this are detractors (the NPS convention: 9-10 promoters, 7-8 passives). */
export const DETRACTOR_MAX_NPS = 6;

const DAY_MS = 86_400_000;
const cents = (n: number) => Math.round(n * 100) / 100;
const earliest = (a: Date | null, b: Date): Date => (a && a <= b ? a : b);
const latest = (a: Date | null, b: Date): Date => (a && a >= b ? a : b);

/** A customer's state as a batch evaluates it: its row and windowed values, moved record by record. */
export interface CustomerState {
  row: any;
  windows: WindowValues;
}

/** A customer as the read statement gave it, its sums as numbers (bigint and numeric come as text). */
export function stateOf(row: any, windows: WindowValues): CustomerState {
  return {
    row: {
      ...row,
      balance: Number(row.balance),
      pending_points: Number(row.pending_points),
      lifetime_points: Number(row.lifetime_points),
      purchase_amount: Number(row.purchase_amount),
    },
    windows,
  };
}

/** A stage move a record caused, as WRITE_BATCH stores it. */
export interface PlannedMove {
  ord: number;
  tp: number;
  customer_id: string;
  from_key: string;
  to_key: string;
  reason: ReturnType<typeof evaluateLadder>;
}

/** One record as evaluated: what its answer is built from once the write returns the ids. */
export interface Evaluated {
  ord: number;
  customerId: string;
  points: number;
  pending: boolean;
  applied: AppliedRule[];
  move: PlannedMove | null;
  /** The customer right after the record. */
  row: any;
}

export interface BatchPlan {
  touchpoints: object[];
  customerUpdates: Array<{ id: string } & Record<string, unknown>>;
  lots: LotPlan[];
  moves: PlannedMove[];
  eventRows: object[];
  evaluated: Map<WriteItem, Evaluated>;
}

/** Evaluates `byCustomer` (each customer's new records, in arrival order; `ordOf` their positions). */
export function planBatch(
  config: ProgramConfig,
  byCustomer: Map<string, WriteItem[]>,
  ordOf: Map<WriteItem, number>,
  states: Map<string, CustomerState>,
  caps: BatchCaps,
  now: Date,
): BatchPlan {
  const plan: BatchPlan = { touchpoints: [], customerUpdates: [], lots: [], moves: [], eventRows: [], evaluated: new Map() };
  for (const [customerId, mine] of byCustomer) {
    const state = states.get(customerId)!;
    const before = { balance: state.row.balance, pending: state.row.pending_points, lifetime: state.row.lifetime_points };
    let stage = state.row.stage_key as string;
    let stageEnteredAt: Date = state.row.stage_entered_at;
    let moved = false;
    let firstPurchaseAt: Date | null = null;
    let lastPurchaseAt: Date | null = null;
    let nps: number | null = null;
    const counters = zeroCounters();
    for (const item of mine) {
      const { deltas, record } = item;
      const ord = ordOf.get(item)!;
      // Points first, from the state right before the record (its stage, what caps already gave).
      const earned = earnFor(config, record, customerId, stage, state.row.tier_key ?? null, caps);
      caps.add(customerId, record.occurredAt, earned);
      const planned = lotsFor(config, record, earned, { customerId, tp: ord }, state.row.balance, now);
      plan.lots.push(...planned.lots);
      const earning = storedEarning(record, earned, planned.pending);
      plan.touchpoints.push({
        ord,
        customer_id: customerId,
        type: record.type,
        external_id: record.externalId,
        channel: record.channel ?? null,
        occurred_at: record.occurredAt.toISOString(),
        amount: record.amount,
        currency: record.currency ?? null,
        rating: record.rating ?? null,
        product_id: record.productId ?? null,
        data: record.data ?? null,
        request_hash: item.hash,
        points: earned.total,
        // Stored whenever there is something to explain or to refund by line later (lines that earned 0 too).
        earning: earned.total !== 0 || earned.applied.length > 0 || earning.lines.length > 0 ? earning : null,
      });
      const npsBefore = state.row.nps;
      apply(state, item, config, now, earned.total, planned.pending);
      for (const c of COUNTERS) counters[c] += deltas.counters[c];
      if (deltas.purchaseAt) {
        firstPurchaseAt = earliest(firstPurchaseAt, deltas.purchaseAt);
        lastPurchaseAt = latest(lastPurchaseAt, deltas.purchaseAt);
      }
      if (deltas.nps !== null) nps = deltas.nps;
      const reason = evaluateLadder(config.ladder, metricReader(state.row, state.windows, now));
      let move: PlannedMove | null = null;
      if (reason.stage !== stage) {
        move = { ord: plan.moves.length, tp: ord, customer_id: customerId, from_key: stage, to_key: reason.stage, reason };
        plan.moves.push(move);
        stage = reason.stage;
        stageEnteredAt = now;
        moved = true;
      }
      // The touchpoint's id (and a move's transition) are added by the write statement, which assigns them.
      const recorded = {
        type: record.type,
        externalId: record.externalId,
        points: earned.total,
        pending: planned.pending,
        balance: String(state.row.balance),
        occurredAt: record.occurredAt.toISOString(),
      };
      plan.eventRows.push({ ord: plan.eventRows.length, tp: ord, topic: "TOUCHPOINT_RECORDED", customer_id: customerId, payload: recorded });
      // Service recovery (docs/domain.md §5): a detractor's answer is an alert of its own, so a tool can
      // act on it without reading every touchpoint.
      if (deltas.nps !== null && deltas.nps <= DETRACTOR_MAX_NPS) {
        // A survey response (submitSurveyResponse) names its survey and the client's responseId in
        // data.survey; a SURVEY_RESPONSE recorded directly has neither.
        const fromSurvey = record.keyField === "responseId";
        const alert = {
          nps: deltas.nps,
          previousNps: npsBefore ?? null,
          surveyId: fromSurvey ? (record.data?.survey as any)?.id : null,
          externalId: fromSurvey ? (record.data?.survey as any)?.responseId : record.externalId,
          occurredAt: record.occurredAt.toISOString(),
        };
        plan.eventRows.push({ ord: plan.eventRows.length, tp: ord, topic: "DETRACTOR_ALERT", customer_id: customerId, payload: alert });
      }
      if (move) {
        const ref = (s: { key: string; name: string; rank: number } | null) => (s ? { key: s.key, name: s.name, rank: s.rank } : null);
        const payload = { customerId, from: ref(stageOf(config, move.from_key)), to: ref(config.stageByKey.get(move.to_key)!), reason, cause: "TOUCHPOINT" };
        plan.eventRows.push({ ord: plan.eventRows.length, tp: ord, topic: "STAGE_CHANGED", customer_id: customerId, payload });
      }
      plan.evaluated.set(item, {
        ord,
        customerId,
        points: earned.total,
        pending: planned.pending,
        applied: earned.applied,
        move,
        row: { ...state.row, stage_key: stage, stage_entered_at: stageEnteredAt },
      });
    }
    counters.purchase_amount = cents(counters.purchase_amount);
    plan.customerUpdates.push({
      id: customerId,
      row_version: state.row.row_version,
      touchpoint_count: mine.length,
      ...counters,
      balance: state.row.balance - before.balance,
      pending: state.row.pending_points - before.pending,
      lifetime: state.row.lifetime_points - before.lifetime,
      first_purchase_at: firstPurchaseAt?.toISOString() ?? null,
      last_purchase_at: lastPurchaseAt?.toISOString() ?? null,
      nps,
      // Sent whenever the customer moved, also away and back within the batch (the entry time changes).
      stage_key: moved ? stage : null,
    });
  }
  return plan;
}

/** Adds one record's effect to its customer's state; `points` it earned (pending or not). */
function apply(state: CustomerState, item: WriteItem, config: ProgramConfig, now: Date, points: number, pending: boolean): void {
  const { deltas, record } = item;
  const row = state.row;
  if (pending) row.pending_points += points;
  else row.balance += points;
  row.lifetime_points += points;
  row.touchpoint_count += 1;
  for (const counter of COUNTERS) row[counter] += deltas.counters[counter];
  row.purchase_amount = cents(row.purchase_amount);
  if (deltas.purchaseAt) {
    row.last_purchase_at = latest(row.last_purchase_at, deltas.purchaseAt);
    row.first_purchase_at = earliest(row.first_purchase_at, deltas.purchaseAt);
  }
  if (deltas.nps !== null) row.nps = deltas.nps;
  for (const w of config.windows) {
    if (WINDOW_TYPE_OF_METRIC[w.metric] !== record.type || record.occurredAt.getTime() <= now.getTime() - w.windowDays * DAY_MS) continue;
    const key = windowKey(w.metric, w.windowDays);
    if (w.metric === Metric.AVERAGE_RATING) {
      // Integer sum and count, so the average at each step is exact (24 / 6 is 4, not 3.9999…).
      const n = (state.windows.get(ratingCountKey(w.windowDays)) ?? 0) + 1;
      const sum = (state.windows.get(ratingSumKey(w.windowDays)) ?? 0) + (record.rating ?? 0);
      state.windows.set(ratingCountKey(w.windowDays), n);
      state.windows.set(ratingSumKey(w.windowDays), sum);
      state.windows.set(key, sum / n);
    } else if (w.metric === Metric.PURCHASE_AMOUNT) {
      state.windows.set(key, cents((state.windows.get(key) ?? 0) + (record.amount ?? 0)));
    } else {
      state.windows.set(key, (state.windows.get(key) ?? 0) + 1);
    }
  }
}
