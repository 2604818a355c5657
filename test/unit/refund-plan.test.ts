/**
 * planRefund: what one refund of an order takes back, from the purchase row as the refund path
 * reads it (locked) and the refund record. By amount, points pro rata; by lines, each line's own
 * points; the refund that completes the order takes everything the order still holds.
 */
import fc from "fast-check";
import { TouchpointType } from "../../src/modules/program/earning";
import { planRefund, RefundPlan } from "../../src/modules/touchpoint/refund-plan";
import { StoredEarning } from "../../src/modules/touchpoint/batch-points";
import { TouchpointRecord } from "../../src/modules/touchpoint/touchpoint.model";

type Purchase = Parameters<typeof planRefund>[0];
type Line = StoredEarning["lines"][number];

/** A purchase as the refund path selects it: numeric columns come as text from PostgreSQL. */
const purchase = (over: Partial<Purchase> = {}): Purchase => ({
  amount: "100.00",
  points: 100,
  refunded_amount: "0",
  points_reversed: 0,
  earning: null,
  refunded_lines: {},
  refund_completed_at: null,
  ...over,
});

const earningWith = (lines: Line[], orderPoints = 0): StoredEarning => ({
  total: lines.reduce((n, l) => n + l.points, 0) + orderPoints,
  applied: [],
  orderPoints,
  lines,
  pending: false,
});

const byAmount = (amount: number): TouchpointRecord => ({
  programId: "p",
  type: TouchpointType.REFUND,
  externalId: "r1",
  keyField: "refundId",
  occurredAt: new Date("2026-03-04T12:00:00Z"),
  amount,
  relatedExternalId: "o1",
  hashed: null,
});

const byLines = (lines: Array<{ sku: string; quantity: number }>): TouchpointRecord => ({ ...byAmount(0), amount: null, data: { lines } });

/** The purchase after a refund was posted, as POST_REFUND leaves it. */
function after(p: Purchase, plan: RefundPlan): Purchase {
  const refunded_lines = { ...p.refunded_lines };
  for (const [sku, n] of Object.entries(plan.units)) refunded_lines[sku] = (refunded_lines[sku] ?? 0) + n;
  return {
    ...p,
    refunded_amount: String(Math.round((Number(p.refunded_amount) + plan.amount) * 100) / 100),
    points_reversed: p.points_reversed + plan.points,
    refunded_lines,
    refund_completed_at: plan.completes ? new Date() : p.refund_completed_at,
  };
}

const badInput = (run: () => unknown, field: string, message: RegExp) => {
  expect(run).toThrow(message);
  try {
    run();
  } catch (err: any) {
    expect(err.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
  }
};

describe("planRefund by amount", () => {
  it("takes back points pro rata to the amount, rounded down", () => {
    // 99 × 33.33 / 100 = 32.9967: 32.
    expect(planRefund(purchase({ points: 99 }), byAmount(33.33))).toEqual({ amount: 33.33, points: 32, completes: false, units: {} });
  });

  it("counts earlier refunds: the second part takes what the cumulative share adds", () => {
    // 30 of 100 → 30 points; then 30 more → 60 cumulative, so 30 again, not 60.
    const first = planRefund(purchase(), byAmount(30));
    expect(first.points).toBe(30);
    const second = planRefund(after(purchase(), first), byAmount(30));
    expect(second).toEqual({ amount: 30, points: 30, completes: false, units: {} });
  });

  it("completes the order with the refund that brings it to the full amount, taking all that is left", () => {
    // 3 points for 10.00: thirds round down to 0 and 0, then the last third takes all three.
    let p = purchase({ amount: "10.00", points: 3 });
    const plans: RefundPlan[] = [];
    for (const amount of [3.33, 3.33, 3.34]) {
      const plan = planRefund(p, byAmount(amount));
      plans.push(plan);
      p = after(p, plan);
    }
    expect(plans.map((x) => [x.points, x.completes])).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ]);
    expect(p.points_reversed).toBe(3);
  });

  it("refuses more than is left to refund, naming the amount field", () => {
    badInput(
      () => planRefund(purchase({ refunded_amount: "60.00", points_reversed: 60 }), byAmount(40.01)),
      "amount",
      /exceeds what is left to refund on order "o1" \(40\.00\)/,
    );
    expect(planRefund(purchase({ refunded_amount: "60.00", points_reversed: 60 }), byAmount(40))).toMatchObject({ points: 40, completes: true });
  });

  it("never takes back points that expired: they are gone already", () => {
    // 100 earned, 70 expired: a full refund takes the 30 left, not 100.
    expect(planRefund(purchase(), byAmount(100), 70)).toMatchObject({ points: 30, completes: true });
    // A half refund's pro rata 50 is cut to what is left.
    expect(planRefund(purchase(), byAmount(50), 70).points).toBe(30);
    // Everything expired or reversed: nothing to take, never negative.
    expect(planRefund(purchase({ points_reversed: 20 }), byAmount(100), 90).points).toBe(0);
  });

  it("does not complete an order of 0.00, nor complete one twice", () => {
    expect(planRefund(purchase({ amount: "0", points: 5 }), byAmount(0))).toEqual({ amount: 0, points: 0, completes: false, units: {} });
    // The order was completed (everything taken back): a refund of 0.00 after it changes nothing.
    const done = purchase({ refunded_amount: "100", points_reversed: 100, refund_completed_at: new Date() });
    expect(planRefund(done, byAmount(0))).toEqual({ amount: 0, points: 0, completes: false, units: {} });
  });
});

