/** Nothing lost, nothing twice: retries and races of the same key post once. */
import { startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, purchase, refund, review, tableCounts, touchpoint } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ poolSize: 16 });
});
afterAll(() => t.stop());

describe("idempotent records", () => {
  it("posts 100 concurrent identical purchases once, and every caller gets the same result", async () => {
    const programId = await griffinProgram(t);
    const input = { programId, customerExternalId: "racer", orderId: "race-1", amount: 42, currency: "EUR" };
    const results = await Promise.all(Array.from({ length: 100 }, () => purchase(t, input)));
    for (const r of results) expect(r.errors).toBeUndefined();
    const payloads = results.map((r) => r.data.recordPurchase);
    expect(payloads.filter((p) => !p.replayed)).toHaveLength(1);
    expect(new Set(payloads.map((p) => p.touchpoint.id)).size).toBe(1);
    expect(new Set(payloads.map((p) => p.customer.id)).size).toBe(1);
    for (const p of payloads) {
      expect(p.pointsEarned).toBe(42);
      expect(p.customer.points.balance).toBe(42);
      expect(p.stageChange).toMatchObject({ to: { key: "first_time_customer" } });
    }
    const [row] = await t.app.db.query(
      `SELECT (SELECT count(*) FROM touchpoints WHERE program_id = $1)::int AS touchpoints,
              (SELECT count(*) FROM ledger_entries WHERE program_id = $1)::int AS ledger,
              (SELECT count(*) FROM stage_transitions WHERE program_id = $1)::int AS transitions,
              (SELECT count(*) FROM customers WHERE program_id = $1)::int AS customers,
              (SELECT count(*) FROM outbox WHERE program_id = $1)::int AS events,
              (SELECT balance FROM customers WHERE program_id = $1)::int AS balance`,
      [programId],
    );
    expect(row).toEqual({ touchpoints: 1, ledger: 1, transitions: 1, customers: 1, events: 2, balance: 42 });
  });

  it("keeps the balance equal to the ledger under concurrent distinct purchases on one customer", async () => {
    const programId = await griffinProgram(t);
    const first = await purchase(t, { programId, customerExternalId: "hot", orderId: "h0", amount: 1, currency: "EUR" });
    const id = first.data.recordPurchase.customer.id;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => purchase(t, { programId, customerId: id, orderId: `h${i + 1}`, amount: i + 1, currency: "EUR" })),
    );
    for (const r of results) expect(r.errors).toBeUndefined();
    const [row] = await t.app.db.query(
      `SELECT c.balance::int, c.purchase_count, (SELECT sum(amount)::int FROM ledger_entries l WHERE l.program_id = c.program_id AND l.customer_id = c.id) AS ledger
         FROM customers c WHERE c.program_id = $1 AND c.id = $2`,
      [programId, id],
    );
    const expected = 1 + (40 * 41) / 2;
    expect(row).toEqual({ balance: expected, purchase_count: 41, ledger: expected });
    // The ladder saw every purchase: exactly one move into each rung, in order.
    const moves = await t.app.db.query(`SELECT to_key FROM stage_transitions WHERE program_id = $1 ORDER BY id`, [programId]);
    expect(moves.map((m) => m.to_key)).toEqual(["first_time_customer", "repeat_customer", "client"]);
  });

  it("replays a retry with replayed: true and writes nothing", async () => {
    const programId = await griffinProgram(t, [{ touchpointType: "REVIEW", fixedPoints: 50 }]);
    const input = { programId, customerExternalId: "retry", reviewId: "rev-1", rating: 4 };
    const first = await review(t, input);
    const before = await tableCounts(t);
    const again = await review(t, input);
    expect(await tableCounts(t)).toEqual(before);
    expect(again.data.recordReview).toMatchObject({ replayed: true, pointsEarned: 50 });
    expect(again.data.recordReview.touchpoint).toEqual(first.data.recordReview.touchpoint);
    const visit = { programId, customerExternalId: "retry", type: "VISIT", externalId: "v-1" };
    const v1 = await touchpoint(t, visit);
    const v2 = await touchpoint(t, visit);
    expect(v2.data.recordTouchpoint.stageChange).toEqual(v1.data.recordTouchpoint.stageChange);
    expect(v2.data.recordTouchpoint.replayed).toBe(true);
  });

  it("rejects a key reused for a different request, and changes nothing", async () => {
    const programId = await griffinProgram(t);
    await purchase(t, { programId, customerExternalId: "reuse", orderId: "same", amount: 10, currency: "EUR" });
    const before = await tableCounts(t);
    const other = await purchase(t, { programId, customerExternalId: "reuse", orderId: "same", amount: 11, currency: "EUR" });
    expect(other.errors?.[0].extensions).toEqual({ code: "IDEMPOTENCY_KEY_REUSED", field: "orderId" });
    expect(other.errors?.[0].message).toContain('orderId "same" was already used for a different request');
    await refund(t, { programId, orderId: "same", refundId: "rf", amount: 5 });
    const refundReuse = await refund(t, { programId, orderId: "same", refundId: "rf", amount: 4 });
    expect(refundReuse.errors?.[0].extensions).toEqual({ code: "IDEMPOTENCY_KEY_REUSED", field: "refundId" });
    const counts = await tableCounts(t);
    expect(counts.touchpoints).toBe(before.touchpoints + 1);
  });

  it("replays 20 concurrent identical refunds once", async () => {
    const programId = await griffinProgram(t);
    await purchase(t, { programId, customerExternalId: "rr", orderId: "big", amount: 50, currency: "EUR" });
    const results = await Promise.all(Array.from({ length: 20 }, () => refund(t, { programId, orderId: "big", refundId: "half", amount: 25 })));
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(results.filter((r) => !r.data.recordRefund.replayed)).toHaveLength(1);
    const [row] = await t.app.db.query(`SELECT balance::int FROM customers WHERE program_id = $1`, [programId]);
    expect(row.balance).toBe(25);
  });
});
