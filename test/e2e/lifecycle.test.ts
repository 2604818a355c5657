/**
 * Customers' lifecycle phases through the API: each customer's phase and its reason, the customers
 * list filtered by phase, the program's counts per phase and stage agreeing with the customers
 * (now and later), the SQL rule agreeing with the function, and who may read them.
 */
import fc from "fast-check";
import { startTestApp, TestApp } from "../helpers/test-app";
import { lifecycleOf } from "../../src/domain/value/lifecycle";
import { lifecyclePhaseSql } from "../../src/modules/customer/value.sql";
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
      ok(await purchase(t, { programId, customerExternalId: name, orderId: `${name}-${i}`, amount: 20, currency: "EUR", occurredAt: new Date(now - d * DAY).toISOString() }));
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
    expect(phases).toEqual({ fresh: "ACQUISITION", quiet: "DECLINE", monthly: "GROWTH", overdue: "DECLINE", veteran: "MATURITY", lost: "CHURNED", visitor: "CONTACT", returner: "CONTACT" });

    expect(await lifecycleOfCustomer(programId, "monthly")).toEqual({
      phase: "GROWTH",
      reason: "3 purchases, one every 30 days on average, buying for 70 days (mature from 365)",
      averageDaysBetweenPurchases: 30,
      expectedNextPurchaseAt: at(20),
      declineAt: at(50),
      churnAt: at(355),
    });
    expect(await lifecycleOfCustomer(programId, "overdue")).toMatchObject({ reason: "3 purchases, one every 30 days on average; none for 90 days (overdue from 60)", declineAt: at(-30) });
    // Every 240 days: twice that is past churn, so no decline on the way.
    expect(await lifecycleOfCustomer(programId, "veteran")).toMatchObject({ averageDaysBetweenPurchases: 240, declineAt: null, churnAt: at(345) });
    expect(await lifecycleOfCustomer(programId, "visitor")).toEqual({ phase: "CONTACT", reason: "no purchase yet", averageDaysBetweenPurchases: null, expectedNextPurchaseAt: null, declineAt: null, churnAt: null });

    // A purchase today brings the overdue customer back on schedule.
    ok(await purchase(t, { programId, customerExternalId: "overdue", orderId: "overdue-back", amount: 20, currency: "EUR" }));
    expect((await lifecycleOfCustomer(programId, "overdue")).phase).toBe("GROWTH");
    // Time passing moves the others: 100 days on, the fresh buyer is overdue and the monthly one too.
    const later = await withClock(t, 100 * DAY, async () => ({ fresh: await lifecycleOfCustomer(programId, "fresh"), monthly: await lifecycleOfCustomer(programId, "monthly") }));
    expect([later.fresh.phase, later.monthly.phase]).toEqual(["DECLINE", "DECLINE"]);
  });

  it("lists the customers of a phase, with a stage too, a page at a time", async () => {
    const programId = await shop();
    expect(await listed(programId, "lifecycle: DECLINE")).toEqual(["overdue", "quiet"]);
    expect(await listed(programId, "lifecycle: CONTACT")).toEqual(["returner", "visitor"]);
    const firstTimers = await listed(programId, `stage: "first_time_customer"`);
    expect(await listed(programId, `stage: "first_time_customer", lifecycle: DECLINE`)).toEqual(firstTimers.filter((n) => n === "quiet"));
    const page = ok(await t.gql(`query($p: ID!) { customers(programId: $p, lifecycle: DECLINE, first: 1) { nodes { externalId } pageInfo { hasNextPage endCursor } } }`, { p: programId })).data.customers;
    expect(page.pageInfo.hasNextPage).toBe(true);
    const next = ok(await t.gql(`query($p: ID!, $a: String) { customers(programId: $p, lifecycle: DECLINE, first: 1, after: $a) { nodes { externalId } pageInfo { hasNextPage } } }`, { p: programId, a: page.pageInfo.endCursor })).data.customers;
    expect([...page.nodes, ...next.nodes].map((n: any) => n.externalId).sort()).toEqual(["overdue", "quiet"]);
    expect(next.pageInfo.hasNextPage).toBe(false);
    const bad = await t.gql(`query($p: ID!) { customers(programId: $p, lifecycle: SLEEPING) { nodes { id } } }`, { p: programId });
    expect(bad.errors?.[0].message).toMatch(/SLEEPING/);
    // 300 days on, the list follows the clock.
    expect(await withClock(t, 300 * DAY, () => listed(programId, "lifecycle: CHURNED"))).toEqual(["lost", "overdue", "quiet"]);
  });

  it("counts the customers per phase and per stage as each customer's lifecycle and CLV say (now, and later)", async () => {
    const programId = await shop();
    const compare = async () => {
      const [list, report] = await Promise.all([
        t.gql(`query($p: ID!) { customers(programId: $p, first: 50) { nodes { stage { key } clv lifecycle { phase } } } }`, { p: programId }),
        t.gql(`query($p: ID!) { customerLifecycle(programId: $p) { customers phases { phase customers clv averageClv } stages { stage { key } customers phases { phase customers } } } }`, { p: programId }),
      ]);
      const nodes = ok(list).data.customers.nodes;
      const { customers, phases, stages } = ok(report).data.customerLifecycle;
      expect(customers).toBe(nodes.length);
      expect(phases.map((p: any) => p.phase)).toEqual(["CONTACT", "ACQUISITION", "GROWTH", "MATURITY", "DECLINE", "CHURNED"]);
      for (const p of phases) {
        const inPhase = nodes.filter((n: any) => n.lifecycle.phase === p.phase);
        expect(p.customers).toBe(inPhase.length);
        expect(p.clv).toBeCloseTo(inPhase.reduce((s: number, n: any) => s + n.clv, 0), 2);
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
    // 300 days on: the veteran's rhythm still holds; the fresh and monthly buyers are overdue; the rest gone.
    expect(await withClock(t, 300 * DAY, compare)).toEqual({ CONTACT: 2, ACQUISITION: 0, GROWTH: 0, MATURITY: 1, DECLINE: 2, CHURNED: 3 });
  });

  it("decides the phase in SQL as lifecycleOf() does, edges included", async () => {
    const now = Date.parse("2026-06-01T12:00:00.000Z");
    // Edges: a day's worth of milliseconds either side of each threshold, and exact multiples.
    const ms = fc.oneof(fc.integer({ min: 0, max: 800 * DAY }), fc.constantFrom(...[30, 60, 90, 180, 365, 400, 730].flatMap((d) => [d * DAY - 1, d * DAY, d * DAY + 1])));
    const row = fc.record({ count: fc.integer({ min: 0, max: 6 }), since: ms, span: ms });
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 30 }), async (rows) => {
        const last = rows.map((r) => (r.count > 0 ? new Date(now - r.since) : null));
        const first = rows.map((r, i) => (r.count > 0 ? new Date(last[i]!.getTime() - (r.count > 1 ? r.span : 0)) : null));
        const got = await t.app.db.query(
          `SELECT ${lifecyclePhaseSql("$4::timestamptz")} AS phase
             FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS c(purchase_count, first_purchase_at, last_purchase_at, i) ORDER BY i`,
          [rows.map((r) => r.count), first, last, new Date(now)],
        );
        const expected = rows.map((r, i) => lifecycleOf({ purchase_count: r.count, first_purchase_at: first[i], last_purchase_at: last[i] }, new Date(now)).phase);
        expect(got.map((g) => g.phase)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
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
