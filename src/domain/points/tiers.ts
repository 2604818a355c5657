/**
 * Tier qualification, pure: where a customer's qualification window starts and ends, which tier
 * a value qualifies for, and where a review takes a customer (one tier down, or to the tier the
 * value supports). The service runs these over SQL aggregates.
 */
import { endOfPeriod, localMidnight, startOfPeriod, wallTime } from "./calendar";

export type TierBasis = "POINTS_EARNED" | "AMOUNT_SPENT";
export type TierWindow = "ROLLING_DAYS" | "CALENDAR_YEAR" | "ANNIVERSARY";
export type TierDowngrade = "ONE_TIER" | "TO_QUALIFIED";

export interface TierLevel {
  key: string;
  name: string;
  rank: number;
  threshold: number;
}

export interface TierPolicy {
  basis: TierBasis;
  window: TierWindow;
  windowDays: number;
  graceDays: number;
  downgrade: TierDowngrade;
}

const DAY_MS = 86_400_000;

/** The qualification window that contains `at`: [start, end). */
export function windowAt(policy: TierPolicy, at: Date, memberSince: Date, timeZone: string): { start: Date; end: Date } {
  switch (policy.window) {
    case "ROLLING_DAYS":
      // A rolling window always ends now; it "ends" for a review windowDays after it was entered.
      return { start: new Date(at.getTime() - policy.windowDays * DAY_MS), end: new Date(at.getTime() + 1) };
    case "CALENDAR_YEAR":
      return { start: startOfPeriod(at, "YEAR", timeZone), end: endOfPeriod(at, "YEAR", timeZone) };
    case "ANNIVERSARY": {
      const since = wallTime(memberSince, timeZone);
      const now = wallTime(at, timeZone);
      let start = localMidnight(now.year, since.month, since.day, timeZone);
      if (start > at) start = localMidnight(now.year - 1, since.month, since.day, timeZone);
      const s = wallTime(start, timeZone);
      return { start, end: localMidnight(s.year + 1, since.month, since.day, timeZone) };
    }
  }
}

/** When a tier entered (or reviewed) at `at` is next reviewed: the end of its window, plus grace. */
export function nextReview(policy: TierPolicy, at: Date, memberSince: Date, timeZone: string): Date {
  const end = policy.window === "ROLLING_DAYS" ? new Date(at.getTime() + policy.windowDays * DAY_MS) : windowAt(policy, at, memberSince, timeZone).end;
  return new Date(end.getTime() + policy.graceDays * DAY_MS);
}

/** The highest tier the value reaches, or null. `levels` by rank, lowest first. */
export function qualifiedTier(levels: TierLevel[], value: number): TierLevel | null {
  let best: TierLevel | null = null;
  for (const level of levels) if (value + 1e-9 >= level.threshold) best = level;
  return best;
}

/** Where a review takes a customer on `current` whose window value qualifies for `qualified`. */
export function reviewedTier(policy: TierPolicy, levels: TierLevel[], current: TierLevel | null, qualified: TierLevel | null): TierLevel | null {
  if (!current) return qualified;
  if (qualified && qualified.rank >= current.rank) return current.rank === qualified.rank ? current : qualified;
  if (policy.downgrade === "TO_QUALIFIED") return qualified;
  // One tier down: the level just below the current one (or none below the lowest), never below what is qualified.
  const below = [...levels].reverse().find((l) => l.rank < current.rank) ?? null;
  if (qualified && below && qualified.rank > below.rank) return qualified;
  return below;
}