describe("planRefund by lines", () => {
  const lines: Line[] = [
    { sku: "A", quantity: 3, unitPrice: 10, points: 31 },
    { sku: "B", quantity: 1, unitPrice: 5.5, points: 5 },
    { sku: "X", quantity: 1, unitPrice: 99, points: 0, voided: true },
  ];
  const withLines = (over: Partial<Purchase> = {}) => purchase({ amount: "35.50", points: 40, earning: earningWith(lines, 4), ...over });

  it("prices units as the purchase recorded them and takes back those units' points", () => {
    // 31 points over 3 units: floor(31/3) = 10 for the first unit.
    expect(planRefund(withLines(), byLines([{ sku: "A", quantity: 1 }]))).toEqual({ amount: 10, points: 10, completes: false, units: { A: 1 } });
    // Two more of A after one: 20.00, and the last unit takes the rounding rest (31 - 10 = 21).
    expect(planRefund(withLines({ refunded_lines: { A: 1 } }), byLines([{ sku: "A", quantity: 2 }]))).toEqual({
      amount: 20,
      points: 21,
      completes: false,
      units: { A: 2 },
    });
  });

  it("adds up the units of one SKU requested twice in the same refund", () => {
    badInput(
      () =>
        planRefund(
          withLines(),
          byLines([
            { sku: "A", quantity: 2 },
            { sku: "A", quantity: 2 },
          ]),
        ),
      "lines[1].quantity",
      /only 1 unit\(s\) of "A" are left/,
    );
    expect(
      planRefund(
        withLines(),
        byLines([
          { sku: "A", quantity: 2 },
          { sku: "A", quantity: 1 },
        ]),
      ).units,
    ).toEqual({ A: 3 });
  });

  it("completes the order when every paid line is back, taking its order-level points too", () => {
    const plan = planRefund(
      withLines(),
      byLines([
        { sku: "A", quantity: 3 },
        { sku: "B", quantity: 1 },
      ]),
    );
    // 31 + 5 line points, plus the 4 order points: all 40 the purchase holds.
    expect(plan).toEqual({ amount: 35.5, points: 40, completes: true, units: { A: 3, B: 1 } });
  });

  it("refuses a SKU the order has no paid line of (a voided line is not paid)", () => {
    badInput(() => planRefund(withLines(), byLines([{ sku: "Z", quantity: 1 }])), "lines[0].sku", /no paid line with SKU "Z"/);
    badInput(
      () =>
        planRefund(
          withLines(),
          byLines([
            { sku: "B", quantity: 1 },
            { sku: "X", quantity: 1 },
          ]),
        ),
      "lines[1].sku",
      /no paid line with SKU "X"/,
    );
  });

  it("refuses lines on an order recorded without lines", () => {
    badInput(() => planRefund(purchase(), byLines([{ sku: "A", quantity: 1 }])), "lines", /recorded without lines: refund it by amount/);
  });

  it("refuses lines worth more than is left of the amount (the order was paid less than its lines)", () => {
    badInput(
      () =>
        planRefund(
          withLines({ amount: "30.00" }),
          byLines([
            { sku: "A", quantity: 3 },
            { sku: "B", quantity: 1 },
          ]),
        ),
      "lines",
      /exceeds what is left/,
    );
  });
});

