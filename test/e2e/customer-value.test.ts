/**
 * A customer's value and loyalty through the API: RFM quintiles among the program's buyers, CLV,
 * the two loyalty dimensions and their quadrant, and who may read them.
 */
import fc from "fast-check";
import { startTestApp, TestApp } from "../helpers/test-app";
import { quintile } from "../../src/domain/value/customer-value";
import { quintileParams, quintileSql } from "../../src/modules/customer/value.sql";
import { REFUND_COMPLETION_BACKFILL } from "../../migrations/1764500000000-RefundCompletion";
import { createKey, createProgram, DAY, griffinProgram, ok, purchase, refund, review, touchpoint, withClock } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const VALUE = `rfm { recency frequency monetary score segment daysSinceLastPurchase purchaseCount purchaseAmount } clv loyalty { behavioral attitudinal quadrant }`;

async function valueOf(programId: string, externalId: string, token?: string) {
  const res = await t.gql(`query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { ${VALUE} } }`, { p: programId, e: externalId }, token);
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data.customer;
}

/**
 * Ten buyers: c1 … c10, where ck bought k times for 10k each, last (10 - k) * 10 days ago. Quintile
 * breakpoints are then the 2nd, 4th, 6th and 8th buyer on each measure, so ck scores ceil(k / 2) on all three.
 */
async function tenBuyers(): Promise<string> {
  const programId = await griffinProgram(t);
  const now = t.app.clock().getTime();
  for (let k = 1; k <= 10; k++) {
    const at = new Date(now - (10 - k) * 10 * DAY - k * 60_000).toISOString();
    for (let n = 1; n <= k; n++)
      ok(await purchase(t, { programId, customerExternalId: `c${k}`, orderId: `c${k}-${n}`, amount: 10 * k, currency: "EUR", occurredAt: at }));
  }
  return programId;
}

