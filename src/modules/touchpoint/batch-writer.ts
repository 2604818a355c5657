/**
 * One write batch, inside a transaction the caller opens (in this thread, or in the write worker):
 * resolve customers, claim every key and post every point (one statement), read windowed metrics
 * once, evaluate the ladder for each record in arrival order (pure, in memory), then store moves
 * and events (one statement). Depends on nothing but the database and the external-id cache, so
 * a worker thread can run it.
 */
import { Tx } from "../../db/db";
import { evaluateLadder } from "../../domain/ladder/ladder.engine";
import { Metric } from "../../domain/ladder/ladder.types";
import { LoyaltyEventMessage, messageFromOutboxRow } from "../../events/event.types";
import { loadWindowValues, metricReader, ratingCountKey, ratingSumKey, windowKey, WindowValues } from "../customer/customer.metrics";
import { customerFromRow } from "../customer/customer.types";
import { ProgramConfig, stageOf } from "../program/program.config";
import { APPLY_OUTCOME, CLAIM_AND_POST, RESOLVE_EXTERNAL_CUSTOMERS } from "./batch.sql";
import { ExternalIdCache } from "./external-id.cache";
import { COUNTERS, ItemDeltas, WINDOW_METRIC_OF_TYPE } from "./touchpoint.deltas";
import { RecordResult, StageMove, TouchpointRecord } from "./touchpoint.model";
import { touchpointFromRow } from "./touchpoint.types";
import { upgradeTiers } from "../tiers/tier.service";
import { owedByBatch } from "../grants/grant.service";
import { BatchCaps, earnFor, LotPlan, lotsFor, StoredEarning, storedEarning } from "./batch-points";

export interface WriteItem {
  record: TouchpointRecord;
  hash: string;
  /** What the record adds to its customer, from the program's rules at batch time. */
  deltas: ItemDeltas;
}

/** The error code of a batch evaluated with a configuration that changed meanwhile (nothing was written). */
export const CONFIG_CHANGED = "CONFIG_CHANGED";

export type Outcome = { kind: "written"; result: RecordResult } | { kind: "replay" };

export interface BatchResult {
  outcomes: Outcome[];
  events: LoyaltyEventMessage[];
  /** Grants the batch owes (referral bonuses, triggered rewards): to give right after commit. */
  grants: number;
}

const DATE_COLUMNS = ["created_at", "updated_at", "stage_entered_at", "first_purchase_at", "last_purchase_at", "tier_since", "tier_review_at", "tier_manual_until"];
const DAY_MS = 86_400_000;

/** A customer row as to_jsonb gives it, with its timestamps back as Dates. */
function parseCustomerJson(row: any): any {
  for (const column of DATE_COLUMNS) if (row[column]) row[column] = new Date(row[column]);
  return row;
}

const cents = (n: number) => Math.round(n * 100) / 100;
const earliest = (a: Date | null, b: Date): Date => (a && a <= b ? a : b);
const latest = (a: Date | null, b: Date): Date => (a && a >= b ? a : b);

export class BatchWriter {
  constructor(private readonly externalIds: ExternalIdCache) {}

  private async resolveCustomers(tx: Tx, config: ProgramConfig, items: WriteItem[]): Promise<Map<WriteItem, string>> {
    const programId = config.program.id;
    const ids = new Map<WriteItem, string>();
    const unknown = new Set<string>();
    for (const item of items) {
      const { customerId, customerExternalId } = item.record;
      const id = customerId ?? this.externalIds.get(programId, customerExternalId!);
      if (id) ids.set(item, id);
      else unknown.add(customerExternalId!);
    }
    if (unknown.size > 0) {
      const wanted = [...unknown].sort();
      const found = new Map<string, string>();
      for (const row of await tx.query(RESOLVE_EXTERNAL_CUSTOMERS, [programId, wanted, config.bottom.key], { prepare: true })) {
        found.set(row.external_id, row.id);
        if (!row.created) this.externalIds.set(programId, row.external_id, row.id);
        else tx.afterCommit(() => this.externalIds.set(programId, row.external_id, row.id));
      }
      const late = wanted.filter((e) => !found.has(e));
      if (late.length > 0) {
        // Created by a concurrent transaction that committed after this statement's snapshot.
        const rows = await tx.query(`SELECT id, external_id FROM customers WHERE program_id = $1 AND external_id = ANY($2::text[])`, [programId, late]);
        for (const row of rows) found.set(row.external_id, row.id);
      }
      for (const item of items) if (!ids.has(item)) ids.set(item, found.get(item.record.customerExternalId!)!);
    }
    return ids;
  }

