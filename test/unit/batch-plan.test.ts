/**
 * planBatch: what a write batch writes, from the customers' state as its read returned it. Each
 * customer's records are evaluated in arrival order, each from the state right before it (its
 * points from the stage it had then, its move from the counters after it). Replays and unknown
 * customers are sorted out before planning (batch-writer.ts), so every record given here is new.
 */
import "reflect-metadata";
import fc from "fast-check";
import { Queryable } from "../../src/db/db";
import { windowsUsed } from "../../src/domain/ladder/ladder.engine";
import { presetLadder } from "../../src/domain/ladder/ladder.presets";
import { windowKey } from "../../src/modules/customer/customer.metrics";
import { EarningRule, TouchpointType } from "../../src/modules/program/earning";
import { ProgramConfig, toStage } from "../../src/modules/program/program.config";
import { Program } from "../../src/modules/program/program.types";
import { ExpiryPolicy, OverdraftPolicy, PointsPolicy } from "../../src/modules/points/points.policy";
import { BatchCaps } from "../../src/modules/touchpoint/batch-points";
import { BatchPlan, CustomerState, planBatch, stateOf } from "../../src/modules/touchpoint/batch-plan";
import type { WriteItem } from "../../src/modules/touchpoint/batch-writer";
import { deltasFor } from "../../src/modules/touchpoint/touchpoint.deltas";
import { TouchpointRecord } from "../../src/modules/touchpoint/touchpoint.model";

const NOW = new Date("2026-03-04T12:00:00Z");
const DAY = 86_400_000;
const ladder = presetLadder("griffin-7")!;

const rule = (over: Partial<EarningRule>): EarningRule => ({
  id: "per-euro",
  name: null,
  touchpointType: TouchpointType.PURCHASE,
  pointsPerUnit: 1,
  fixedPoints: null,
  priority: 0,
  ...over,
});

function configOf(rules: EarningRule[] = [rule({})], points: Partial<PointsPolicy> = {}): ProgramConfig {
  const stages = ladder.stages.map((def, rank) => toStage(def, rank));
  return {
    program: Object.assign(new Program(), {
      id: "program",
      name: "Griffin shop",
      pointsName: "points",
      timeZone: "UTC",
      ladderPreset: "griffin-7",
      createdAt: NOW,
    }),
    version: "v1",
    tokenSecret: "secret",
    ladder,
    stages,
    stageByKey: new Map(stages.map((s) => [s.key, s])),
    bottom: stages[0],
    rules,
    points: { pendingDays: 0, expiry: ExpiryPolicy.NEVER, expiryDays: null, overdraft: OverdraftPolicy.ALLOW_NEGATIVE, ...points },
    tiers: [],
    tierPolicy: { basis: "POINTS_EARNED", window: "ROLLING_DAYS", windowDays: 365, graceDays: 0, downgrade: "ONE_TIER" },
    triggers: [],
    stageRewards: [],
    valuePolicy: { activeDays: 365, horizonYears: 3, firstRepeatDays: 90 },
    windows: windowsUsed(ladder),
  };
}

/** A customer row as the batch's read returns it: sums as text, as PostgreSQL sends bigint and numeric. */
function customerRow(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    created_at: new Date(NOW.getTime() - 30 * DAY),
    stage_key: "suspect",
    stage_entered_at: new Date(NOW.getTime() - 30 * DAY),
    tier_key: null,
    row_version: 7,
    balance: "0",
    pending_points: "0",
    lifetime_points: "0",
    purchase_amount: "0",
    touchpoint_count: 0,
    purchase_count: 0,
    review_count: 0,
    rating_sum: 0,
    referral_count: 0,
    social_share_count: 0,
    visit_count: 0,
    product_view_count: 0,
    support_contact_count: 0,
    event_attendance_count: 0,
    first_purchase_at: null,
    last_purchase_at: null,
    nps: null,
    ...over,
  };
}

const stateFor = (config: ProgramConfig, id: string, over: Record<string, unknown> = {}): CustomerState =>
  stateOf(customerRow(id, over), new Map(config.windows.map((w) => [windowKey(w.metric, w.windowDays), Number(over[`window:${w.metric}`] ?? 0)])));

let keys = 0;
function record(type: TouchpointType, over: Partial<TouchpointRecord> = {}): TouchpointRecord {
  return {
    programId: "program",
    type,
    externalId: `k${++keys}`,
    keyField: "externalId",
    occurredAt: new Date(NOW.getTime() - 60_000),
    amount: null,
    hashed: null,
    ...over,
  };
}
const buy = (amount: number, over: Partial<TouchpointRecord> = {}) =>
  record(TouchpointType.PURCHASE, { amount, currency: "EUR", keyField: "orderId", ...over });