describe("planRefund invariants", () => {
  /** A purchase of 1..4 lines with points, and a split of the whole order into refunds of some units each. */
  const order = fc
    .array(fc.record({ quantity: fc.integer({ min: 1, max: 5 }), cents: fc.integer({ min: 0, max: 5000 }), points: fc.integer({ min: 0, max: 300 }) }), {
      minLength: 1,
      maxLength: 4,
    })
    .chain((raw) => {
      const lines: Line[] = raw.map((l, i) => ({ sku: `S${i}`, quantity: l.quantity, unitPrice: l.cents / 100, points: l.points }));
      const units = lines.flatMap((l) => Array.from({ length: l.quantity }, () => l.sku));
      return fc.tuple(
        fc.constant(lines),
        fc.integer({ min: 0, max: 50 }),
        fc.shuffledSubarray(units, { minLength: units.length, maxLength: units.length }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 20, maxLength: 20 }),
      );
    });

  it("by lines, refunds of every unit in any split take back exactly what the purchase earned", () => {
    fc.assert(
      fc.property(order, ([lines, orderPoints, units, sizes]) => {
        const amount = lines.reduce((n, l) => n + l.quantity * Math.round(l.unitPrice * 100), 0) / 100;
        const earned = lines.reduce((n, l) => n + l.points, 0) + orderPoints;
        let p = purchase({ amount: String(amount), points: earned, earning: earningWith(lines, orderPoints) });
        let refunded = 0;
        for (let i = 0, k = 0; i < units.length; k++) {
          const chunk = units.slice(i, (i += sizes[k % sizes.length]));
          const request = Object.entries(chunk.reduce<Record<string, number>>((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {})).map(([sku, quantity]) => ({
            sku,
            quantity,
          }));
          const plan = planRefund(p, byLines(request));
          expect(plan.points).toBeGreaterThanOrEqual(0);
          expect(plan.points).toBeLessThanOrEqual(earned - p.points_reversed);
          refunded += plan.amount;
          p = after(p, plan);
        }
        expect(p.points_reversed).toBe(earned);
        expect(Math.round(refunded * 100)).toBe(Math.round(amount * 100));
        expect(p.refund_completed_at).not.toBeNull();
      }),
    );
  });

  it("by amount, no sequence of refunds takes back more than the purchase earned, and a full one takes it all", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 8 }),
        (amountCents, points, expired, weights) => {
          // Split the amount in parts by weight, in whole cents, the last part taking the rest.
          const sum = weights.reduce((a, b) => a + b, 0);
          const parts = weights.map((w) => Math.floor((amountCents * w) / sum));
          parts[parts.length - 1] += amountCents - parts.reduce((a, b) => a + b, 0);
          const gone = Math.min(expired, points);
          let p = purchase({ amount: String(amountCents / 100), points });
          for (const part of parts) {
            const plan = planRefund(p, byAmount(part / 100), gone);
            expect(plan.points).toBeGreaterThanOrEqual(0);
            expect(p.points_reversed + plan.points).toBeLessThanOrEqual(points - gone);
            p = after(p, plan);
          }
          expect(p.points_reversed).toBe(points - gone);
          expect(p.refund_completed_at).not.toBeNull();
        },
      ),
    );
  });

  it("refuses any amount above what is left, and accepts every amount up to it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (amountCents, refundedCents, askCents) => {
          fc.pre(refundedCents <= amountCents);
          const p = purchase({ amount: String(amountCents / 100), refunded_amount: String(refundedCents / 100), points: 1000 });
          const run = () => planRefund(p, byAmount(askCents / 100));
          if (askCents > amountCents - refundedCents) expect(run).toThrow(/exceeds what is left/);
          else expect(run().completes).toBe(refundedCents + askCents === amountCents);
        },
      ),
    );
  });
});
