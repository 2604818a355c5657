/** The value and loyalty rules as pure functions: quintiles, RFM codes, CLV and the quadrants. */
import { clvOf, LoyaltyQuadrant, loyaltyOf, quintile, rfmOf, rfmSegmentOf, ValueBreakpoints, ValueRow } from "../../src/domain/value/customer-value";

const DAY = 86_400_000;
const now = new Date("2026-06-01T00:00:00Z");
const daysAgo = (d: number) => new Date(now.getTime() - d * DAY);

const row = (over: Partial<ValueRow> = {}): ValueRow => ({
  purchase_count: 0,
  purchase_amount: "0",
  first_purchase_at: null,
  last_purchase_at: null,
  review_count: 0,
  rating_sum: 0,
  referral_count: 0,
  social_share_count: 0,
  nps: null,
  ...over,
});

/** What percentile_disc(0.01 … 0.99) gives over these values (the breakpoints' SQL). */
const percentiles = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return Array.from({ length: 99 }, (_, i) => sorted[Math.ceil(((i + 1) / 100) * sorted.length) - 1]);
};

// Ten buyers: the k-th bought k times, spent 10k, last k*10 days ago (so recency runs the other way).
const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const breakpoints: ValueBreakpoints = {
  buyers: 10,
  recency: percentiles(ten.map((k) => daysAgo(k * 10).getTime())),
  frequency: percentiles(ten),
  monetary: percentiles(ten.map((k) => 10 * k)),
};

