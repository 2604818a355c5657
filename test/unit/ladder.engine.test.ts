import fc from "fast-check";
import { evaluateLadder, nextStage, stageHolds, windowsUsed } from "../../src/domain/ladder/ladder.engine";
import { LADDER_PRESETS, presetLadder } from "../../src/domain/ladder/ladder.presets";
import { Comparator, Ladder, Metric, MetricReader } from "../../src/domain/ladder/ladder.types";
import { validateLadder } from "../../src/domain/ladder/ladder.validate";

/** A reader over fixed values; "metric:days" keys for windows. Unknown metrics read as 0. */
const reader =
  (values: Record<string, number | null>): MetricReader =>
  (metric, windowDays) => {
    const key = windowDays ? `${metric}:${windowDays}` : metric;
    return key in values ? values[key] : 0;
  };

const griffin = presetLadder("griffin-7")!;

describe("stage engine", () => {
  it("places a customer with nothing on the bottom stage", () => {
    const r = evaluateLadder(griffin, reader({ [Metric.DAYS_SINCE_LAST_PURCHASE]: null, [Metric.NPS]: null }));
    expect(r).toMatchObject({ stage: "suspect", pathIndex: null, criteria: [] });
  });

  it("climbs griffin-7 by purchases, using the 365-day window for client", () => {
    const base = { [Metric.VISIT_COUNT]: 1, [Metric.DAYS_SINCE_LAST_PURCHASE]: 1, [Metric.NPS]: null };
    expect(evaluateLadder(griffin, reader({ ...base, [Metric.DAYS_SINCE_LAST_PURCHASE]: null })).stage).toBe("prospect");
    expect(evaluateLadder(griffin, reader({ ...base, PURCHASE_COUNT: 1, "PURCHASE_COUNT:365": 1 })).stage).toBe("first_time_customer");
    expect(evaluateLadder(griffin, reader({ ...base, PURCHASE_COUNT: 3, "PURCHASE_COUNT:365": 3 })).stage).toBe("repeat_customer");
    const client = evaluateLadder(griffin, reader({ ...base, PURCHASE_COUNT: 4, "PURCHASE_COUNT:365": 4 }));
    expect(client.stage).toBe("client");
    expect(client.criteria).toEqual([{ metric: Metric.PURCHASE_COUNT, op: Comparator.GTE, value: 4, windowDays: 365, have: 4, passed: true }]);
    expect(client.summary).toBe("PURCHASE_COUNT (365d) 4 >= 4");
    // Ten purchases ever, but only two in the window: not a client.
    expect(evaluateLadder(griffin, reader({ ...base, PURCHASE_COUNT: 10, "PURCHASE_COUNT:365": 2 })).stage).toBe("repeat_customer");
  });

  it("takes the first path that holds and reports it", () => {
    const values = { PURCHASE_COUNT: 5, "PURCHASE_COUNT:365": 5, DAYS_SINCE_LAST_PURCHASE: 3, REVIEW_COUNT: 1, AVERAGE_RATING: 5, NPS: null };
    const r = evaluateLadder(griffin, reader(values));
    expect(r.stage).toBe("advocate");
    expect(r.pathIndex).toBe(1); // the review path; no referral
    expect(r.criteria.map((c) => [c.metric, c.have])).toEqual([
      [Metric.PURCHASE_COUNT, 5],
      [Metric.REVIEW_COUNT, 1],
      [Metric.AVERAGE_RATING, 5],
    ]);
  });

  it("lets a side stage take precedence over any rung", () => {
    const r = evaluateLadder(griffin, reader({ PURCHASE_COUNT: 6, "PURCHASE_COUNT:365": 0, DAYS_SINCE_LAST_PURCHASE: 200, REFERRAL_COUNT: 3, NPS: 10 }));
    expect(r.stage).toBe("lapsed");
    expect(r.summary).toBe("PURCHASE_COUNT 6 >= 1 and DAYS_SINCE_LAST_PURCHASE 200 >= 180");
  });

  it("never satisfies a criterion with a missing value, whatever the comparator", () => {
    const ladder: Ladder = {
      stages: [
        { key: "a", name: "A", side: false, paths: [] },
        { key: "b", name: "B", side: false, paths: [[{ metric: Metric.NPS, op: Comparator.LTE, value: 6 }]] },
      ],
    };
    expect(evaluateLadder(ladder, reader({ NPS: null })).stage).toBe("a");
    expect(evaluateLadder(ladder, reader({ NPS: 3 })).stage).toBe("b");
  });

  it("applies each comparator", () => {
    const stage = (op: Comparator) => ({ key: "s", name: "S", side: false, paths: [[{ metric: Metric.VISIT_COUNT, op, value: 2 }]] });
    const holds = (op: Comparator, v: number) => stageHolds(stage(op), reader({ VISIT_COUNT: v })) !== null;
    expect([holds(Comparator.GTE, 2), holds(Comparator.GTE, 1)]).toEqual([true, false]);
    expect([holds(Comparator.GT, 3), holds(Comparator.GT, 2)]).toEqual([true, false]);
    expect([holds(Comparator.LTE, 2), holds(Comparator.LTE, 3)]).toEqual([true, false]);
    expect([holds(Comparator.LT, 1), holds(Comparator.LT, 2)]).toEqual([true, false]);
    expect([holds(Comparator.EQ, 2), holds(Comparator.EQ, 3)]).toEqual([true, false]);
  });

  it("says what is missing for the next rung, choosing the closest path", () => {
    const next = nextStage(griffin, "client", reader({ PURCHASE_COUNT: 4, "PURCHASE_COUNT:365": 4, NPS: 7, REVIEW_COUNT: 1, AVERAGE_RATING: 3 }))!;
    expect(next.stage.key).toBe("advocate");
    // Referral path: 1 unmet; review path: 1 unmet (rating); NPS path: 1 unmet. Ties go to the first.
    expect(next.pathIndex).toBe(0);
    expect(next.requirements).toEqual([
      { criterion: expect.objectContaining({ metric: Metric.PURCHASE_COUNT }), have: 4, need: 4, met: true },
      { criterion: expect.objectContaining({ metric: Metric.REFERRAL_COUNT }), have: 0, need: 1, met: false },
    ]);
    expect(nextStage(griffin, "advocate", reader({}))).toBeNull();
  });

  it("measures a customer on a side stage against the rung above where the ladder alone puts them", () => {
    const next = nextStage(griffin, "lapsed", reader({ PURCHASE_COUNT: 2, "PURCHASE_COUNT:365": 0, DAYS_SINCE_LAST_PURCHASE: 400 }))!;
    expect(next.stage.key).toBe("client");
    expect(next.requirements[0]).toMatchObject({ have: 0, need: 4, met: false });
  });

  it("lists the windows a ladder reads", () => {
    expect(windowsUsed(griffin)).toEqual([{ metric: Metric.PURCHASE_COUNT, windowDays: 365 }]);
  });

  it("ships presets with the keys of docs/domain.md, each a valid ladder", () => {
    const keys = (k: string) => presetLadder(k)!.stages.map((s) => s.key);
    expect(keys("fourweekmba-5")).toEqual(["prospect", "customer", "client", "supporter", "advocate"]);
    expect(keys("griffin-7")).toEqual([
      "suspect",
      "prospect",
      "disqualified_prospect",
      "first_time_customer",
      "repeat_customer",
      "client",
      "advocate",
      "lapsed",
    ]);
    expect(
      presetLadder("griffin-7")!
        .stages.filter((s) => s.side)
        .map((s) => s.key),
    ).toEqual(["disqualified_prospect", "lapsed"]);
    expect(keys("trust-6")).toEqual(["awareness", "trust", "transaction", "satisfaction", "loyalty", "word_of_mouth"]);
    expect(keys("funnel-7")).toEqual(["awareness", "interest", "consideration", "purchase", "satisfaction", "loyalty", "advocacy"]);
    for (const key of Object.keys(LADDER_PRESETS)) expect(validateLadder(presetLadder(key)!)).toEqual([]);
  });

  it("is monotone on the preset ladders: more purchases never move a customer down (without side stages)", () => {
    const metrics = fc.record({
      purchases: fc.nat(20),
      extra: fc.nat(5),
      referrals: fc.nat(3),
      reviews: fc.nat(3),
      rating: fc.integer({ min: 1, max: 5 }),
      nps: fc.option(fc.integer({ min: 0, max: 10 })),
    });
    for (const key of Object.keys(LADDER_PRESETS)) {
      const ladder = { stages: presetLadder(key)!.stages.filter((s) => !s.side) };
      const rank = (k: string) => ladder.stages.findIndex((s) => s.key === k);
      fc.assert(
        fc.property(metrics, (m) => {
          const read = (p: number) =>
            reader({
              PURCHASE_COUNT: p,
              [`PURCHASE_COUNT:365`]: p,
              REFERRAL_COUNT: m.referrals,
              REVIEW_COUNT: m.reviews,
              AVERAGE_RATING: m.reviews ? m.rating : null,
              NPS: m.nps,
              VISIT_COUNT: 1,
            });
          return rank(evaluateLadder(ladder, read(m.purchases + m.extra)).stage) >= rank(evaluateLadder(ladder, read(m.purchases)).stage);
        }),
        { numRuns: 300 },
      );
    }
  });
});

describe("ladder validation", () => {
  it("reports each problem with its field", () => {
    const problems = validateLadder({
      stages: [
        { key: "Bottom", name: "", side: false, paths: [[{ metric: Metric.VISIT_COUNT, op: Comparator.GTE, value: 1 }]] },
        { key: "b", name: "B", side: false, paths: [] },
        { key: "b", name: "B2", side: false, paths: [[{ metric: Metric.NPS, op: Comparator.GTE, value: 9, windowDays: 30 }]] },
      ],
    });
    expect(problems.map((p) => p.field)).toEqual([
      "ladder.stages[0].key",
      "ladder.stages[0].name",
      "ladder.stages[0].paths",
      "ladder.stages[1].paths",
      "ladder.stages[2].key",
      "ladder.stages[2].paths[0][0].windowDays",
    ]);
  });
});
