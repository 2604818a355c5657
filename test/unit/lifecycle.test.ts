/** The lifecycle rules as a pure function: each phase, its edges, and the dates a customer moves on. */
import { lifecycleOf, LifecyclePhase } from "../../src/domain/value/lifecycle";

const DAY = 86_400_000;
const NOW = new Date("2026-06-01T12:00:00.000Z");
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);
/** A customer with `count` purchases, the first `firstDaysAgo` and the last `lastDaysAgo` days ago. */
const buyer = (count: number, firstDaysAgo: number, lastDaysAgo: number) => ({
  purchase_count: count,
  first_purchase_at: ago(firstDaysAgo),
  last_purchase_at: ago(lastDaysAgo),
});
const phase = (row: Parameters<typeof lifecycleOf>[0]) => lifecycleOf(row, NOW).phase;

describe("lifecycleOf", () => {
  it("is CONTACT before a first purchase, with nothing ahead", () => {
    expect(lifecycleOf({ purchase_count: 0, first_purchase_at: null, last_purchase_at: null }, NOW)).toEqual({
      phase: LifecyclePhase.CONTACT,
      reason: "no purchase yet",
      averageGapMs: null,
      expectedNextPurchaseAt: null,
      declineAt: null,
      churnAt: null,
    });
  });

  it("takes a first-time buyer from ACQUISITION to DECLINE at 90 days and to CHURNED at 365", () => {
    const fresh = lifecycleOf(buyer(1, 10, 10), NOW);
    expect(fresh).toMatchObject({ phase: LifecyclePhase.ACQUISITION, reason: "first purchase 10 days ago", averageGapMs: null, expectedNextPurchaseAt: null });
    expect(fresh.declineAt).toEqual(new Date(ago(10).getTime() + 90 * DAY));
    expect(fresh.churnAt).toEqual(new Date(ago(10).getTime() + 365 * DAY));
    expect(phase({ purchase_count: 1, first_purchase_at: ago(90), last_purchase_at: new Date(ago(90).getTime() + 1) })).toBe(LifecyclePhase.ACQUISITION);
    expect(phase(buyer(1, 90, 90))).toBe(LifecyclePhase.DECLINE);
    expect(lifecycleOf(buyer(1, 200, 200), NOW).reason).toBe("one purchase; none for 200 days (overdue from 90)");
    expect(phase({ purchase_count: 1, first_purchase_at: ago(365), last_purchase_at: new Date(ago(365).getTime() + 1) })).toBe(LifecyclePhase.DECLINE);
    expect(phase(buyer(1, 365, 365))).toBe(LifecyclePhase.CHURNED);
  });

  it("measures a repeat buyer's decline against their own rhythm, never sooner than 30 days", () => {
    // Three purchases 30 days apart: expected 30 days after the last, overdue after 60.
    const monthly = lifecycleOf(buyer(3, 70, 10), NOW);
    expect(monthly).toMatchObject({ phase: LifecyclePhase.GROWTH, averageGapMs: 30 * DAY, expectedNextPurchaseAt: ago(-20), declineAt: ago(-50) });
    expect(monthly.reason).toBe("3 purchases, one every 30 days on average, buying for 70 days (mature from 365)");
    expect(phase(buyer(3, 119, 59))).toBe(LifecyclePhase.GROWTH);
    expect(phase(buyer(3, 120, 60))).toBe(LifecyclePhase.DECLINE);
    // Weekly: twice the gap is 14 days, but a month is the least.
    expect(lifecycleOf(buyer(6, 35 + 20, 20), NOW)).toMatchObject({ phase: LifecyclePhase.GROWTH, declineAt: ago(-10) });
    expect(phase(buyer(6, 35 + 30, 30))).toBe(LifecyclePhase.DECLINE);
  });

  it("is MATURITY for a repeat buyer on schedule after a year", () => {
    expect(phase(buyer(10, 364, 5))).toBe(LifecyclePhase.GROWTH);
    expect(lifecycleOf(buyer(10, 400, 5), NOW)).toMatchObject({
      phase: LifecyclePhase.MATURITY,
      reason: "10 purchases, one every 43.9 days on average, buying for 400 days",
    });
  });

  it("puts every buyer in DECLINE at least 90 days before churning, however slow their rhythm", () => {
    // Every 200 days: twice that is past churn (365), so the last call comes at 275.
    const slow = lifecycleOf(buyer(2, 474, 274), NOW);
    expect(slow).toMatchObject({ phase: LifecyclePhase.MATURITY, declineAt: ago(-1), churnAt: ago(-91) });
    expect(lifecycleOf(buyer(2, 500, 300), NOW)).toMatchObject({
      phase: LifecyclePhase.DECLINE,
      reason: "2 purchases, one every 200 days on average; none for 300 days (overdue from 275)",
    });
    expect(phase(buyer(2, 565, 365))).toBe(LifecyclePhase.CHURNED);
  });

  it("trusts a customer's own rhythm only once their purchases span 30 days", () => {
    // Two orders the same day say nothing about a rhythm: 90 days, as for one purchase.
    expect(lifecycleOf(buyer(2, 40, 40), NOW)).toMatchObject({ phase: LifecyclePhase.GROWTH, averageGapMs: 0, declineAt: ago(-50) });
    expect(phase(buyer(2, 90, 90))).toBe(LifecyclePhase.DECLINE);
    // Four orders in 29 days, then quiet: still 90 days. Over 30 days: their pace (twice 10, at least 30).
    expect(lifecycleOf(buyer(4, 29 + 60, 60), NOW).phase).toBe(LifecyclePhase.GROWTH);
    expect(lifecycleOf(buyer(4, 30 + 30, 30), NOW).phase).toBe(LifecyclePhase.DECLINE);
  });

  it("takes the average gap in whole milliseconds, rounded down", () => {
    const row = { purchase_count: 4, first_purchase_at: new Date(NOW.getTime() - 10 * DAY - 2), last_purchase_at: new Date(NOW.getTime() - DAY) };
    // (9 days + 2 ms) / 3: 3 days and 2/3 of a millisecond.
    expect(lifecycleOf(row, NOW).averageGapMs).toBe(3 * DAY);
    expect(lifecycleOf({ ...row, first_purchase_at: new Date(NOW.getTime() - 10 * DAY - 3) }, NOW).averageGapMs).toBe(3 * DAY + 1);
  });
});