describe("quintile", () => {
  it("puts ten distinct values two to a fifth", () => {
    expect(ten.map((v) => quintile(v, percentiles(ten)))).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect([0, 11].map((v) => quintile(v, percentiles(ten)))).toEqual([1, 5]);
    // A value exactly on a fifth's edge stays in the lower fifth: of 100 buyers, the 20th scores 1.
    const hundred = percentiles(Array.from({ length: 100 }, (_, i) => i + 1));
    expect([1, 20, 21, 40, 41, 80, 81, 100].map((v) => quintile(v, hundred))).toEqual([1, 1, 2, 2, 3, 4, 5, 5]);
  });

  it("gives ties one score, by their mid-rank, and a lone buyer the middle", () => {
    expect(quintile(7, percentiles([7]))).toBe(3);
    expect(quintile(7, [])).toBe(3);
    // Half the buyers bought once, half twice: neither half is put at the very bottom or top.
    const halves = percentiles([1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect([quintile(1, halves), quintile(2, halves)]).toEqual([2, 4]);
    // Nine buyers tied at the top and one below: the nine share 3, not 1 or 5.
    const nine = percentiles([5, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
    expect([quintile(5, nine), quintile(9, nine)]).toEqual([1, 3]);
  });
});

describe("rfmOf", () => {
  it("is null before the first purchase", () => {
    expect(rfmOf(row(), breakpoints, now)).toBeNull();
  });

  it("codes recency, frequency and money, recency first", () => {
    const best = rfmOf(row({ purchase_count: 10, purchase_amount: "100", last_purchase_at: daysAgo(1) }), breakpoints, now)!;
    expect(best).toEqual({
      recency: 5,
      frequency: 5,
      monetary: 5,
      score: "555",
      segment: "CHAMPIONS",
      daysSinceLastPurchase: 1,
      purchaseCount: 10,
      purchaseAmount: 100,
    });
    const gone = rfmOf(row({ purchase_count: 9, purchase_amount: "90.5", last_purchase_at: daysAgo(100) }), breakpoints, now)!;
    expect(gone).toMatchObject({ score: "155", segment: "AT_RISK" });
    expect(rfmOf(row({ purchase_count: 3, purchase_amount: "30", last_purchase_at: daysAgo(50) }), breakpoints, now)!.score).toBe("322");
  });
});

describe("rfmSegmentOf", () => {
  it("places every recency and frequency in one segment of the grid", () => {
    // Rows: recency 5 down to 1; columns: frequency 1 to 5.
    const initials: Record<string, string> = {
      CHAMPIONS: "C",
      LOYAL: "L",
      POTENTIAL_LOYALISTS: "P",
      NEW_CUSTOMERS: "N",
      NEEDS_ATTENTION: "A",
      AT_RISK: "R",
      HIBERNATING: "H",
    };
    const grid = [5, 4, 3, 2, 1].map((r) => [1, 2, 3, 4, 5].map((f) => initials[rfmSegmentOf(r, f)]).join(""));
    expect(grid).toEqual(["NPPCC", "NPPCC", "AAALL", "HHRRR", "HHRRR"]);
  });
});

describe("clvOf", () => {
  it("adds three years at the annual spend for an active customer", () => {
    // 600 over two years: 300 a year, three more years.
    expect(clvOf(row({ purchase_count: 6, purchase_amount: "600", first_purchase_at: daysAgo(730), last_purchase_at: daysAgo(10) }), now)).toBe(1500);
    // Less than a year of history counts as one year.
    expect(clvOf(row({ purchase_count: 1, purchase_amount: "25.10", first_purchase_at: daysAgo(3), last_purchase_at: daysAgo(3) }), now)).toBe(100.4);
  });

  it("counts no future for a customer who has not bought for a year, and nothing for one who never bought", () => {
    expect(clvOf(row({ purchase_count: 2, purchase_amount: "80", first_purchase_at: daysAgo(500), last_purchase_at: daysAgo(366) }), now)).toBe(80);
    // Gone from exactly a year, as the lifecycle's CHURNED; active a millisecond before.
    expect(clvOf(row({ purchase_count: 2, purchase_amount: "80", first_purchase_at: daysAgo(500), last_purchase_at: daysAgo(365) }), now)).toBe(80);
    expect(
      clvOf(row({ purchase_count: 2, purchase_amount: "80", first_purchase_at: daysAgo(500), last_purchase_at: new Date(daysAgo(365).getTime() + 1) }), now),
    ).toBeGreaterThan(80);
    expect(clvOf(row(), now)).toBe(0);
  });

  it("reads the program's value policy: when a customer is gone, how many years ahead", () => {
    const quiet = row({ purchase_count: 2, purchase_amount: "80", first_purchase_at: daysAgo(730), last_purchase_at: daysAgo(400) });
    expect(clvOf(quiet, now)).toBe(80);
    // Gone after two years, five years ahead: 40 a year.
    expect(clvOf(quiet, now, { activeDays: 730, horizonYears: 5, firstRepeatDays: 90 })).toBe(280);
  });
});

describe("loyaltyOf", () => {
  const buyer = row({ purchase_count: 10, purchase_amount: "100", last_purchase_at: daysAgo(1) });
  const rfm = (r: ValueRow) => rfmOf(r, breakpoints, now);

  it("places each combination of behaviour and attitude in its quadrant", () => {
    expect(loyaltyOf(buyer, rfm(buyer), 0)).toEqual({ behavioral: 100, attitudinal: null, quadrant: LoyaltyQuadrant.INERTIA });
    expect(loyaltyOf(buyer, rfm(buyer), 1).quadrant).toBe(LoyaltyQuadrant.MERCENARY);
    const fan = { ...buyer, nps: 9 };
    expect(loyaltyOf(fan, rfm(fan), 0)).toEqual({ behavioral: 100, attitudinal: 90, quadrant: LoyaltyQuadrant.COMMITTED });
    expect(loyaltyOf({ ...fan, referral_count: 1 }, rfm(fan), 3)).toEqual({ behavioral: 100, attitudinal: 95, quadrant: LoyaltyQuadrant.FANATICAL });
    // A referrer who never answered a survey shows attitude by referring: a habitual buyer who refers is fanatical.
    expect(loyaltyOf({ ...buyer, referral_count: 2 }, rfm(buyer), 0)).toEqual({ behavioral: 100, attitudinal: 100, quadrant: LoyaltyQuadrant.FANATICAL });
    // A detractor who shared once stays low (20 and 100: 60).
    expect(loyaltyOf({ ...buyer, nps: 2, social_share_count: 1 }, rfm(buyer), 0)).toMatchObject({ attitudinal: 60, quadrant: LoyaltyQuadrant.INERTIA });
    const admirer = row({ review_count: 2, rating_sum: 9 });
    expect(loyaltyOf(admirer, null, 0)).toEqual({ behavioral: 0, attitudinal: 87.5, quadrant: LoyaltyQuadrant.LATENT });
    expect(loyaltyOf(row({ nps: 3 }), null, 0)).toEqual({ behavioral: 0, attitudinal: 30, quadrant: LoyaltyQuadrant.NONE });
  });

  it("takes the latest survey response's attitude over the NPS answer, with the ratings", () => {
    const said = row({ nps: 2, review_count: 1, rating_sum: 5 });
    expect(loyaltyOf(said, null, 0).attitudinal).toBe(60);
    expect(loyaltyOf(said, null, 0, 80).attitudinal).toBe(90);
    expect(loyaltyOf(row(), null, 0, 30)).toEqual({ behavioral: 0, attitudinal: 30, quadrant: LoyaltyQuadrant.NONE });
  });

  it("averages what the customer said, and draws the lines at 62.5 and 70", () => {
    // NPS 6 (60) and a 4.6 average rating (90): 75, high.
    expect(loyaltyOf(row({ nps: 6, review_count: 5, rating_sum: 23 }), null, 0).attitudinal).toBe(75);
    // Recency 4 and frequency 3: 62.5, high; 3 and 3: 50, low.
    const r43 = row({ purchase_count: 5, purchase_amount: "10", last_purchase_at: daysAgo(30), nps: 7 });
    expect(loyaltyOf(r43, rfm(r43), 0)).toMatchObject({ behavioral: 62.5, quadrant: LoyaltyQuadrant.COMMITTED });
    const r33 = { ...r43, last_purchase_at: daysAgo(50) };
    expect(loyaltyOf(r33, rfm(r33), 0)).toMatchObject({ behavioral: 50, quadrant: LoyaltyQuadrant.LATENT });
  });
});