/** Caps with nothing given before the batch; the read of capped rules' usage answers no rows. */
const noUsage = { query: async () => [] } as unknown as Queryable;

/** Plans `batch` (customer id, record), in arrival order, as batch-writer.ts groups it. */
async function plan(
  config: ProgramConfig,
  batch: Array<[string, TouchpointRecord]>,
  states: Map<string, CustomerState>,
): Promise<{ plan: BatchPlan; items: WriteItem[] }> {
  const items = batch.map(([, r]) => ({ record: r, hash: `hash:${r.externalId}`, deltas: deltasFor(r) }));
  const byCustomer = new Map<string, WriteItem[]>();
  batch.forEach(([customerId], i) => byCustomer.set(customerId, [...(byCustomer.get(customerId) ?? []), items[i]]));
  const caps = await BatchCaps.load(
    noUsage,
    config,
    [...byCustomer.keys()],
    items.map((i) => i.record),
  );
  return { plan: planBatch(config, byCustomer, new Map(items.map((item, ord) => [item, ord])), states, caps, NOW), items };
}

describe("planBatch", () => {
  it("plans a first purchase: its touchpoint, lot, the customer's deltas, the move and both events", async () => {
    const config = configOf();
    const order = buy(42.99, { occurredAt: new Date(NOW.getTime() - DAY) });
    const { plan: p } = await plan(config, [["c1", order]], new Map([["c1", stateFor(config, "c1")]]));

    expect(p.touchpoints).toEqual([
      expect.objectContaining({
        ord: 0,
        customer_id: "c1",
        type: "PURCHASE",
        external_id: order.externalId,
        amount: 42.99,
        currency: "EUR",
        request_hash: `hash:${order.externalId}`,
        points: 42,
      }),
    ]);
    expect(p.lots).toEqual([
      expect.objectContaining({
        customer_id: "c1",
        tp: 0,
        rule_id: "per-euro",
        amount: 42,
        remaining: 42,
        status: "ACTIVE",
        activates_at: null,
        expires_at: null,
      }),
    ]);
    expect(p.customerUpdates).toEqual([
      expect.objectContaining({
        id: "c1",
        row_version: 7,
        touchpoint_count: 1,
        purchase_count: 1,
        purchase_amount: 42.99,
        balance: 42,
        pending: 0,
        lifetime: 42,
        first_purchase_at: order.occurredAt.toISOString(),
        last_purchase_at: order.occurredAt.toISOString(),
        nps: null,
        stage_key: "first_time_customer",
      }),
    ]);
    expect(p.moves).toEqual([expect.objectContaining({ ord: 0, tp: 0, customer_id: "c1", from_key: "suspect", to_key: "first_time_customer" })]);
    expect(p.moves[0].reason.summary).toBe("PURCHASE_COUNT 1 >= 1");
    expect(p.eventRows).toEqual([
      expect.objectContaining({
        ord: 0,
        tp: 0,
        topic: "TOUCHPOINT_RECORDED",
        customer_id: "c1",
        payload: expect.objectContaining({ points: 42, pending: false, balance: "42" }),
      }),
      expect.objectContaining({
        ord: 1,
        tp: 0,
        topic: "STAGE_CHANGED",
        payload: expect.objectContaining({
          from: { key: "suspect", name: "Suspect", rank: 0 },
          to: expect.objectContaining({ key: "first_time_customer" }),
          cause: "TOUCHPOINT",
        }),
      }),
    ]);
  });

  it("evaluates each record from the state right before it: moves chain and a stage rule sees the stage then", async () => {
    // 10 bonus points for purchases made as a first-time customer: the second purchase only.
    const config = configOf([rule({}), rule({ id: "first-timer-bonus", pointsPerUnit: null, fixedPoints: 10, stages: ["first_time_customer"] })]);
    const visit = record(TouchpointType.VISIT);
    const [first, second] = [buy(20), buy(30)];
    const { plan: p, items } = await plan(
      config,
      [
        ["c1", visit],
        ["c1", first],
        ["c1", second],
      ],
      new Map([["c1", stateFor(config, "c1")]]),
    );

    expect(p.touchpoints.map((t: any) => t.points)).toEqual([0, 20, 40]);
    expect(p.moves.map((m) => [m.tp, m.from_key, m.to_key])).toEqual([
      [0, "suspect", "prospect"],
      [1, "prospect", "first_time_customer"],
      [2, "first_time_customer", "repeat_customer"],
    ]);
    expect(p.moves.map((m) => m.ord)).toEqual([0, 1, 2]);
    // The answer of each record is the customer right after it.
    expect(items.map((i) => [p.evaluated.get(i)!.row.balance, p.evaluated.get(i)!.row.stage_key])).toEqual([
      [0, "prospect"],
      [20, "first_time_customer"],
      [60, "repeat_customer"],
    ]);
    expect(
      p.evaluated
        .get(items[2])!
        .applied.map((a) => a.ruleId)
        .sort(),
    ).toEqual(["first-timer-bonus", "per-euro"]);
    expect(p.customerUpdates).toEqual([
      expect.objectContaining({
        touchpoint_count: 3,
        visit_count: 1,
        purchase_count: 2,
        purchase_amount: 50,
        balance: 60,
        lifetime: 60,
        stage_key: "repeat_customer",
      }),
    ]);
    // One TOUCHPOINT_RECORDED per record, each followed by the move it caused; ords in order.
    expect(p.eventRows.map((e: any) => `${e.ord}:${e.topic}:${e.tp}`)).toEqual([
      "0:TOUCHPOINT_RECORDED:0",
      "1:STAGE_CHANGED:0",
      "2:TOUCHPOINT_RECORDED:1",
      "3:STAGE_CHANGED:1",
      "4:TOUCHPOINT_RECORDED:2",
      "5:STAGE_CHANGED:2",
    ]);
  });

  it("sends no stage when the customer did not move, and keeps customers apart", async () => {
    const config = configOf();
    const states = new Map([
      ["c1", stateFor(config, "c1", { stage_key: "repeat_customer", purchase_count: 2, balance: "5" })],
      ["c2", stateFor(config, "c2")],
    ]);
    // Arrival order c1, c2, c1: ords follow arrival, the plan groups by customer.
    const { plan: p } = await plan(
      config,
      [
        ["c1", record(TouchpointType.VISIT)],
        ["c2", buy(3)],
        ["c1", buy(1)],
      ],
      states,
    );
    expect(p.customerUpdates.map((u) => [u.id, u.touchpoint_count, u.balance, u.stage_key])).toEqual([
      ["c1", 2, 1, null],
      ["c2", 1, 3, "first_time_customer"],
    ]);
    expect(p.touchpoints.map((t: any) => [t.ord, t.customer_id])).toEqual([
      [0, "c1"],
      [2, "c1"],
      [1, "c2"],
    ]);
    // The balance in the event is the customer's, not the batch's: 5 before, +1.
    expect(p.eventRows.filter((e: any) => e.customer_id === "c1").map((e: any) => e.payload.balance)).toEqual(["5", "6"]);
  });

  it("holds purchase points pending for the return window", async () => {
    const config = configOf([rule({})], { pendingDays: 14, expiry: ExpiryPolicy.AFTER_DAYS, expiryDays: 30 });
    const order = buy(25, { occurredAt: NOW });
    const { plan: p } = await plan(config, [["c1", order]], new Map([["c1", stateFor(config, "c1")]]));
    const activates = new Date(NOW.getTime() + 14 * DAY);
    expect(p.lots).toEqual([
      expect.objectContaining({
        amount: 25,
        remaining: 25,
        status: "PENDING",
        activates_at: activates.toISOString(),
        expires_at: new Date(activates.getTime() + 30 * DAY).toISOString(),
      }),
    ]);
    expect(p.customerUpdates[0]).toMatchObject({ balance: 0, pending: 25, lifetime: 25 });
    expect(p.eventRows[0]).toMatchObject({ payload: { points: 25, pending: true, balance: "0" } });
    expect(p.touchpoints[0]).toMatchObject({ earning: expect.objectContaining({ pending: true, total: 25 }) });
  });

  it("pays off a negative balance first with spendable points", async () => {
    const config = configOf();
    const { plan: p } = await plan(
      config,
      [
        ["c1", buy(50)],
        ["c1", buy(50)],
      ],
      new Map([["c1", stateFor(config, "c1", { balance: "-70" })]]),
    );
    // 70 owed: the first 50 all go to the debt, 20 of the second.
    expect(p.lots.map((l) => [l.amount, l.remaining])).toEqual([
      [50, 0],
      [50, 30],
    ]);
    expect(p.customerUpdates[0]).toMatchObject({ balance: 100, lifetime: 100 });
  });

  it("counts what earlier records of the batch gave against a capped rule", async () => {
    const config = configOf([rule({ capPoints: 60, capPeriod: "DAY" })]);
    const states = new Map([
      ["c1", stateFor(config, "c1")],
      ["c2", stateFor(config, "c2")],
    ]);
    const { plan: p } = await plan(
      config,
      [
        ["c1", buy(50)],
        ["c2", buy(50)],
        ["c1", buy(50)],
      ],
      states,
    );
    // The cap is per customer: c1's second purchase gets the 10 left, c2 its full 50.
    expect(p.touchpoints.map((t: any) => [t.customer_id, t.points])).toEqual([
      ["c1", 50],
      ["c1", 10],
      ["c2", 50],
    ]);
    expect(p.touchpoints[1]).toMatchObject({ earning: expect.objectContaining({ applied: [expect.objectContaining({ points: 10, capped: true })] }) });
  });

  it("raises a detractor alert for an NPS of 6 or less, naming the survey it came from", async () => {
    const config = configOf();
    const survey = (nps: number, responseId: string) =>
      record(TouchpointType.SURVEY_RESPONSE, {
        nps,
        keyField: "responseId",
        externalId: `survey-1:${responseId}`,
        data: { survey: { id: "survey-1", responseId } },
      });
    const { plan: p } = await plan(
      config,
      [
        ["c1", survey(8, "a")],
        ["c1", survey(6, "b")],
        ["c1", survey(7, "c")],
      ],
      new Map([["c1", stateFor(config, "c1")]]),
    );
    const alerts = p.eventRows.filter((e: any) => e.topic === "DETRACTOR_ALERT");
    expect(alerts).toEqual([
      expect.objectContaining({ tp: 1, payload: expect.objectContaining({ nps: 6, previousNps: 8, surveyId: "survey-1", externalId: "b" }) }),
    ]);
    // The customer keeps the last answer.
    expect(p.customerUpdates[0]).toMatchObject({ nps: 7 });
    // A SURVEY_RESPONSE recorded directly has no survey: its own key names it.
    const direct = record(TouchpointType.SURVEY_RESPONSE, { nps: 0 });
    const { plan: q } = await plan(config, [["c1", direct]], new Map([["c1", stateFor(config, "c1")]]));
    expect(q.eventRows.find((e: any) => e.topic === "DETRACTOR_ALERT")).toMatchObject({
      payload: { surveyId: null, externalId: direct.externalId, previousNps: null },
    });
  });

  it("counts a record in the ladder's windows only when it falls inside them", async () => {
    // client needs 4 purchases in 365 days. Three are in the window already; a purchase 400 days
    // old does not make a fourth, today's does.
    const config = configOf();
    const regular = { stage_key: "repeat_customer", purchase_count: 3, "window:PURCHASE_COUNT": 3, last_purchase_at: new Date(NOW.getTime() - 10 * DAY) };
    const old = buy(1, { occurredAt: new Date(NOW.getTime() - 400 * DAY) });
    const { plan: p } = await plan(
      config,
      [
        ["c1", old],
        ["c1", buy(1)],
      ],
      new Map([["c1", stateFor(config, "c1", regular)]]),
    );
    expect(p.moves.map((m) => [m.tp, m.to_key])).toEqual([[1, "client"]]);
    expect(p.customerUpdates[0]).toMatchObject({ first_purchase_at: old.occurredAt.toISOString(), purchase_count: 2 });
  });
});

