/**
 * Customers' lifecycle phases through the API: each customer's phase and its reason, the customers
 * list filtered by phase, the program's counts per phase and stage agreeing with the customers
 * (now and later), the SQL rule agreeing with the function, and who may read them.
 */
import fc from "fast-check";
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { lifecycleOf } from "../../src/domain/value/lifecycle";
import { clvOf, DEFAULT_VALUE_POLICY } from "../../src/domain/value/customer-value";
import { clvSql, lifecyclePhaseSql } from "../../src/modules/customer/value.sql";
import { scanLifecycle } from "../../src/modules/customer/lifecycle.scan";
import { createKey, DAY, griffinProgram, ok, purchase, refund, touchpoint, withClock } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const LIFECYCLE = `lifecycle { phase reason averageDaysBetweenPurchases expectedNextPurchaseAt declineAt churnAt }`;

/** Customers with purchases the given days ago (oldest first), and a visitor who never bought. */
const HISTORIES: Record<string, number[]> = {
  fresh: [10],
  quiet: [120],
  monthly: [70, 40, 10],
  overdue: [150, 120, 90],
  veteran: [500, 250, 20],
  lost: [400],
};

/** The program, and the time the purchases were dated from. */
async function shopAt(): Promise<{ programId: string; now: number }> {
  const programId = await griffinProgram(t);
  const now = t.app.clock().getTime();
  for (const [name, days] of Object.entries(HISTORIES)) {
    for (const [i, d] of days.entries())
      ok(
        await purchase(t, {
          programId,
          customerExternalId: name,
          orderId: `${name}-${i}`,
          amount: 20,
          currency: "EUR",
          occurredAt: new Date(now - d * DAY).toISOString(),
        }),
      );
  }
  ok(await touchpoint(t, { programId, customerExternalId: "visitor", type: "VISIT", externalId: "v1" }));
  // Bought and returned it all: not a buyer any more.
  ok(await purchase(t, { programId, customerExternalId: "returner", orderId: "returner-1", amount: 30, currency: "EUR" }));
  ok(await refund(t, { programId, orderId: "returner-1", refundId: "returner-r", amount: 30 }));
  return { programId, now };
}

const shop = async () => (await shopAt()).programId;

async function lifecycleOfCustomer(programId: string, externalId: string, token?: string) {
  const res = await t.gql(`query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { ${LIFECYCLE} } }`, { p: programId, e: externalId }, token);
  return ok(res).data.customer.lifecycle;
}

async function listed(programId: string, args: string): Promise<string[]> {
  const res = ok(await t.gql(`query($p: ID!) { customers(programId: $p, first: 50, ${args}) { nodes { externalId } } }`, { p: programId }));
  return res.data.customers.nodes.map((n: any) => n.externalId).sort();
}