describe("customer value", () => {
  it("scores RFM by quintile among the program's buyers, with CLV, and none before a first purchase", async () => {
    const programId = await tenBuyers();
    ok(await touchpoint(t, { programId, customerExternalId: "visitor", type: "VISIT", externalId: "v1" }));
    const scores = await Promise.all([1, 2, 5, 9, 10].map((k) => valueOf(programId, `c${k}`)));
    expect(scores.map((s) => s.rfm.score)).toEqual(["111", "111", "333", "555", "555"]);
    expect(scores[4].rfm).toEqual({
      recency: 5,
      frequency: 5,
      monetary: 5,
      score: "555",
      segment: "CHAMPIONS",
      daysSinceLastPurchase: 0,
      purchaseCount: 10,
      purchaseAmount: 1000,
    });
    expect(scores[0].rfm).toMatchObject({ daysSinceLastPurchase: 90, purchaseCount: 1, purchaseAmount: 10 });
    // c10: 1000 in less than a year, three more years of 1000. c1: 10, and 30 more.
    expect(scores[4].clv).toBe(4000);
    expect(scores[0].clv).toBe(40);
    const visitor = await valueOf(programId, "visitor");
    expect(visitor).toEqual({ rfm: null, clv: 0, loyalty: { behavioral: 0, attitudinal: null, quadrant: "NONE" } });
    // A year later, c1 (last bought 90 days before) has lapsed: no future spending, and the oldest fifth still.
    const later = await withClock(t, 300 * DAY, () => valueOf(programId, "c1"));
    expect(later.clv).toBe(10);
    expect(later.rfm).toMatchObject({ score: "111", daysSinceLastPurchase: 390 });
  });

  it("places customers in the quadrant of their behaviour and what they said", async () => {
    const programId = await tenBuyers();
    // c10 is a promoter who shares: fanatical. c9 a detractor: inertia. c8 buys and redeems: mercenary.
    ok(await touchpoint(t, { programId, customerExternalId: "c10", type: "SURVEY_RESPONSE", externalId: "s10", data: { nps: 9 } }));
    ok(await touchpoint(t, { programId, customerExternalId: "c10", type: "SOCIAL_SHARE", externalId: "sh10" }));
    ok(await touchpoint(t, { programId, customerExternalId: "c7", type: "SURVEY_RESPONSE", externalId: "s7", data: { nps: 10 } }));
    ok(await touchpoint(t, { programId, customerExternalId: "c9", type: "SURVEY_RESPONSE", externalId: "s9", data: { nps: 3 } }));
    // c2 rarely buys but loves it: latent.
    ok(await review(t, { programId, customerExternalId: "c2", reviewId: "r2", rating: 5, productId: "sku-1" }));
    const reward = ok(await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, { i: { programId, name: "Mug", pointsCost: 100 } }));
    const c8 = (await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "c8") { id } }`, { p: programId })).data.customer.id;
    const redeemed = ok(
      await t.gql(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename } }`, {
        i: { customerId: c8, rewardId: reward.data.createReward.id, idempotencyKey: "m1" },
      }),
    );
    expect(redeemed.data.redeemReward.__typename).toBe("Redemption");

    const loyalty = async (k: number) => (await valueOf(programId, `c${k}`)).loyalty;
    // NPS 9 (90) and a share (advocacy: 100).
    expect(await loyalty(10)).toEqual({ behavioral: 100, attitudinal: 95, quadrant: "FANATICAL" });
    // c7: recency and frequency 4 (75, high), NPS 10.
    expect(await loyalty(7)).toEqual({ behavioral: 75, attitudinal: 100, quadrant: "COMMITTED" });
    expect(await loyalty(9)).toEqual({ behavioral: 100, attitudinal: 30, quadrant: "INERTIA" });
    expect(await loyalty(8)).toEqual({ behavioral: 75, attitudinal: null, quadrant: "MERCENARY" });
    // A redemption more than a year old no longer makes a mercenary.
    expect(await withClock(t, 400 * DAY, () => loyalty(8))).toEqual({ behavioral: 75, attitudinal: null, quadrant: "INERTIA" });
    expect(await loyalty(2)).toEqual({ behavioral: 0, attitudinal: 100, quadrant: "LATENT" });
    expect(await loyalty(1)).toEqual({ behavioral: 0, attitudinal: null, quadrant: "NONE" });
  });

  it("no longer counts a fully refunded order as the first or last purchase (recency, CLV, and the ladder's DAYS_SINCE_LAST_PURCHASE)", async () => {
    const programId = await griffinProgram(t);
    const now = t.app.clock().getTime();
    const at = (days: number) => new Date(now - days * DAY).toISOString();
    ok(await purchase(t, { programId, customerExternalId: "eve", orderId: "e-old", amount: 30, currency: "EUR", occurredAt: at(100) }));
    ok(await purchase(t, { programId, customerExternalId: "eve", orderId: "e-mid", amount: 20, currency: "EUR", occurredAt: at(40) }));
    ok(await purchase(t, { programId, customerExternalId: "eve", orderId: "e-new", amount: 50, currency: "EUR", occurredAt: at(5) }));
    const dates = async () => {
      const c = (
        await t.gql(
          `query($p: ID!) { customer(programId: $p, externalId: "eve") { metrics { firstPurchaseAt lastPurchaseAt purchaseCount } rfm { daysSinceLastPurchase } clv } }`,
          { p: programId },
        )
      ).data.customer;
      return {
        first: c.metrics.firstPurchaseAt,
        last: c.metrics.lastPurchaseAt,
        count: c.metrics.purchaseCount,
        days: c.rfm?.daysSinceLastPurchase ?? null,
        clv: c.clv,
      };
    };
    // A partial refund leaves the dates alone.
    ok(await refund(t, { programId, orderId: "e-new", refundId: "r1", amount: 10 }));
    expect(await dates()).toMatchObject({ first: at(100), last: at(5), count: 3, days: 5 });
    // The rest of that order back: the last purchase is the one 40 days ago.
    ok(await refund(t, { programId, orderId: "e-new", refundId: "r2", amount: 40 }));
    expect(await dates()).toMatchObject({ first: at(100), last: at(40), count: 2, days: 40 });
    // The oldest order back: the first purchase moves too.
    ok(await refund(t, { programId, orderId: "e-old", refundId: "r3", amount: 30 }));
    expect(await dates()).toMatchObject({ first: at(40), last: at(40), count: 1, days: 40, clv: 80 });
    // Nothing left: no purchase dates, no RFM, no value.
    ok(await refund(t, { programId, orderId: "e-mid", refundId: "r4", amount: 20 }));
    expect(await dates()).toEqual({ first: null, last: null, count: 0, days: null, clv: 0 });
  });

  it("stops counting an order refunded line by line everywhere, once, even a free one; the migration's backfill agrees", async () => {
    // A ladder whose next rung needs 10 purchases in 365 days: nextStage shows the windowed count.
    const programId = await createProgram(t, {
      name: "Windowed",
      ladder: {
        stages: [
          { key: "member", name: "Member" },
          { key: "regular", name: "Regular", paths: [[{ metric: "PURCHASE_COUNT", op: "GTE", value: 10, windowDays: 365 }]] },
        ],
      },
      earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }],
    });
    const now = t.app.clock().getTime();
    const at = (days: number) => new Date(now - days * DAY).toISOString();
    const buy = (orderId: string, days: number, amount: number, lines?: unknown[]) =>
      purchase(t, { programId, customerExternalId: "ivy", orderId, amount, currency: "EUR", occurredAt: at(days), ...(lines ? { lines } : {}) }).then(ok);
    await buy("paid", 30, 30);
    await buy("partly", 20, 30); // refunded in part: still a purchase
    await buy("voided", 25, 0, [{ sku: "x", quantity: 1, unitPrice: 5, voided: true }]); // nothing paid, never refunded
    await buy("twin", 15, 20, [
      { sku: "a", quantity: 1, unitPrice: 10 },
      { sku: "a", quantity: 1, unitPrice: 10 },
    ]); // one of two units back
    await buy("free", 2, 0, [{ sku: "gift", quantity: 2, unitPrice: 0 }]); // every line back, in two refunds
    ok(await refund(t, { programId, orderId: "partly", refundId: "p1", amount: 10 }));
    ok(await refund(t, { programId, orderId: "twin", refundId: "t1", lines: [{ sku: "a", quantity: 1 }] }));
    const state = async () => {
      const c = (
        await t.gql(
          `query($p: ID!) { customer(programId: $p, externalId: "ivy") {
        metrics { purchaseCount lastPurchaseAt } nextStage { requirements { have } } } }`,
          { p: programId },
        )
      ).data.customer;
      return { count: c.metrics.purchaseCount, last: c.metrics.lastPurchaseAt, windowed: c.nextStage.requirements[0].have };
    };
    expect(await state()).toEqual({ count: 5, last: at(2), windowed: 5 });
    ok(await refund(t, { programId, orderId: "free", refundId: "f1", lines: [{ sku: "gift", quantity: 1 }] }));
    expect(await state()).toEqual({ count: 5, last: at(2), windowed: 5 });
    // Every line back: the free order no longer counts, in the counters, the dates and the windows alike.
    ok(await refund(t, { programId, orderId: "free", refundId: "f2", lines: [{ sku: "gift", quantity: 1 }] }));
    expect(await state()).toEqual({ count: 4, last: at(15), windowed: 4 });
    // The migration's backfill finds the same over what the API stored: forget it, and run it again.
    await t.app.db.query(`UPDATE touchpoints SET refund_completed_at = NULL WHERE program_id = $1`, [programId]);
    await t.app.db.query(`UPDATE customers SET last_purchase_at = $2 WHERE program_id = $1`, [programId, at(2)]);
    expect(await state()).toEqual({ count: 4, last: at(2), windowed: 5 });
    for (const statement of REFUND_COMPLETION_BACKFILL) await t.app.db.query(statement);
    expect(await state()).toEqual({ count: 4, last: at(15), windowed: 4 });
    const [free] = await t.app.db.query(`SELECT refund_completed_at FROM touchpoints WHERE program_id = $1 AND external_id = 'free'`, [programId]);
    const [f2] = await t.app.db.query(`SELECT occurred_at FROM touchpoints WHERE program_id = $1 AND external_id = 'f2'`, [programId]);
    expect(free.refund_completed_at).toEqual(f2.occurred_at);
  });

  it("keeps the purchase dates right when full refunds race new purchases", async () => {
    const programId = await griffinProgram(t);
    const now = t.app.clock().getTime();
    const at = (days: number) => new Date(now - days * DAY).toISOString();
    for (let d = 60; d > 40; d--)
      ok(await purchase(t, { programId, customerExternalId: "hal", orderId: `old-${d}`, amount: 10, currency: "EUR", occurredAt: at(d) }));
    // Refund the ten newest old orders while ten newer purchases come in, all at once.
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => refund(t, { programId, orderId: `old-${41 + i}`, refundId: `rf-${i}`, amount: 10 }).then(ok)),
      ...Array.from({ length: 10 }, (_, i) =>
        purchase(t, { programId, customerExternalId: "hal", orderId: `new-${i}`, amount: 10, currency: "EUR", occurredAt: at(20 - i) }).then(ok),
      ),
    ]);
    const c = (
      await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "hal") { metrics { firstPurchaseAt lastPurchaseAt purchaseCount purchaseAmount } } }`, {
        p: programId,
      })
    ).data.customer;
    expect(c.metrics).toEqual({ firstPurchaseAt: at(60), lastPurchaseAt: at(11), purchaseCount: 20, purchaseAmount: 200 });
  });

  it("sums CLV per stage in the ladder funnel, as each customer's CLV adds up (now, and with customers lapsed)", async () => {
    const programId = await tenBuyers();
    // Some history beyond a year, some refunds: every branch of the rule.
    ok(
      await purchase(t, {
        programId,
        customerExternalId: "c3",
        orderId: "c3-old",
        amount: 77.77,
        currency: "EUR",
        occurredAt: new Date(t.app.clock().getTime() - 700 * DAY).toISOString(),
      }),
    );
    ok(await refund(t, { programId, orderId: "c6-1", refundId: "c6-r", amount: 60 }));
    ok(await touchpoint(t, { programId, customerExternalId: "window-shopper", type: "VISIT", externalId: "w1" }));
    const compare = async () => {
      const [list, funnel] = await Promise.all([
        t.gql(`query($p: ID!) { customers(programId: $p, first: 50) { nodes { stage { key } clv } } }`, { p: programId }),
        t.gql(`query($p: ID!) { ladderFunnel(programId: $p) { stages { stage { key } customers clv averageClv } } }`, { p: programId }),
      ]);
      const byStage = new Map<string, number>();
      for (const n of list.data.customers.nodes) byStage.set(n.stage.key, (byStage.get(n.stage.key) ?? 0) + n.clv);
      const stages = funnel.data.ladderFunnel.stages.filter((s: any) => s.customers > 0);
      expect(stages.length).toBeGreaterThan(1);
      for (const s of stages) {
        expect(s.clv).toBeCloseTo(byStage.get(s.stage.key)!, 2);
        expect(s.averageClv).toBeCloseTo(s.clv / s.customers, 2);
      }
      return stages.reduce((sum: number, s: any) => sum + s.clv, 0);
    };
    const now = await compare();
    const later = await withClock(t, 300 * DAY, compare);
    expect(later).toBeLessThan(now);
  });

  it("scores a quintile in SQL as quintile() does, ties and edges included", async () => {
    // Percentiles as percentile_disc gives them (sorted, with repeats), and values among and around them.
    const sample = fc.record({
      percentiles: fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 99 }).map((p) => p.sort((a, b) => a - b)),
      values: fc.array(fc.integer({ min: -2, max: 32 }), { minLength: 1, maxLength: 40 }),
    });
    await fc.assert(
      fc.asyncProperty(sample, async ({ percentiles, values }) => {
        const rows = await t.app.db.query(
          `SELECT ${quintileSql("v", "$1::numeric[]", "$2::numeric[]")} AS q FROM unnest($3::numeric[]) WITH ORDINALITY AS x(v, i) ORDER BY i`,
          [...quintileParams(percentiles), values],
        );
        expect(rows.map((r) => r.q)).toEqual(values.map((v) => quintile(v, percentiles)));
      }),
      { numRuns: 60 },
    );
  });

  it("counts the buyers per RFM segment and names the best customers, as each customer's rfm and clv say (now, and later)", async () => {
    const programId = await tenBuyers();
    // Four buyers tied on every measure, a customer who never bought, and an old big spender.
    const tied = new Date(t.app.clock().getTime() - 45 * DAY).toISOString();
    for (const name of ["t1", "t2", "t3", "t4"]) {
      for (const n of [1, 2])
        ok(await purchase(t, { programId, customerExternalId: name, orderId: `${name}-${n}`, amount: 15, currency: "EUR", occurredAt: tied }));
    }
    ok(await touchpoint(t, { programId, customerExternalId: "visitor", type: "VISIT", externalId: "v1" }));
    for (const n of [1, 2, 3, 4, 5]) ok(await purchase(t, { programId, customerExternalId: `small${n}`, orderId: `small${n}`, amount: n, currency: "EUR" }));
    for (const n of [1, 2, 3, 4, 5]) {
      const at = new Date(t.app.clock().getTime() - (200 + n) * DAY).toISOString();
      ok(await purchase(t, { programId, customerExternalId: "gone", orderId: `gone-${n}`, amount: 400, currency: "EUR", occurredAt: at }));
    }
    const compare = async () => {
      const [list, value] = await Promise.all([
        t.gql(`query($p: ID!) { customers(programId: $p, first: 50) { nodes { externalId clv rfm { segment } } } }`, { p: programId }),
        t.gql(
          `query($p: ID!) { valueSegments(programId: $p) { buyers nonBuyers segments { segment customers clv averageClv }
             best { customers clvThreshold clv shareOfClv top(first: 3) { externalId clv } } } }`,
          { p: programId },
        ),
      ]);
      const nodes = ok(list).data.customers.nodes;
      const v = ok(value).data.valueSegments;
      const buyers = nodes.filter((n: any) => n.rfm);
      expect([v.buyers, v.nonBuyers]).toEqual([buyers.length, nodes.length - buyers.length]);
      // Each segment holds exactly the customers whose own rfm names it, and their CLV.
      for (const segment of v.segments) {
        const mine = buyers.filter((n: any) => n.rfm.segment === segment.segment);
        expect([segment.segment, segment.customers]).toEqual([segment.segment, mine.length]);
        expect(segment.clv).toBeCloseTo(
          mine.reduce((sum: number, n: any) => sum + n.clv, 0),
          2,
        );
        if (mine.length === 0) expect(segment.averageClv).toBeNull();
      }
      expect(v.segments.filter((s: any) => s.customers > 0).length).toBeGreaterThanOrEqual(4);
      // The best: the first tenth of the buyers by CLV (rounded up) and whoever ties with the last.
      const clvs = buyers.map((n: any) => n.clv).sort((a: number, b: number) => b - a);
      const threshold = clvs[Math.ceil(clvs.length / 10) - 1];
      const best = buyers.filter((n: any) => n.clv >= threshold).sort((a: any, b: any) => b.clv - a.clv);
      expect(v.best.clvThreshold).toBeCloseTo(threshold, 2);
      expect(v.best.customers).toBe(best.length);
      expect(best.length).toBeGreaterThanOrEqual(Math.ceil(buyers.length / 10));
      expect(v.best.clv).toBeCloseTo(
        best.reduce((sum: number, n: any) => sum + n.clv, 0),
        2,
      );
      expect(v.best.shareOfClv).toBeCloseTo(v.best.clv / clvs.reduce((a: number, b: number) => a + b, 0), 2);
      expect(v.best.top.map((n: any) => n.clv)).toEqual(best.slice(0, 3).map((n: any) => n.clv));
      return v;
    };
    const now = await compare();
    expect(now.segments.find((s: any) => s.segment === "AT_RISK").customers).toBeGreaterThan(0);
    // 20 buyers, no ties at the top: the best are 2 (a tenth), not the 3 at or above the 90th percentile.
    expect([now.buyers, now.best.customers]).toEqual([20, 2]);
    const later = await withClock(t, 300 * DAY, compare);
    expect(later.best.clv).not.toBeCloseTo(now.best.clv, 2);
    // ADMIN only.
    const partner = await createKey(t, programId, "PARTNER");
    const denied = await t.gql(`query($p: ID!) { valueSegments(programId: $p) { buyers } }`, { p: programId }, partner);
    expect(denied.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("sets a goal per segment, from the count it holds now, and reads the progress towards it", async () => {
    const programId = await tenBuyers();
    const SET = `mutation($i: SegmentGoalInput!) { setSegmentGoal(input: $i) { segment customers goal { target baseline progress note dueAt } } }`;
    const dueAt = new Date(t.app.clock().getTime() + 365 * DAY).toISOString();
    const goals = async () =>
      Object.fromEntries(
        ok(
          await t.gql(`query($p: ID!) { valueSegments(programId: $p) { segments { segment customers goal { target baseline progress } } } }`, { p: programId }),
        ).data.valueSegments.segments.map((s: any) => [s.segment, s]),
      );
    // Seed the cached percentiles first, so the newcomers below do not move them.
    const start = await goals();
    const baseline = start.NEW_CUSTOMERS.customers;
    const set = ok(await t.gql(SET, { i: { programId, segment: "NEW_CUSTOMERS", target: baseline + 4, dueAt, note: "welcome drive" } })).data.setSegmentGoal;
    expect(set).toMatchObject({
      segment: "NEW_CUSTOMERS",
      customers: baseline,
      goal: { target: baseline + 4, baseline, progress: 0, note: "welcome drive", dueAt },
    });
    // Two first purchases today: new customers (the most recent, the fewest purchases).
    for (const name of ["n1", "n2"]) ok(await purchase(t, { programId, customerExternalId: name, orderId: `${name}-1`, amount: 5, currency: "EUR" }));
    const now = await goals();
    expect(now.NEW_CUSTOMERS).toEqual({ segment: "NEW_CUSTOMERS", customers: baseline + 2, goal: { target: baseline + 4, baseline, progress: 0.5 } });
    expect(now.CHAMPIONS.goal).toBeNull();
    // Set again (a later date, a higher target): the baseline stays, progress is still from it.
    const again = ok(await t.gql(SET, { i: { programId, segment: "NEW_CUSTOMERS", target: baseline + 8, dueAt } })).data.setSegmentGoal;
    expect(again.goal).toMatchObject({ target: baseline + 8, baseline, progress: 0.25, note: null });
    // Past its date and not reached: overdue. A goal to shrink a segment is reached at or below its target.
    const status = async () =>
      Object.fromEntries(
        ok(
          await t.gql(`query($p: ID!) { valueSegments(programId: $p) { segments { segment goal { reached overdue } } } }`, { p: programId }),
        ).data.valueSegments.segments.map((s: any) => [s.segment, s.goal]),
      );
    expect((await status()).NEW_CUSTOMERS).toEqual({ reached: false, overdue: false });
    expect((await withClock(t, 366 * DAY, status)).NEW_CUSTOMERS).toEqual({ reached: false, overdue: true });
    ok(await t.gql(SET, { i: { programId, segment: "HIBERNATING", target: 0, dueAt } }));
    expect(start.HIBERNATING.customers).toBeGreaterThan(0);
    expect((await status()).HIBERNATING).toEqual({ reached: false, overdue: false });
    // Reached: the two newcomers meet a target of two more; a target of the count itself is held.
    ok(await t.gql(SET, { i: { programId, segment: "NEW_CUSTOMERS", target: baseline + 2, dueAt } }));
    ok(await t.gql(SET, { i: { programId, segment: "LOYAL", target: now.LOYAL.customers, dueAt } }));
    const reached = await status();
    expect([reached.NEW_CUSTOMERS, reached.LOYAL]).toEqual([
      { reached: true, overdue: false },
      { reached: true, overdue: false },
    ]);
    // Bad goals write nothing; only ADMIN sets them; clearing removes one.
    const bad = async (i: Record<string, unknown>, field: string) => {
      const res = await t.gql(SET, { i: { programId, segment: "CHAMPIONS", target: 5, dueAt, ...i } });
      expect([res.errors?.[0].extensions?.code, res.errors?.[0].extensions?.field]).toEqual(["BAD_USER_INPUT", field]);
    };
    await bad({ target: -1 }, "target");
    await bad({ dueAt: new Date(t.app.clock().getTime() - DAY).toISOString() }, "dueAt");
    const partner = await createKey(t, programId, "PARTNER");
    expect((await t.gql(SET, { i: { programId, segment: "CHAMPIONS", target: 5, dueAt } }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await goals()).CHAMPIONS.goal).toBeNull();
    const clear = `mutation($p: ID!, $s: RfmSegment!) { clearSegmentGoal(programId: $p, segment: $s) }`;
    expect(ok(await t.gql(clear, { p: programId, s: "NEW_CUSTOMERS" })).data.clearSegmentGoal).toBe(true);
    expect(ok(await t.gql(clear, { p: programId, s: "NEW_CUSTOMERS" })).data.clearSegmentGoal).toBe(false);
    expect((await goals()).NEW_CUSTOMERS.goal).toBeNull();
  });

  it("is for ADMIN and PARTNER keys: not for a storefront's customer token", async () => {
    const programId = await tenBuyers();
    const partner = await createKey(t, programId, "PARTNER");
    expect((await valueOf(programId, "c5", partner)).rfm.score).toBe("333");
    const id = (await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "c5") { id } }`, { p: programId })).data.customer.id;
    const token = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: id })).data.issueCustomerToken.token;
    const own = await t.gql(`{ me { points { balance } } }`, {}, token);
    expect(own.errors).toBeUndefined();
    for (const field of ["rfm { score }", "clv", "loyalty { quadrant }"]) {
      const res = await t.gql(`{ me { points { balance } ${field} } }`, {}, token);
      expect(res.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    }
  });
});
