/**
 * Tiers over the database: upgrades with the touchpoints that qualify (planned between a write
 * batch's read and write, written by its write), downgrades by the review job at window end +
 * grace, and manual tiers.
 * Depends only on a transaction and the program's configuration, so the write worker can call it.
 */
import { Queryable, Tx } from "../../db/db";
import { LoyaltyEventMessage, messageFromOutboxRow } from "../../events/event.types";
import { nextReview, qualifiedTier, reviewedTier, TierLevel, windowAt } from "../../domain/points/tiers";
import { ProgramConfig } from "../program/program.config";
import { APPLY_TIERS, LOCK_DUE_REVIEWS, TIER_VALUES } from "./tier.sql";

const DAY_MS = 86_400_000;

export interface TierChange {
  customer_id: string;
  from_key: string | null;
  to_key: string | null;
  review_at: string | null;
  manual_until: string | null;
  changed: boolean;
  reason: Record<string, unknown>;
  cause: string;
}

export interface CustomerForTier {
  id: string;
  created_at: Date | string;
  tier_key: string | null;
  tier_manual_until?: Date | string | null;
}

export async function windowValues(db: Queryable, config: ProgramConfig, windows: Array<{ id: string; start: Date; end: Date }>): Promise<Map<string, number>> {
  if (windows.length === 0) return new Map();
  const rows = await db.query(
    TIER_VALUES,
    [config.program.id, windows.map((w) => w.id), windows.map((w) => w.start), windows.map((w) => w.end), config.tierPolicy.basis],
    { prepare: true },
  );
  return new Map(rows.map((r) => [r.id, Number(r.value)]));
}

function reason(config: ProgramConfig, value: number, level: TierLevel | null, window: { start: Date; end: Date }, summary: string) {
  return { basis: config.tierPolicy.basis, value, threshold: level?.threshold ?? null, windowStart: window.start, windowEnd: window.end, summary };
}

export async function applyTierChanges(tx: Tx, config: ProgramConfig, changes: TierChange[], now: Date): Promise<LoyaltyEventMessage[]> {
  if (changes.length === 0) return [];
  const [row] = await tx.query(APPLY_TIERS, [config.program.id, JSON.stringify(changes), now], { prepare: true });
  return row.events.map(messageFromOutboxRow);
}

/** A record of a write batch, as far as tier values count it. */
export interface TierContribution {
  type: string;
  occurredAt: Date;
  points: number;
  amount: number | null;
}

/**
 * The upgrades a write batch makes: every customer whose current window, with the batch's own
 * records added, qualifies for a higher tier (never a downgrade here: that waits for the review;
 * a manual tier is no ceiling either). `db` reads what the window held before the batch; the
 * batch writes the changes with its touchpoints (WRITE_BATCH), so a concurrent writer makes the
 * whole batch start over, as for any other value it read.
 */
export async function planTierUpgrades(
  db: Queryable,
  config: ProgramConfig,
  customers: Array<{ row: CustomerForTier; records: TierContribution[] }>,
  now: Date,
): Promise<TierChange[]> {
  if (config.tiers.length === 0 || customers.length === 0) return [];
  const tz = config.program.timeZone;
  const policy = config.tierPolicy;
  const windows = customers.map(({ row }) => ({ id: row.id, ...windowAt(policy, now, new Date(row.created_at), tz) }));
  const before = await windowValues(db, config, windows);
  const changes: TierChange[] = [];
  customers.forEach(({ row, records }, i) => {
    const { start, end } = windows[i];
    // What TIER_VALUES would sum once the batch's touchpoints are stored, in whole cents (amounts
    // have two decimals): adding floats, 42 + 8.02 would be 50.019999999999996.
    let cents = Math.round((before.get(row.id) ?? 0) * 100);
    for (const r of records) {
      if (r.occurredAt < start || r.occurredAt >= end) continue;
      if (policy.basis === "POINTS_EARNED") cents += r.points * 100;
      else if (r.type === "PURCHASE") cents += Math.round((r.amount ?? 0) * 100);
      else if (r.type === "REFUND") cents -= Math.round((r.amount ?? 0) * 100);
    }
    const value = cents / 100;
    const qualified = qualifiedTier(config.tiers, value);
    const current = config.tiers.find((t) => t.key === row.tier_key) ?? null;
    if (!qualified || (current && qualified.rank <= current.rank)) return;
    changes.push({
      customer_id: row.id,
      from_key: row.tier_key,
      to_key: qualified.key,
      review_at: nextReview(policy, now, new Date(row.created_at), tz).toISOString(),
      manual_until: null,
      changed: true,
      cause: "QUALIFIED",
      reason: reason(config, value, qualified, windows[i], `${policy.basis} ${value} >= ${qualified.threshold}`),
    });
  });
  return changes;
}

/** Reviews tiers due (window end + grace passed): keep, one tier down, or to the tier the window's value supports. */
export async function reviewTiers(
  db: { transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> },
  config: ProgramConfig,
  now: Date,
  publish: (e: LoyaltyEventMessage[]) => void,
): Promise<{ reviewed: number; changed: number }> {
  const tz = config.program.timeZone;
  const policy = config.tierPolicy;
  let reviewed = 0;
  let changed = 0;
  for (;;) {
    const batch = await db.transaction(async (tx) => {
      const due = await tx.query(LOCK_DUE_REVIEWS, [config.program.id, now, 2000]);
      // The window that ended when the review fell due (review = window end + grace).
      const windows = due.map((c) => {
        const end = new Date(new Date(c.tier_review_at).getTime() - policy.graceDays * DAY_MS);
        const w =
          policy.window === "ROLLING_DAYS"
            ? { start: new Date(end.getTime() - policy.windowDays * DAY_MS), end }
            : windowAt(policy, new Date(end.getTime() - 1), new Date(c.created_at), tz);
        return { id: c.id as string, ...w };
      });
      const values = await windowValues(tx, config, windows);
      const changes: TierChange[] = due.map((c, i) => {
        const value = values.get(c.id) ?? 0;
        const current = config.tiers.find((t) => t.key === c.tier_key) ?? null;
        const qualified = qualifiedTier(config.tiers, value);
        const target = reviewedTier(policy, config.tiers, current, qualified);
        const moved = (target?.key ?? null) !== c.tier_key;
        return {
          customer_id: c.id,
          from_key: c.tier_key,
          to_key: target?.key ?? null,
          review_at: target ? nextReview(policy, now, new Date(c.created_at), tz).toISOString() : null,
          manual_until: null,
          changed: moved,
          cause: "REVIEW",
          reason: reason(config, value, target, windows[i], moved ? `review: ${policy.basis} ${value} in the window; ${policy.downgrade}` : `review: kept`),
        };
      });
      const events = await applyTierChanges(tx, config, changes, now);
      tx.afterCommit(() => publish(events));
      return { n: due.length, changed: changes.filter((c) => c.changed).length };
    });
    reviewed += batch.n;
    changed += batch.changed;
    if (batch.n < 2000) return { reviewed, changed };
  }
}