describe("planBatch invariants", () => {
  const TYPES = [
    TouchpointType.PURCHASE,
    TouchpointType.VISIT,
    TouchpointType.PRODUCT_VIEW,
    TouchpointType.REVIEW,
    TouchpointType.REFERRAL,
    TouchpointType.SURVEY_RESPONSE,
  ];
  /** A batch: records of up to four customers in arrival order, some with negative balances to start. */
  const batch = fc.record({
    pendingDays: fc.constantFrom(0, 14),
    starts: fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 4, maxLength: 4 }),
    records: fc.array(
      fc.record({
        customer: fc.integer({ min: 0, max: 3 }),
        type: fc.constantFrom(...TYPES),
        cents: fc.integer({ min: 0, max: 50_000 }),
        rating: fc.integer({ min: 1, max: 5 }),
        nps: fc.integer({ min: 0, max: 10 }),
        daysAgo: fc.integer({ min: 0, max: 500 }),
      }),
      { minLength: 1, maxLength: 25 },
    ),
  });
  type Batch = typeof batch extends fc.Arbitrary<infer T> ? T : never;
  const rules = [
    rule({}),
    rule({ id: "review", touchpointType: TouchpointType.REVIEW, pointsPerUnit: null, fixedPoints: 5 }),
    rule({ id: "capped-visit", touchpointType: TouchpointType.VISIT, pointsPerUnit: null, fixedPoints: 3, capPoints: 7, capPeriod: "DAY" }),
  ];

  function setUp(input: Batch) {
    const config = configOf(rules, { pendingDays: input.pendingDays });
    const states = () => new Map(input.starts.map((b, i) => [`c${i}`, stateFor(config, `c${i}`, { balance: String(b) })]));
    const records: Array<[string, TouchpointRecord]> = input.records.map((r, i) => [
      `c${r.customer}`,
      {
        programId: "program",
        type: r.type,
        externalId: `e${i}`,
        keyField: "externalId",
        occurredAt: new Date(NOW.getTime() - r.daysAgo * DAY),
        hashed: null,
        amount: r.type === TouchpointType.PURCHASE ? r.cents / 100 : null,
        rating: r.type === TouchpointType.REVIEW ? r.rating : null,
        nps: r.type === TouchpointType.SURVEY_RESPONSE ? r.nps : null,
      },
    ]);
    return { config, states, records };
  }

  it("plans the same batch from the same state the same way", async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (input) => {
        const { config, states, records } = setUp(input);
        // planBatch moves the states it is given record by record: each plan starts from a fresh copy.
        const a = (await plan(config, records, states())).plan;
        const b = (await plan(config, records, states())).plan;
        expect({ ...b, evaluated: [...b.evaluated.values()] }).toEqual({ ...a, evaluated: [...a.evaluated.values()] });
      }),
      { numRuns: 50 },
    );
  });

  it("adds up: deltas are the sums of the records' points and counters, lots the points, moves chain", async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (input) => {
        const { config, states, records } = setUp(input);
        const before = states();
        const { plan: p, items } = await plan(config, records, states());
        expect(p.touchpoints).toHaveLength(records.length);
        expect(p.eventRows.map((e: any) => e.ord)).toEqual(p.eventRows.map((_, i) => i));
        expect(
          p.eventRows
            .filter((e: any) => e.topic === "TOUCHPOINT_RECORDED")
            .map((e: any) => e.tp)
            .sort((x: number, y: number) => x - y),
        ).toEqual(records.map((_, i) => i));
        expect(p.eventRows.filter((e: any) => e.topic === "STAGE_CHANGED")).toHaveLength(p.moves.length);
        for (const update of p.customerUpdates) {
          const mine = items.filter((_, i) => records[i][0] === update.id).map((item) => p.evaluated.get(item)!);
          const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
          expect(update.touchpoint_count).toBe(mine.length);
          expect(update.lifetime).toBe(sum(mine.map((e) => e.points)));
          expect(update.balance).toBe(sum(mine.filter((e) => !e.pending).map((e) => e.points)));
          expect(update.pending).toBe(sum(mine.filter((e) => e.pending).map((e) => e.points)));
          const purchases = records.filter(([c, r]) => c === update.id && r.type === TouchpointType.PURCHASE);
          expect(update.purchase_count).toBe(purchases.length);
          expect(Math.round((update.purchase_amount as number) * 100)).toBe(sum(purchases.map(([, r]) => Math.round(r.amount! * 100))));
          // Moves chain from the stage the customer had, and the update names where it ended.
          const moves = p.moves.filter((m) => m.customer_id === update.id);
          let stage = before.get(update.id)!.row.stage_key;
          for (const m of moves) {
            expect(m.from_key).toBe(stage);
            expect(m.to_key).not.toBe(stage);
            stage = m.to_key;
          }
          expect(update.stage_key).toBe(moves.length ? stage : null);
        }
        // Each record's lots hold exactly its points; spendable lots never hold more than was earned.
        for (const t of p.touchpoints as any[]) {
          const lots = p.lots.filter((l) => l.tp === t.ord);
          expect(lots.reduce((n, l) => n + l.amount, 0)).toBe(t.points);
          for (const l of lots) expect(l.remaining).toBeGreaterThanOrEqual(0);
          for (const l of lots) expect(l.remaining).toBeLessThanOrEqual(l.amount);
        }
      }),
      { numRuns: 100 },
    );
  });
});
