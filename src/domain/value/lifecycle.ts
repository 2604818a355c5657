/**
 * Where a customer is in their lifecycle (docs/domain.md §3: contact → acquisition → growth → maturity
 * → decline / churn), from their purchase counters and the clock alone. So every customer has one
 * phase at any moment, a page of customers costs no statement for it, and the same rules run
 * set-based in SQL (lifecyclePhaseSql) for counts per phase and filters.
 *
 * The rules, first match wins:
 *   CONTACT      no purchase yet: known (a visit, a review, a signup) but not acquired;
 *   CHURNED      no purchase for the program's activeDays (ValuePolicy): gone, as CLV counts them;
 *   DECLINE      overdue: no purchase for OVERDUE_FACTOR times the customer's own usual gap (at
 *                least MIN_OVERDUE_DAYS), or, until their purchases span RHYTHM_DAYS (one purchase,
 *                or a few close together), for the program's firstRepeatDays; and in any case
 *                LAST_CALL_DAYS before churning, so every buyer passes through DECLINE on the way out;
 *   ACQUISITION  one purchase, recent: the next step is the second one;
 *   GROWTH       repeat buyer, on schedule, in their first MATURITY_AFTER_DAYS since the first purchase;
 *   MATURITY     repeat buyer, on schedule, for longer.
 * Decline is measured against each customer's own rhythm, so a monthly buyer is overdue after two
 * months and a weekly one after a month, where one fixed number of days would fit neither.
 */
import { DEFAULT_VALUE_POLICY, ValuePolicy, YEAR_DAYS } from "./customer-value";

const DAY_MS = 86_400_000;

export enum LifecyclePhase {
  CONTACT = "CONTACT",
  ACQUISITION = "ACQUISITION",
  GROWTH = "GROWTH",
  MATURITY = "MATURITY",
  DECLINE = "DECLINE",
  CHURNED = "CHURNED",
}

/** A repeat buyer is overdue once the time since their last purchase reaches this many times their usual gap… */
export const OVERDUE_FACTOR = 2;
/** …and at least this many days: a customer who buys daily is not declining after a long weekend. */
export const MIN_OVERDUE_DAYS = 30;
/** A customer's own rhythm counts once their purchases span this many days (two orders a day apart say nothing yet). */
export const RHYTHM_DAYS = 30;
/** Every buyer is in DECLINE for at least this many days before churning: the win-back window. */
export const LAST_CALL_DAYS = 90;
/** A repeat buyer grows in their first year since the first purchase, and is mature after it. */
export const MATURITY_AFTER_DAYS = YEAR_DAYS;

/** The counters the phase reads (snake_case, as the customer row has them). */
export interface LifecycleRow {
  purchase_count: number;
  first_purchase_at?: Date | null;
  last_purchase_at: Date | null;
}

export interface Lifecycle {
  phase: LifecyclePhase;
  /** Why, in words, with the figures the rule read. */
  reason: string;
  /** Repeat buyers: the average gap between their purchases, in whole milliseconds (first to last over count − 1). */
  averageGapMs: number | null;
  /** Repeat buyers: the last purchase plus the usual gap. */
  expectedNextPurchaseAt: Date | null;
  /** When the customer declines without another purchase; null before a purchase. */
  declineAt: Date | null;
  /** When the customer churns without another purchase; null before a purchase. */
  churnAt: Date | null;
}

const days = (ms: number) => Math.round((ms / DAY_MS) * 10) / 10;

/** The customer's phase as of `now`, with what it rests on. */
export function lifecycleOf(row: LifecycleRow, now: Date, policy: ValuePolicy = DEFAULT_VALUE_POLICY): Lifecycle {
  const none = { averageGapMs: null, expectedNextPurchaseAt: null, declineAt: null, churnAt: null };
  if (row.purchase_count <= 0 || !row.last_purchase_at) return { phase: LifecyclePhase.CONTACT, reason: "no purchase yet", ...none };
  // Whole milliseconds, as Date.getTime() and the SQL rule (floor of the epoch) take them.
  const nowMs = now.getTime();
  const last = new Date(row.last_purchase_at).getTime();
  const first = row.first_purchase_at ? new Date(row.first_purchase_at).getTime() : last;
  const repeat = row.purchase_count >= 2;
  const span = Math.max(0, last - first);
  // Exact: a quotient of integers below 2^53 rounds to a whole number only when it is one.
  const gap = repeat ? Math.floor(span / (row.purchase_count - 1)) : null;
  const churnMs = policy.activeDays * DAY_MS;
  const ownPace = gap !== null && span >= RHYTHM_DAYS * DAY_MS ? Math.max(MIN_OVERDUE_DAYS * DAY_MS, OVERDUE_FACTOR * gap) : policy.firstRepeatDays * DAY_MS;
  const overdueMs = Math.min(ownPace, churnMs - LAST_CALL_DAYS * DAY_MS);
  const since = nowMs - last;
  const base = {
    averageGapMs: gap,
    expectedNextPurchaseAt: gap === null ? null : new Date(last + gap),
    declineAt: new Date(last + overdueMs),
    churnAt: new Date(last + churnMs),
  };
  const rhythm = gap === null ? "one purchase" : `${row.purchase_count} purchases, one every ${days(gap)} days on average`;
  if (since >= churnMs) return { phase: LifecyclePhase.CHURNED, reason: `no purchase for ${days(since)} days (churned from ${policy.activeDays})`, ...base };
  if (since >= overdueMs)
    return { phase: LifecyclePhase.DECLINE, reason: `${rhythm}; none for ${days(since)} days (overdue from ${days(overdueMs)})`, ...base };
  if (!repeat) return { phase: LifecyclePhase.ACQUISITION, reason: `first purchase ${days(since)} days ago`, ...base };
  const tenure = nowMs - first;
  if (tenure < MATURITY_AFTER_DAYS * DAY_MS)
    return { phase: LifecyclePhase.GROWTH, reason: `${rhythm}, buying for ${days(tenure)} days (mature from ${MATURITY_AFTER_DAYS})`, ...base };
  return { phase: LifecyclePhase.MATURITY, reason: `${rhythm}, buying for ${days(tenure)} days`, ...base };
}