  /**
   * Writes one batch in the caller's transaction. `now` is the batch's clock (windows, day counts).
   * Outcomes are in the order of `items`: written with its result, or a replay to answer after commit.
   */
  async write(tx: Tx, config: ProgramConfig, items: WriteItem[], now: Date): Promise<BatchResult> {
    const programId = config.program.id;
    const outcomes = new Map<WriteItem, Outcome>();
    const customerOf = await this.resolveCustomers(tx, config, items);

    // The first record of each key is written; a repeat in the same batch is a retry, answered after commit.
    const seen = new Set<string>();
    const primaries = items.filter((item) => {
      const key = `${item.record.type}\u0000${item.record.externalId}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const input = primaries.map((item, ord) => {
      const r = item.record;
      return {
        ord,
        customer_id: customerOf.get(item),
        type: r.type,
        external_id: r.externalId,
        channel: r.channel ?? null,
        occurred_at: r.occurredAt.toISOString(),
        amount: r.amount,
        currency: r.currency ?? null,
        rating: r.rating ?? null,
        product_id: r.productId ?? null,
        data: r.data ?? null,
        request_hash: item.hash,
        ...item.deltas.counters,
      };
    });
    const rows = await tx.query(CLAIM_AND_POST, [programId, JSON.stringify(input), config.version], { prepare: true });
    const after = new Map<string, any>();
    const claimed = new Map<number, { id: string; recorded_at: string }>();
    for (const { kind, row } of rows) {
      if (kind === "c") after.set(row.id, parseCustomerJson(row));
      else if (kind === "t") claimed.set(row.ord, row);
      else if (row.version !== config.version) {
        throw Object.assign(new Error("the program's configuration changed during the batch"), { code: CONFIG_CHANGED });
      }
    }

    const written = primaries.map((item, ord) => ({ item, ord, touchpoint: claimed.get(ord) })).filter((w) => w.touchpoint);
    const customerIds = [...after.keys()];
    const windows: Map<string, WindowValues> = config.windows.length
      ? await loadWindowValues(tx, programId, customerIds, config.windows, now)
      : new Map(customerIds.map((id) => [id, new Map()]));

    const caps = await BatchCaps.load(tx, config, customerIds, written.map((w) => w.item.record));
    const customerUpdates: any[] = [];
    const lots: LotPlan[] = [];
    const earnings: Array<{ id: string; points: number; earning: StoredEarning }> = [];
    const moves: any[] = [];
    const eventRows: any[] = [];
    const results = new Map<WriteItem, { result: RecordResult; move: any }>();

    for (const customerId of customerIds) {
      const mine = written.filter((w) => customerOf.get(w.item) === customerId);
      const final = after.get(customerId);
      const state = this.stateBefore(final, windows.get(customerId)!, mine.map((w) => w.item), config, now);
      let stage = final.stage_key as string;
      let stageEnteredAt: Date = final.stage_entered_at;
      let firstPurchaseAt: Date | null = null;
      let lastPurchaseAt: Date | null = null;
      let nps: number | null = null;
      const pointsBefore = { balance: state.row.balance, pending: state.row.pending_points, lifetime: state.row.lifetime_points };
      for (const { item, touchpoint } of mine) {
        const { deltas, record } = item;
        // Points first, from the state right before the record (its stage, what caps already gave).
        const earned = earnFor(config, record, customerId, stage, state.row.tier_key ?? null, caps);
        caps.add(customerId, record.occurredAt, earned);
        const planned = lotsFor(config, record, earned, { customerId, touchpointId: touchpoint!.id }, state.row.balance, now);
        lots.push(...planned.lots);
        const earning = storedEarning(record, earned, planned.pending);
        // Stored whenever there is something to explain or to refund by line later (lines that earned 0 too).
        if (earned.total !== 0 || earned.applied.length > 0 || earning.lines.length > 0) earnings.push({ id: touchpoint!.id, points: earned.total, earning });
        this.apply(state, item, config, now, +1, earned.total, planned.pending);
        if (deltas.purchaseAt) {
          firstPurchaseAt = earliest(firstPurchaseAt, deltas.purchaseAt);
          lastPurchaseAt = latest(lastPurchaseAt, deltas.purchaseAt);
        }
        if (deltas.nps !== null) nps = deltas.nps;
        const reason = evaluateLadder(config.ladder, metricReader(state.row, state.windows, now));
        let move: any = null;
        if (reason.stage !== stage) {
          const from = stageOf(config, stage);
          const to = config.stageByKey.get(reason.stage)!;
          move = { ord: moves.length, customer_id: customerId, from_key: stage, to_key: reason.stage, touchpoint_id: touchpoint!.id, reason, from, to };
          moves.push(move);
          stage = reason.stage;
          stageEnteredAt = now;
        }
        eventRows.push({
          topic: "TOUCHPOINT_RECORDED",
          customer_id: customerId,
          touchpoint_id: touchpoint!.id,
          payload: this.touchpointEvent(item, touchpoint!.id, earned.total, planned.pending, state.row.balance),
        });
        if (move) {
          const ref = (s: { key: string; name: string; rank: number } | null) => (s ? { key: s.key, name: s.name, rank: s.rank } : null);
          eventRows.push({
            topic: "STAGE_CHANGED",
            customer_id: customerId,
            touchpoint_id: touchpoint!.id,
            payload: { customerId, from: ref(move.from), to: ref(move.to), reason, cause: "TOUCHPOINT", touchpointId: touchpoint!.id },
          });
        }
        const row = { ...state.row, stage_key: stage, stage_entered_at: stageEnteredAt };
        results.set(item, {
          move,
          result: {
            touchpoint: touchpointFromRow({
              id: touchpoint!.id, customer_id: customerId, type: record.type, external_id: record.externalId, channel: record.channel ?? null,
              occurred_at: record.occurredAt, recorded_at: new Date(touchpoint!.recorded_at), amount: record.amount, currency: record.currency ?? null,
              rating: record.rating ?? null, product_id: record.productId ?? null, related_external_id: null, data: record.data ?? null, points: earned.total,
            }),
            pointsEarned: earned.total,
            pointsPending: planned.pending ? earned.total : 0,
            appliedRules: earned.applied,
            customer: customerFromRow(row),
            stageChange: null,
            replayed: false,
          },
        });
      }
      const moved = moves.some((m) => m.customer_id === customerId);
      const points = {
        balance: state.row.balance - pointsBefore.balance,
        pending: state.row.pending_points - pointsBefore.pending,
        lifetime: state.row.lifetime_points - pointsBefore.lifetime,
      };
      if (firstPurchaseAt || nps !== null || moved || points.balance || points.pending || points.lifetime) {
        customerUpdates.push({
          id: customerId,
          ...points,
          first_purchase_at: firstPurchaseAt?.toISOString() ?? null,
          last_purchase_at: lastPurchaseAt?.toISOString() ?? null,
          nps,
          // Sent whenever the customer moved, also away and back within the batch (the entry time changes).
          stage_key: moved ? stage : null,
        });
      }
    }

    const applied = await tx.query(
      APPLY_OUTCOME,
      [
        programId,
        JSON.stringify(customerUpdates),
        JSON.stringify(moves.map(({ from: _f, to: _t, ...m }) => m)),
        JSON.stringify(eventRows.map((e, ord) => ({ ord, ...e }))),
        customerUpdates.map((u) => u.id),
        JSON.stringify(lots.map((lot, ord) => ({ ord, ...lot }))),
        JSON.stringify(earnings),
        JSON.stringify(caps.awarded()),
      ],
      { prepare: true },
    );
    const transitions = new Map<string, { id: string; at: string }>();
    const events: LoyaltyEventMessage[] = [];
    for (const { kind, row } of applied) {
      if (kind === "tr") transitions.set(row.touchpoint_id, row);
      else events.push(messageFromOutboxRow(row));
    }
    // Tiers: upgrade whoever these touchpoints qualified (downgrades wait for the review).
    const tiers = await upgradeTiers(tx, config, customerIds.map((id) => after.get(id)), now);
    events.push(...tiers.events);
    events.sort((a, b) => Number(a.sequence) - Number(b.sequence));
    const upgraded = new Map(tiers.changes.map((c) => [c.customer_id, c]));
    const grants = await owedByBatch(
      tx,
      config,
      written.map((w) => ({ customerId: customerOf.get(w.item)!, type: w.item.record.type, touchpointId: w.touchpoint!.id, occurredAt: w.item.record.occurredAt })),
      now,
    );

    for (const [item, { result, move }] of results) {
      const tier = upgraded.get(result.customer.id);
      if (tier) Object.assign(result.customer.row, { tier_key: tier.to_key, tier_since: now, tier_review_at: tier.review_at, tier_reason: tier.reason, tier_manual_until: null });
      if (move) {
        const t = transitions.get(move.touchpoint_id)!;
        const stageChange: StageMove = { id: t.id, from: move.from, to: move.to, at: new Date(t.at), cause: "TOUCHPOINT", touchpointId: move.touchpoint_id, reason: move.reason };
        result.stageChange = stageChange;
      }
      outcomes.set(item, { kind: "written", result });
    }
    return { outcomes: items.map((item) => outcomes.get(item) ?? { kind: "replay" }), events, grants };
  }

  private touchpointEvent(item: WriteItem, touchpointId: string, points: number, pending: boolean, balance: number) {
    return {
      touchpointId,
      type: item.record.type,
      externalId: item.record.externalId,
      points,
      pending,
      balance: String(balance),
      occurredAt: item.record.occurredAt.toISOString(),
    };
  }

  /**
   * The customer as it was before this batch: the row after the batch's counter UPDATE minus every
   * counter delta of the batch (sums are exact to undo), and the windowed values read after it minus
   * the batch's contributions. Points and the fields that are not sums (first/last purchase, NPS,
   * stage) were not touched yet.
   */
  private stateBefore(final: any, windows: WindowValues, items: WriteItem[], config: ProgramConfig, now: Date) {
    const row = {
      ...final,
      balance: Number(final.balance),
      pending_points: Number(final.pending_points),
      lifetime_points: Number(final.lifetime_points),
      purchase_amount: Number(final.purchase_amount),
    };
    const state = { row, windows: new Map(windows) };
    for (let i = items.length - 1; i >= 0; i--) this.apply(state, items[i], config, now, -1, 0, false);
    return state;
  }

  /** Adds (sign +1) or removes (sign -1) one record's effect on a customer's state; `points` it earned (pending or not). */
  private apply(state: { row: any; windows: WindowValues }, item: WriteItem, config: ProgramConfig, now: Date, sign: 1 | -1, points: number, pending: boolean): void {
    const { deltas, record } = item;
    const row = state.row;
    if (pending) row.pending_points += sign * points;
    else row.balance += sign * points;
    row.lifetime_points += sign * points;
    row.touchpoint_count += sign;
    for (const counter of COUNTERS) row[counter] += sign * deltas.counters[counter];
    row.purchase_amount = cents(row.purchase_amount);
    if (sign > 0) {
      if (deltas.purchaseAt) {
        row.last_purchase_at = latest(row.last_purchase_at, deltas.purchaseAt);
        row.first_purchase_at = earliest(row.first_purchase_at, deltas.purchaseAt);
      }
      if (deltas.nps !== null) row.nps = deltas.nps;
    }
    const fed = WINDOW_METRIC_OF_TYPE[record.type] ?? [];
    for (const w of config.windows) {
      if (!fed.includes(w.metric) || record.occurredAt.getTime() <= now.getTime() - w.windowDays * DAY_MS) continue;
      const key = windowKey(w.metric, w.windowDays);
      if (w.metric === Metric.AVERAGE_RATING) {
        // Integer sum and count, so the average at each step is exact (24 / 6 is 4, not 3.9999…).
        const n = (state.windows.get(ratingCountKey(w.windowDays)) ?? 0) + sign;
        const sum = (state.windows.get(ratingSumKey(w.windowDays)) ?? 0) + sign * (record.rating ?? 0);
        state.windows.set(ratingCountKey(w.windowDays), n);
        state.windows.set(ratingSumKey(w.windowDays), sum);
        state.windows.set(key, n > 0 ? sum / n : null);
      } else if (w.metric === Metric.PURCHASE_AMOUNT) {
        state.windows.set(key, cents((state.windows.get(key) ?? 0) + sign * (record.amount ?? 0)));
      } else {
        state.windows.set(key, (state.windows.get(key) ?? 0) + sign);
      }
    }
  }
}
