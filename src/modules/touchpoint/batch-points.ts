/**
 * Points inside a write batch: what capped rules already gave (read once per batch, then kept in
 * memory as the batch's records earn), and the lots each record's points become.
 */
import { Queryable } from "../../db/db";
import { endOfPeriod, startOfPeriod } from "../../domain/points/calendar";
import { ProgramConfig } from "../program/program.config";
import { computePoints, EarnedPoints, EarningRule, PurchaseLine, TouchpointType } from "../program/earning";
import { activationOf, expiryOf } from "../points/points.policy";
import { CAP_USAGE, LOCK_TOTAL_CAPS } from "./batch.sql";
import { TouchpointRecord } from "./touchpoint.model";

export interface LotPlan {
  customer_id: string;
  /** The record's position in the batch's write statement, which knows its touchpoint id. */
  tp: number;
  rule_id: string;
  amount: number;
  remaining: number;
  status: "ACTIVE" | "PENDING";
  earned_at: string;
  activates_at: string | null;
  expires_at: string | null;
}

/** A record's points, as the payload, the replay and a later refund see them. */
export interface StoredEarning extends Omit<EarnedPoints, "linePoints"> {
  lines: Array<PurchaseLine & { points: number }>;
  pending: boolean;
}

export class BatchCaps {
  private readonly awards = new Map<string, Array<{ ruleId: string; at: number; amount: number }>>();
  private readonly totals = new Map<string, number>();
  private readonly totalStart = new Map<string, number>();

  private constructor(private readonly timeZone: string) {}

  /** Reads what the capped rules gave these customers (and in total), for the periods the batch's records fall in. */
  static async load(tx: Queryable, config: ProgramConfig, customerIds: string[], records: TouchpointRecord[]): Promise<BatchCaps> {
    const caps = new BatchCaps(config.program.timeZone);
    const perCustomer = config.rules.filter((r) => r.capPoints != null && r.capPeriod);
    if (perCustomer.length > 0 && customerIds.length > 0 && records.length > 0) {
      const earliest = records.reduce((min, r) => (r.occurredAt < min ? r.occurredAt : min), records[0].occurredAt);
      // The earliest period start any capped rule needs (a month start covers weeks and days).
      const since = new Date(Math.min(...perCustomer.map((r) => startOfPeriod(earliest, r.capPeriod!, caps.timeZone).getTime())));
      const rows = await tx.query(CAP_USAGE, [config.program.id, customerIds, perCustomer.map((r) => r.id), since]);
      for (const row of rows) caps.record(row.customer_id, row.rule_id, new Date(row.earned_at), Number(row.amount));
    }
    const totalCapped = config.rules.filter((r) => r.totalCap != null).map((r) => r.id);
    if (totalCapped.length > 0) {
      for (const row of await tx.query(LOCK_TOTAL_CAPS, [config.program.id, totalCapped])) {
        caps.totals.set(row.id, Number(row.awarded));
        caps.totalStart.set(row.id, Number(row.awarded));
      }
    }
    return caps;
  }

  private record(customerId: string, ruleId: string, at: Date, amount: number): void {
    const list = this.awards.get(customerId) ?? [];
    list.push({ ruleId, at: at.getTime(), amount });
    this.awards.set(customerId, list);
  }

  usedInPeriod(customerId: string, rule: EarningRule, at: Date): number {
    const start = startOfPeriod(at, rule.capPeriod!, this.timeZone).getTime();
    const end = endOfPeriod(at, rule.capPeriod!, this.timeZone).getTime();
    let used = 0;
    for (const a of this.awards.get(customerId) ?? []) if (a.ruleId === rule.id && a.at >= start && a.at < end) used += a.amount;
    return used;
  }

  usedInTotal(rule: EarningRule): number {
    return this.totals.get(rule.id) ?? 0;
  }

  /** Counts a record's points against its rules' caps, for the records after it. */
  add(customerId: string, at: Date, earned: EarnedPoints): void {
    for (const a of earned.applied) {
      if (a.points <= 0) continue;
      this.record(customerId, a.ruleId, at, a.points);
      if (this.totals.has(a.ruleId)) this.totals.set(a.ruleId, this.totals.get(a.ruleId)! + a.points);
    }
  }

  /** What each total-capped rule gave in this batch (added to earning_rules.awarded). */
  awarded(): Array<{ id: string; points: number }> {
    return [...this.totals].map(([id, total]) => ({ id, points: total - this.totalStart.get(id)! })).filter((a) => a.points !== 0);
  }
}

export function purchaseLines(record: TouchpointRecord): PurchaseLine[] | null {
  const lines = (record.data as { lines?: PurchaseLine[] } | null | undefined)?.lines;
  return Array.isArray(lines) && lines.length > 0 ? lines : null;
}

/** A record's points given the customer's state right before it. */
export function earnFor(
  config: ProgramConfig,
  record: TouchpointRecord,
  customerId: string,
  stage: string,
  tier: string | null,
  caps: BatchCaps,
): EarnedPoints {
  return computePoints(config.rules, {
    type: record.type,
    amount: record.amount,
    lines: purchaseLines(record),
    occurredAt: record.occurredAt,
    timeZone: config.program.timeZone,
    stage,
    tier,
    capUsed: (rule) => caps.usedInPeriod(customerId, rule, record.occurredAt),
    totalUsed: (rule) => caps.usedInTotal(rule),
  });
}

/**
 * The lots of a record's points: one per rule that gave points. Purchase points are pending for
 * the program's return window; spendable lots first pay off a negative balance (`balance` is the
 * customer's balance right before the record).
 */
export function lotsFor(
  config: ProgramConfig,
  record: TouchpointRecord,
  earned: EarnedPoints,
  ids: { customerId: string; tp: number },
  balance: number,
  now: Date,
): { lots: LotPlan[]; pending: boolean } {
  const activatesAt = record.type === TouchpointType.PURCHASE ? activationOf(config.points, record.occurredAt) : null;
  const pending = !!activatesAt && activatesAt > now;
  const expiresAt = expiryOf(config.points, pending ? activatesAt! : record.occurredAt > now ? record.occurredAt : now, config.program.timeZone);
  const lots: LotPlan[] = [];
  for (const a of earned.applied) {
    if (a.points <= 0) continue;
    const debt = pending ? 0 : Math.max(0, -balance);
    const remaining = a.points - Math.min(a.points, debt);
    if (!pending) balance += a.points;
    lots.push({
      customer_id: ids.customerId,
      tp: ids.tp,
      rule_id: a.ruleId,
      amount: a.points,
      remaining,
      status: pending ? "PENDING" : "ACTIVE",
      earned_at: record.occurredAt.toISOString(),
      activates_at: pending ? activatesAt!.toISOString() : null,
      expires_at: expiresAt?.toISOString() ?? null,
    });
  }
  return { lots, pending };
}

export function storedEarning(record: TouchpointRecord, earned: EarnedPoints, pending: boolean): StoredEarning {
  const lines = purchaseLines(record) ?? [];
  return {
    total: earned.total,
    applied: earned.applied,
    orderPoints: earned.orderPoints,
    lines: lines.map((line, i) => ({ ...line, points: earned.linePoints[i] ?? 0 })),
    pending,
  };
}
