/**
 * A program's points policy: how long purchase points stay pending (the return window), when
 * points expire, and what a refund does when the points were already spent.
 */
import { registerEnumType } from "type-graphql";
import { endOfPeriod } from "../../domain/points/calendar";

export enum ExpiryPolicy {
  NEVER = "NEVER",
  AFTER_DAYS = "AFTER_DAYS",
  END_OF_MONTH = "END_OF_MONTH",
  END_OF_YEAR = "END_OF_YEAR",
}
registerEnumType(ExpiryPolicy, {
  name: "ExpiryPolicy",
  description: "When points expire: never, N days after they become spendable, or at the end of that month or year (program time zone).",
});

export enum OverdraftPolicy {
  ALLOW_NEGATIVE = "ALLOW_NEGATIVE",
  CLAMP_AT_ZERO = "CLAMP_AT_ZERO",
}
registerEnumType(OverdraftPolicy, {
  name: "OverdraftPolicy",
  description:
    "When a refund takes back points already spent: let the balance go negative (later points pay it back), or stop at zero and record the shortfall.",
});

export interface PointsPolicy {
  /** Purchase points stay pending this many days (0: spendable at once). */
  pendingDays: number;
  expiry: ExpiryPolicy;
  expiryDays: number | null;
  overdraft: OverdraftPolicy;
}

const DAY_MS = 86_400_000;

/** When points that become spendable at `from` expire, or null for never. */
export function expiryOf(policy: PointsPolicy, from: Date, timeZone: string): Date | null {
  switch (policy.expiry) {
    case ExpiryPolicy.NEVER:
      return null;
    case ExpiryPolicy.AFTER_DAYS:
      return new Date(from.getTime() + (policy.expiryDays ?? 365) * DAY_MS);
    case ExpiryPolicy.END_OF_MONTH:
      return endOfPeriod(from, "MONTH", timeZone);
    case ExpiryPolicy.END_OF_YEAR:
      return endOfPeriod(from, "YEAR", timeZone);
  }
}

/** When points earned at `at` become spendable (null: at once). */
export function activationOf(policy: PointsPolicy, at: Date): Date | null {
  return policy.pendingDays > 0 ? new Date(at.getTime() + policy.pendingDays * DAY_MS) : null;
}
