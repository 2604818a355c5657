import fc from "fast-check";
import {
  apportion,
  computePoints,
  EarningContext,
  EarningRule,
  lineRefundPoints,
  orderRules,
  PurchaseLine,
  refundPoints,
  TouchpointType,
} from "../../src/modules/program/earning";

const rule = (over: Partial<EarningRule>): EarningRule => ({
  id: "r1",
  name: null,
  touchpointType: TouchpointType.PURCHASE,
  pointsPerUnit: null,
  fixedPoints: null,
  priority: 0,
  ...over,
});

const ctx = (over: Partial<EarningContext> = {}): EarningContext => ({
  type: TouchpointType.PURCHASE,
  amount: null,
  occurredAt: new Date("2026-03-04T12:00:00Z"),
  timeZone: "UTC",
  ...over,
});
const line = (sku: string, quantity: number, unitPrice: number, over: Partial<PurchaseLine> = {}): PurchaseLine => ({ sku, quantity, unitPrice, ...over });

describe("earning rules", () => {
  it("gives points per currency unit rounded down, and fixed points", () => {
    const rules = [rule({ pointsPerUnit: 1 }), rule({ id: "r2", touchpointType: TouchpointType.REVIEW, fixedPoints: 50 })];
    expect(computePoints(rules, ctx({ amount: 42.99 })).total).toBe(42);
    expect(computePoints(rules, ctx({ type: TouchpointType.REVIEW }))).toMatchObject({ total: 50, applied: [{ ruleId: "r2", points: 50, capped: false }] });
    expect(computePoints(rules, ctx({ type: TouchpointType.VISIT })).total).toBe(0);
  });

  it("does not lose a point to floating point (0.1 per unit on 30.00 is 3)", () => {
    expect(computePoints([rule({ pointsPerUnit: 0.1 })], ctx({ amount: 30 })).total).toBe(3);
    expect(computePoints([rule({ pointsPerUnit: 1 })], ctx({ amount: 0.29 * 100 })).total).toBe(29);
  });

  it("orders rules by priority, then id, never by edit time", () => {
    const ordered = orderRules([rule({ id: "b", priority: 1 }), rule({ id: "c", priority: 5 }), rule({ id: "a", priority: 1 })]);
    expect(ordered.map((r) => r.id)).toEqual(["c", "a", "b"]);
  });

  it("earns nothing on voided lines, and attributes points to each paid line", () => {
    const lines = [line("A", 2, 10), line("B", 1, 30, { voided: true }), line("C", 1, 5.5)];
    const earned = computePoints([rule({ pointsPerUnit: 1 })], ctx({ amount: 25.5, lines }));
    expect(earned.total).toBe(25);
    expect(earned.linePoints[1]).toBe(0);
    expect(earned.linePoints.reduce((a, b) => a + b, 0)).toBe(25);
  });

  it("multiplies by SKU or category, and by stage, in rule order", () => {
    const lines = [line("A", 1, 10, { category: "coffee" }), line("B", 1, 10, { category: "tea" })];
    const rules = [
      rule({ id: "base", pointsPerUnit: 1, priority: 10 }),
      rule({ id: "double-coffee", multiplier: 2, categories: ["coffee"], priority: 5 }),
      rule({ id: "advocates", multiplier: 1.5, stages: ["advocate"], priority: 1 }),
    ];
    const asClient = computePoints(rules, ctx({ amount: 20, lines, stage: "client" }));
    expect(asClient.applied.map((a) => [a.ruleId, a.points])).toEqual([
      ["base", 20],
      ["double-coffee", 10],
    ]);
    expect(asClient.linePoints).toEqual([20, 10]);
    const asAdvocate = computePoints(rules, ctx({ amount: 20, lines, stage: "advocate" }));
    expect(asAdvocate.total).toBe(45);
    expect(asAdvocate.applied.map((a) => a.ruleId)).toEqual(["base", "double-coffee", "advocates"]);
  });

  it("gives nothing for a SKU rule when the purchase has no lines", () => {
    expect(computePoints([rule({ pointsPerUnit: 5, skus: ["A"] })], ctx({ amount: 10 })).total).toBe(0);
  });

  it("runs between its dates and on its days of the week (program time zone)", () => {
    const r = rule({ fixedPoints: 10, activeFrom: new Date("2026-03-01T00:00:00Z"), activeTo: new Date("2026-04-01T00:00:00Z"), daysOfWeek: [3] });
    expect(computePoints([r], ctx({ occurredAt: new Date("2026-03-04T12:00:00Z") })).total).toBe(10); // a Wednesday
    expect(computePoints([r], ctx({ occurredAt: new Date("2026-03-05T12:00:00Z") })).total).toBe(0); // Thursday
    expect(computePoints([r], ctx({ occurredAt: new Date("2026-04-01T12:00:00Z") })).total).toBe(0); // after the end
    // 23:30 UTC on Tuesday is already Wednesday in Tokyo.
    expect(computePoints([r], ctx({ occurredAt: new Date("2026-03-03T23:30:00Z"), timeZone: "Asia/Tokyo" })).total).toBe(10);
  });

  it("clamps to the per-customer and the total cap, and says so", () => {
    const capped = rule({ fixedPoints: 100, capPoints: 150, capPeriod: "DAY" });
    expect(computePoints([capped], ctx({ capUsed: () => 100 })).applied).toEqual([{ ruleId: "r1", name: null, points: 50, capped: true }]);
    expect(computePoints([capped], ctx({ capUsed: () => 150 })).total).toBe(0);
    const total = rule({ pointsPerUnit: 1, totalCap: 1000 });
    const lines = [line("A", 1, 30), line("B", 1, 70)];
    const earned = computePoints([total], ctx({ amount: 100, lines, totalUsed: () => 960 }));
    expect(earned.total).toBe(40);
    expect(earned.linePoints.reduce((a, b) => a + b, 0)).toBe(40);
  });

  it("stops further rules when a rule says so", () => {
    const rules = [rule({ id: "a", fixedPoints: 5, priority: 2, stopFurtherRules: true }), rule({ id: "b", fixedPoints: 7, priority: 1 })];
    expect(computePoints(rules, ctx()).applied.map((a) => a.ruleId)).toEqual(["a"]);
  });

  it("attributes every point to a line or the order, whatever the rules (1,000 runs)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            quantity: fc.integer({ min: 1, max: 5 }),
            cents: fc.integer({ min: 0, max: 10_000 }),
            voided: fc.boolean(),
            sku: fc.constantFrom("A", "B", "C"),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.array(
          fc.record({
            ppu: fc.option(fc.integer({ min: 0, max: 300 })),
            fixed: fc.option(fc.integer({ min: 0, max: 50 })),
            mult: fc.option(fc.integer({ min: 1, max: 30 })),
            sku: fc.option(fc.constantFrom("A", "B")),
            cap: fc.option(fc.integer({ min: 0, max: 200 })),
          }),
          { maxLength: 5 },
        ),
        (rawLines, rawRules) => {
          const lines = rawLines.map((l) => line(l.sku, l.quantity, l.cents / 100, { voided: l.voided }));
          const rules = rawRules.map((r, i) =>
            rule({
              id: `r${i}`,
              pointsPerUnit: r.ppu === null ? null : r.ppu / 100,
              fixedPoints: r.fixed,
              multiplier: r.mult === null ? (r.ppu === null && r.fixed === null ? 2 : null) : r.mult / 10,
              skus: r.sku ? [r.sku] : null,
              totalCap: r.cap,
            }),
          );
          const amount = lines.reduce((s, l) => s + (l.voided ? 0 : l.quantity * Math.round(l.unitPrice * 100)), 0) / 100;
          const earned = computePoints(rules, ctx({ amount, lines }));
          const attributed = earned.linePoints.reduce((a, b) => a + b, 0) + earned.orderPoints;
          const voidedPoints = earned.linePoints.filter((_, i) => lines[i].voided).reduce((a, b) => a + b, 0);
          return (
            attributed === earned.total &&
            earned.total === earned.applied.reduce((s, a) => s + a.points, 0) &&
            voidedPoints === 0 &&
            earned.linePoints.every((p) => p >= 0)
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("takes back a line's points unit by unit, exactly all of them with the last unit", () => {
    const l = { sku: "A", quantity: 3, unitPrice: 1, points: 10, refundedQuantity: 0 };
    const first = lineRefundPoints(l, 1);
    const second = lineRefundPoints({ ...l, refundedQuantity: 1 }, 1);
    const third = lineRefundPoints({ ...l, refundedQuantity: 2 }, 1);
    expect([first, second, third]).toEqual([3, 3, 4]);
    expect(apportion(10, [1, 1, 1])).toEqual([4, 3, 3]);
  });
});

describe("refund points", () => {
  it("takes back pro rata, and the rest when the order is fully refunded", () => {
    const p = { amount: 100, points: 100, refundedAmount: 0, pointsReversed: 0 };
    expect(refundPoints(p, 30)).toBe(30);
    expect(refundPoints({ ...p, refundedAmount: 30, pointsReversed: 30 }, 70)).toBe(70);
    expect(refundPoints({ amount: 3, points: 10, refundedAmount: 0, pointsReversed: 0 }, 1)).toBe(3);
    expect(refundPoints({ amount: 3, points: 10, refundedAmount: 1, pointsReversed: 3 }, 2)).toBe(7);
  });

  it("never takes back more than the purchase earned, whatever the sequence of partial refunds", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }),
        (cents, points, parts) => {
          const amount = cents / 100;
          let refunded = 0;
          let reversed = 0;
          for (const part of parts) {
            const left = Math.round((amount - refunded) * 100);
            if (left <= 0) break;
            const refund = Math.min(part, left) / 100;
            const taken = refundPoints({ amount, points, refundedAmount: refunded, pointsReversed: reversed }, refund);
            if (taken < 0) return false;
            reversed += taken;
            refunded = Math.round((refunded + refund) * 100) / 100;
            if (reversed > points) return false;
          }
          // A complete refund takes back exactly what was earned.
          return Math.round(refunded * 100) < cents || reversed === points;
        },
      ),
      { numRuns: 1000 },
    );
  });
});