describe("customer lifecycle", () => {
  it("places each customer in a phase, says why, and when they move on without a purchase", async () => {
    const { programId, now } = await shopAt();
    const at = (days: number) => new Date(now + days * DAY).toISOString();
    const phases: Record<string, string> = {};
    for (const name of [...Object.keys(HISTORIES), "visitor", "returner"]) phases[name] = (await lifecycleOfCustomer(programId, name)).phase;
    expect(phases).toEqual({
      fresh: "ACQUISITION",
      quiet: "DECLINE",
      monthly: "GROWTH",
      overdue: "DECLINE",
      veteran: "MATURITY",
      lost: "CHURNED",
      visitor: "CONTACT",
      returner: "CONTACT",
    });

    expect(await lifecycleOfCustomer(programId, "monthly")).toEqual({
      phase: "GROWTH",
      reason: "3 purchases, one every 30 days on average, buying for 70 days (mature from 365)",
      averageDaysBetweenPurchases: 30,
      expectedNextPurchaseAt: at(20),
      declineAt: at(50),
      churnAt: at(355),
    });
    expect(await lifecycleOfCustomer(programId, "overdue")).toMatchObject({
      reason: "3 purchases, one every 30 days on average; none for 90 days (overdue from 60)",
      declineAt: at(-30),
    });
    // Every 240 days: twice that is past churn, so the last call, 90 days before it, comes first.
    expect(await lifecycleOfCustomer(programId, "veteran")).toMatchObject({ averageDaysBetweenPurchases: 240, declineAt: at(255), churnAt: at(345) });
    expect(await lifecycleOfCustomer(programId, "visitor")).toEqual({
      phase: "CONTACT",
      reason: "no purchase yet",
      averageDaysBetweenPurchases: null,
      expectedNextPurchaseAt: null,
      declineAt: null,
      churnAt: null,
    });

    // A purchase today brings the overdue customer back on schedule.
    ok(await purchase(t, { programId, customerExternalId: "overdue", orderId: "overdue-back", amount: 20, currency: "EUR" }));
    expect((await lifecycleOfCustomer(programId, "overdue")).phase).toBe("GROWTH");
    // Time passing moves the others: 100 days on, the fresh buyer is overdue and the monthly one too.
    const later = await withClock(t, 100 * DAY, async () => ({
      fresh: await lifecycleOfCustomer(programId, "fresh"),
      monthly: await lifecycleOfCustomer(programId, "monthly"),
    }));
    expect([later.fresh.phase, later.monthly.phase]).toEqual(["DECLINE", "DECLINE"]);
  });

  it("lists the customers of a phase, with a stage too, a page at a time", async () => {
    const programId = await shop();
    expect(await listed(programId, "lifecycle: DECLINE")).toEqual(["overdue", "quiet"]);
    expect(await listed(programId, "lifecycle: CONTACT")).toEqual(["returner", "visitor"]);
    const firstTimers = await listed(programId, `stage: "first_time_customer"`);
    expect(await listed(programId, `stage: "first_time_customer", lifecycle: DECLINE`)).toEqual(firstTimers.filter((n) => n === "quiet"));
    const page = ok(
      await t.gql(`query($p: ID!) { customers(programId: $p, lifecycle: DECLINE, first: 1) { nodes { externalId } pageInfo { hasNextPage endCursor } } }`, {
        p: programId,
      }),
    ).data.customers;
    expect(page.pageInfo.hasNextPage).toBe(true);
    const next = ok(
      await t.gql(
        `query($p: ID!, $a: String) { customers(programId: $p, lifecycle: DECLINE, first: 1, after: $a) { nodes { externalId } pageInfo { hasNextPage } } }`,
        { p: programId, a: page.pageInfo.endCursor },
      ),
    ).data.customers;
    expect([...page.nodes, ...next.nodes].map((n: any) => n.externalId).sort()).toEqual(["overdue", "quiet"]);
    expect(next.pageInfo.hasNextPage).toBe(false);
    const bad = await t.gql(/* invalid on purpose */ `query($p: ID!) { customers(programId: $p, lifecycle: SLEEPING) { nodes { id } } }`, { p: programId });
    expect(bad.errors?.[0].message).toMatch(/SLEEPING/);
    // 300 days on, the list follows the clock.
    expect(await withClock(t, 300 * DAY, () => listed(programId, "lifecycle: CHURNED"))).toEqual(["lost", "overdue", "quiet"]);
    // An erased customer is nobody to win back: out of the phase's list and the counts.
    const quiet = ok(await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "quiet") { id } }`, { p: programId })).data.customer.id;
    ok(await t.gql(`mutation($c: ID!) { eraseCustomer(customerId: $c) { id } }`, { c: quiet }));
    expect(await listed(programId, "lifecycle: DECLINE")).toEqual(["overdue"]);
    const report = ok(await t.gql(`query($p: ID!) { customerLifecycle(programId: $p) { customers phases { phase customers } } }`, { p: programId })).data
      .customerLifecycle;
    expect([report.customers, report.phases.find((p: any) => p.phase === "DECLINE").customers]).toEqual([7, 1]);
  });

  it("counts the customers per phase and per stage as each customer's lifecycle and CLV say (now, and later)", async () => {
    const programId = await shop();
    const compare = async () => {
      const [list, report] = await Promise.all([
        t.gql(`query($p: ID!) { customers(programId: $p, first: 50) { nodes { stage { key } clv lifecycle { phase } } } }`, { p: programId }),
        t.gql(
          `query($p: ID!) { customerLifecycle(programId: $p) { customers phases { phase customers clv averageClv } stages { stage { key } customers phases { phase customers } } } }`,
          { p: programId },
        ),
      ]);
      const nodes = ok(list).data.customers.nodes;
      const { customers, phases, stages } = ok(report).data.customerLifecycle;
      expect(customers).toBe(nodes.length);
      expect(phases.map((p: any) => p.phase)).toEqual(["CONTACT", "ACQUISITION", "GROWTH", "MATURITY", "DECLINE", "CHURNED"]);
      for (const p of phases) {
        const inPhase = nodes.filter((n: any) => n.lifecycle.phase === p.phase);
        expect(p.customers).toBe(inPhase.length);
        expect(p.clv).toBeCloseTo(
          inPhase.reduce((s: number, n: any) => s + n.clv, 0),
          2,
        );
        expect(p.averageClv).toEqual(inPhase.length ? expect.closeTo(p.clv / inPhase.length, 2) : null);
      }
      for (const s of stages) {
        const onStage = nodes.filter((n: any) => n.stage.key === s.stage.key);
        expect(s.customers).toBe(onStage.length);
        for (const p of s.phases) expect(p.customers).toBe(onStage.filter((n: any) => n.lifecycle.phase === p.phase).length);
      }
      return Object.fromEntries(phases.map((p: any) => [p.phase, p.customers]));
    };
    expect(await compare()).toEqual({ CONTACT: 2, ACQUISITION: 1, GROWTH: 1, MATURITY: 1, DECLINE: 2, CHURNED: 1 });
    // 300 days on: the fresh, monthly and veteran buyers are overdue (the veteran on its last call); the rest gone.
    expect(await withClock(t, 300 * DAY, compare)).toEqual({ CONTACT: 2, ACQUISITION: 0, GROWTH: 0, MATURITY: 0, DECLINE: 3, CHURNED: 3 });
  });

  it("decides the phase and CLV in SQL as lifecycleOf() and clvOf() do on the rows the driver reads, under any value policy, edges included", async () => {
    const now = Date.parse("2026-06-01T12:00:00.000Z");
    // The default policy, or any a program may set (setValuePolicy's bounds).
    const policy = fc.oneof(
      fc.constant(DEFAULT_VALUE_POLICY),
      fc.integer({ min: 180, max: 3650 }).chain((activeDays) =>
        fc.record({
          activeDays: fc.constant(activeDays),
          horizonYears: fc.integer({ min: 1, max: 10 }),
          firstRepeatDays: fc.integer({ min: 7, max: activeDays - 90 }),
        }),
      ),
    );
    /** Rows for a policy: offsets in microseconds around each of its thresholds (a millisecond, part of one and a microsecond either side) and anywhere up to past churn. */
    const rowsFor = (p: typeof DEFAULT_VALUE_POLICY) => {
      const days = [30, 60, p.firstRepeatDays, p.activeDays - 90, p.activeDays, 365];
      const edges = days.flatMap((d) => [-1000, -600, -1, 0, 1, 400, 1000].map((us) => d * DAY * 1000 + us));
      const us = fc.oneof(fc.integer({ min: 0, max: (p.activeDays + 100) * DAY * 1000 }), fc.constantFrom(...edges));
      const row = fc.record({
        count: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 7, max: 2_000_000 })),
        since: us,
        span: fc.oneof(us, fc.integer({ min: -5 * DAY * 1000, max: 0 })),
        noFirst: fc.boolean(),
        amount: fc.integer({ min: -1000, max: 10_000_000 }).map((cents) => cents / 100),
      });
      return fc.array(row, { minLength: 1, maxLength: 30 });
    };
    /** The time `offsetUs` microseconds before `now`, as text PostgreSQL reads to the microsecond. */
    const before = (offsetUs: number) => {
      const micros = now * 1000 - offsetUs;
      const ms = Math.floor(micros / 1000);
      return `${new Date(ms).toISOString().slice(0, 23)}${String(micros - ms * 1000).padStart(3, "0")}Z`;
    };
    await t.app.db.query(
      `CREATE TABLE IF NOT EXISTS lifecycle_rows (i int, purchase_count int, purchase_amount numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)`,
    );
    try {
      await fc.assert(
        fc.asyncProperty(
          policy.chain((p) => fc.tuple(fc.constant(p), rowsFor(p))),
          async ([valuePolicy, rows]) => {
            await t.app.db.query(`DELETE FROM lifecycle_rows`);
            await t.app.db.query(`INSERT INTO lifecycle_rows SELECT * FROM unnest($1::int[], $2::int[], $3::numeric[], $4::timestamptz[], $5::timestamptz[])`, [
              rows.map((_, i) => i),
              rows.map((r) => r.count),
              rows.map((r) => r.amount),
              rows.map((r) => (r.count > 0 && !r.noFirst ? before(r.since + r.span) : null)),
              rows.map((r) => (r.count > 0 ? before(r.since) : null)),
            ]);
            const read = await t.app.db.query(
              `SELECT c.*, ${lifecyclePhaseSql("$1::timestamptz", valuePolicy)} AS phase, ${clvSql("$1::timestamptz", valuePolicy)} AS clv FROM lifecycle_rows c ORDER BY i`,
              [new Date(now)],
            );
            expect(read.map((r) => r.phase)).toEqual(read.map((r) => lifecycleOf(r, new Date(now), valuePolicy).phase));
            // To the cent (numeric in SQL, floating point here): a customer counted active on one side only is off by years of spending.
            for (const r of read) expect(Math.abs(Number(r.clv) - clvOf(r, new Date(now), valuePolicy))).toBeLessThanOrEqual(0.011);
          },
        ),
        { numRuns: 80 },
      );
    } finally {
      await t.app.db.query(`DROP TABLE lifecycle_rows`);
    }
  });

  it("follows the program's value policy: a business whose customers come back over years", async () => {
    const programId = await shop();
    const policyOf = async () =>
      ok(await t.gql(`query($p: ID!) { program(id: $p) { valuePolicy { activeDays horizonYears firstRepeatDays } } }`, { p: programId })).data.program
        .valuePolicy;
    expect(await policyOf()).toEqual({ activeDays: 365, horizonYears: 3, firstRepeatDays: 90 });
    const lost = async () =>
      ok(await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "lost") { clv lifecycle { phase churnAt } } }`, { p: programId })).data.customer;
    expect(await lost()).toMatchObject({ clv: 20, lifecycle: { phase: "CHURNED" } });
    const SET = `mutation($p: ID!, $v: ValuePolicyInput!) { setValuePolicy(programId: $p, policy: $v) { valuePolicy { activeDays horizonYears firstRepeatDays } } }`;
    const slow = { activeDays: 730, horizonYears: 5, firstRepeatDays: 400 };
    expect(ok(await t.gql(SET, { p: programId, v: slow })).data.setValuePolicy.valuePolicy).toEqual(slow);
    // One purchase 400 days ago: no longer gone, overdue (400 days); CLV counts 5 more years at 20 a year (of 400/365).
    expect(await lost()).toMatchObject({ clv: Math.round((20 + (20 / (400 / 365)) * 5) * 100) / 100, lifecycle: { phase: "DECLINE" } });
    // The counts, the list and the funnel's CLV read it too.
    const report = ok(await t.gql(`query($p: ID!) { customerLifecycle(programId: $p) { phases { phase customers } } }`, { p: programId })).data
      .customerLifecycle;
    expect(Object.fromEntries(report.phases.map((p: any) => [p.phase, p.customers]))).toMatchObject({ CHURNED: 0, DECLINE: 2 });
    expect(await listed(programId, "lifecycle: DECLINE")).toEqual(["lost", "overdue"]);
    // The CLV the SQL reports (funnel, lifecycle counts) is the customers' own under the new policy.
    const [list, funnel, phases] = await Promise.all([
      t.gql(`query($p: ID!) { customers(programId: $p, first: 50) { nodes { clv } } }`, { p: programId }),
      t.gql(`query($p: ID!) { ladderFunnel(programId: $p) { stages { clv } } }`, { p: programId }),
      t.gql(`query($p: ID!) { customerLifecycle(programId: $p) { phases { clv } } }`, { p: programId }),
    ]);
    const sum = (xs: Array<{ clv: number }>) => xs.reduce((n, x) => n + x.clv, 0);
    const total = sum(ok(list).data.customers.nodes);
    expect(total).toBeGreaterThan(0);
    expect(sum(ok(funnel).data.ladderFunnel.stages)).toBeCloseTo(total, 2);
    expect(sum(ok(phases).data.customerLifecycle.phases)).toBeCloseTo(total, 2);
    // quiet (one purchase 120 days ago) is back in acquisition: its first repeat is due within 400 days.
    expect(await listed(programId, "lifecycle: ACQUISITION")).toEqual(["fresh", "quiet"]);
    const bad = async (v: Record<string, number>) => (await t.gql(SET, { p: programId, v: { ...slow, ...v } })).errors?.[0].extensions;
    expect(await bad({ firstRepeatDays: 700 })).toMatchObject({ code: "BAD_USER_INPUT", field: "policy.firstRepeatDays" });
    expect(await bad({ activeDays: 100 })).toMatchObject({ code: "BAD_USER_INPUT" });
    const partner = await createKey(t, programId, "PARTNER");
    expect((await t.gql(SET, { p: programId, v: slow }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(await policyOf()).toEqual(slow);
  });

  it("tells subscribed tools who changed phase when the recompute finds it, once, and nothing of erased customers", async () => {
    const programId = await shop();
    const RECOMPUTE = `mutation($p: ID!) { recomputeStages(programId: $p) { lifecycleChanged } }`;
    // New customers start as CONTACT: the first recompute finds the six buyers in their phases.
    expect(ok(await t.gql(RECOMPUTE, { p: programId })).data.recomputeStages.lifecycleChanged).toBe(6);
    expect(ok(await t.gql(RECOMPUTE, { p: programId })).data.recomputeStages.lifecycleChanged).toBe(0);
    const idOf = async (e: string) =>
      ok(await t.gql(`query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { id } }`, { p: programId, e })).data.customer.id;
    const [fresh, monthly, veteran] = [await idOf("fresh"), await idOf("monthly"), await idOf("veteran")];
    ok(await t.gql(`mutation($c: ID!) { eraseCustomer(customerId: $c) { id } }`, { c: monthly }));
    // A customer from before phases were recorded: recorded without an event.
    await t.app.db.query(`UPDATE customers SET lifecycle_phase = NULL WHERE id = $1`, [veteran]);
    const feed = collect(t.ws(), `subscription($p: ID!) { loyaltyEvents(programId: $p) { __typename ... on LifecycleChangedEvent { customerId from to } } }`, {
      p: programId,
    });
    await listening(t.app, programId);
    // 100 days on, two scans at once, a customer per chunk: the fresh buyer is overdue (the monthly
    // one too, but erased); the others stay where they were. One change, one event.
    const config = await t.app.programs.config(programId);
    const later = new Date(t.app.clock().getTime() + 100 * DAY);
    const scans = await Promise.all([scanLifecycle(t.app, config, later, 1), scanLifecycle(t.app, config, later, 2)]);
    expect(scans[0] + scans[1]).toBe(1);
    await feed.next(1);
    const [row] = await t.app.db.query(`SELECT lifecycle_phase FROM customers WHERE id = $1`, [veteran]);
    expect(row.lifecycle_phase).toBe("MATURITY");
    expect(await scanLifecycle(t.app, config, later, 3)).toBe(0);
    // One event, of the one change: a marker written after the scans (a visit, an event of its
    // own type) arrives with nothing else before it.
    ok(
      await t.gql(`mutation($i: RecordTouchpointInput!) { recordTouchpoint(input: $i) { replayed } }`, {
        i: { programId, customerExternalId: "marker", type: "VISIT", externalId: "marker-1" },
      }),
    );
    const beforeMarker = await feed.before((i: any) => i.loyaltyEvents.__typename === "TouchpointRecordedEvent");
    expect(beforeMarker.map((i: any) => i.loyaltyEvents)).toEqual([
      { __typename: "LifecycleChangedEvent", customerId: fresh, from: "ACQUISITION", to: "DECLINE" },
    ]);
    feed.unsubscribe();
  });

  it("offers a reward only to customers in its lifecycle phases: a win-back for those in decline", async () => {
    const programId = await shop();
    const created = ok(
      await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id lifecyclePhases } }`, {
        i: { programId, name: "We miss you", pointsCost: 10, lifecyclePhases: ["DECLINE"] },
      }),
    ).data.createReward;
    expect(created.lifecyclePhases).toEqual(["DECLINE"]);
    const redeem = async (externalId: string) => {
      const id = ok(await t.gql(`query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { id } }`, { p: programId, e: externalId })).data
        .customer.id;
      const res = await t.gql(
        `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename ... on NotEligible { message lifecyclePhases } ... on Redemption { points } } }`,
        { i: { customerId: id, rewardId: created.id, idempotencyKey: `wb-${externalId}` } },
      );
      return ok(res).data.redeemReward;
    };
    expect(await redeem("overdue")).toEqual({ __typename: "Redemption", points: 10 });
    expect(await redeem("monthly")).toEqual({ __typename: "NotEligible", message: "Only for customers in DECLINE", lifecyclePhases: ["DECLINE"] });
    // 100 days on, the monthly buyer is overdue too: the offer is theirs.
    expect(await withClock(t, 100 * DAY, () => redeem("monthly"))).toEqual({ __typename: "Redemption", points: 10 });
    // The program's value policy decides the phase: with a year before a one-time buyer declines, quiet (120 days) is not in decline.
    ok(
      await t.gql(`mutation($p: ID!) { setValuePolicy(programId: $p, policy: { activeDays: 730, horizonYears: 3, firstRepeatDays: 365 }) { id } }`, {
        p: programId,
      }),
    );
    expect(await redeem("quiet")).toMatchObject({ __typename: "NotEligible" });
    ok(
      await t.gql(`mutation($p: ID!) { setValuePolicy(programId: $p, policy: { activeDays: 365, horizonYears: 3, firstRepeatDays: 90 }) { id } }`, {
        p: programId,
      }),
    );
    expect(await redeem("quiet")).toEqual({ __typename: "Redemption", points: 10 });
    const bad = await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, {
      i: { programId, name: "X", pointsCost: 1, lifecyclePhases: ["ASLEEP"] },
    });
    expect(bad.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "lifecyclePhases[0]" });
    // The database refuses what the API would not accept, so the catalog can always be read.
    await expect(t.app.db.query(`UPDATE rewards SET lifecycle_phases = ARRAY['ASLEEP'] WHERE id = $1`, [created.id])).rejects.toThrow(/check constraint/);
  });

  it("is for ADMIN and PARTNER keys on a customer, ADMIN for the program's counts", async () => {
    const programId = await shop();
    const partner = await createKey(t, programId, "PARTNER");
    expect((await lifecycleOfCustomer(programId, "monthly", partner)).phase).toBe("GROWTH");
    const report = `query($p: ID!) { customerLifecycle(programId: $p) { customers } }`;
    expect((await t.gql(report, { p: programId }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const id = ok(await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "monthly") { id } }`, { p: programId })).data.customer.id;
    const token = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: id })).data.issueCustomerToken.token;
    expect((await t.gql(`{ me { points { balance } lifecycle { phase } } }`, {}, token)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const other = await griffinProgram(t);
    const otherAdmin = await createKey(t, other, "ADMIN");
    expect((await t.gql(report, { p: programId }, otherAdmin)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const badId = await t.gql(report, { p: "not-an-id" });
    expect([badId.errors?.[0].extensions?.code, badId.errors?.[0].extensions?.field]).toEqual(["BAD_USER_INPUT", "programId"]);
  });
});
