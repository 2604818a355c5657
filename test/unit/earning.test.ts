import fc from "fast-check";
import { computePoints, EarningRule, orderRules, refundPoints, TouchpointType } from "../../src/modules/program/earning";

const rule = (over: Partial<EarningRule>): EarningRule => ({
  id: "r1", name: null, touchpointType: TouchpointType.PURCHASE, pointsPerUnit: null, fixedPoints: null, priority: 0, ...over,
});

describe("earning rules", () => {
  it("gives points per currency unit rounded down, and fixed points", () => {
    const rules = [rule({ pointsPerUnit: 1 }), rule({ id: "r2", touchpointType: TouchpointType.REVIEW, fixedPoints: 50 })];
    expect(computePoints(rules, TouchpointType.PURCHASE, 42.99).total).toBe(42);
    expect(computePoints(rules, TouchpointType.REVIEW, null)).toEqual({ total: 50, applied: [{ ruleId: "r2", points: 50 }] });
    expect(computePoints(rules, TouchpointType.VISIT, null).total).toBe(0);
  });

  it("does not lose a point to floating point (0.1 per unit on 30.00 is 3)", () => {
    expect(computePoints([rule({ pointsPerUnit: 0.1 })], TouchpointType.PURCHASE, 30).total).toBe(3);
    expect(computePoints([rule({ pointsPerUnit: 1 })], TouchpointType.PURCHASE, 0.29 * 100).total).toBe(29);
  });

  it("orders rules by priority, then id, never by edit time", () => {
    const ordered = orderRules([rule({ id: "b", priority: 1 }), rule({ id: "c", priority: 5 }), rule({ id: "a", priority: 1 })]);
    expect(ordered.map((r) => r.id)).toEqual(["c", "a", "b"]);
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
