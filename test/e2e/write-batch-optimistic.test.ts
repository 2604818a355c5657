/**
 * A write batch reads its customers in one statement and writes in a second, with no transaction
 * between them: the write checks that no customer changed meanwhile. These tests commit a change
 * to the customer exactly between the two (the writer's afterRead seam) and check that the batch
 * starts over from the new state, and that a customer that keeps changing gets the locked path.
 */
import { startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, pointsDisagreements, purchase } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  // Batches on this thread, where the test can hook the writer.
  t = await startTestApp({ writeWorker: false });
});
afterAll(() => t.stop());
afterEach(() => {
  t.app.touchpoints.batcher.writer.afterRead = undefined;
});

const RECORD = `mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { pointsEarned replayed customer { id points { balance lifetime } } } }`;
const ADJUST = `mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { balance } }`;

async function shopWithCustomer(name: string): Promise<{ programId: string; customerId: string }> {
  const programId = await createProgram(t, { name, ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }] });
  const first = await purchase(t, { programId, customerExternalId: `${name}-c`, orderId: `${name}-o1`, amount: 10, currency: "EUR" });
  return { programId, customerId: first.data.recordPurchase.customer.id };
}

describe("optimistic write batches", () => {
  it("start over when the customer changed between the read and the write, and count the change", async () => {
    const { programId, customerId } = await shopWithCustomer("race");
    const seen: boolean[] = [];
    t.app.touchpoints.batcher.writer.afterRead = async ({ locked }) => {
      seen.push(locked);
      if (seen.length > 1) return;
      // Another writer commits a change to the same customer right now.
      const adjusted = await t.gql(ADJUST, { i: { programId, customerId, points: 7, reason: "goodwill", idempotencyKey: "race-adj" } });
      expect(adjusted.errors).toBeUndefined();
    };
    const res = await t.gql(RECORD, { i: { programId, customerId, orderId: "race-o2", amount: 20, currency: "EUR" } });
    expect(res.errors).toBeUndefined();
    // The first attempt wrote nothing; the second read the adjusted balance.
    expect(seen).toEqual([false, false]);
    expect(res.data.recordPurchase).toMatchObject({ pointsEarned: 20, replayed: false, customer: { points: { balance: 37, lifetime: 37 } } });
    const [row] = await t.app.db.query(`SELECT balance, touchpoint_count, purchase_count FROM customers WHERE id = $1`, [customerId]);
    expect(row).toEqual({ balance: "37", touchpoint_count: 2, purchase_count: 2 });
    const [tps] = await t.app.db.query(`SELECT count(*)::int AS n FROM touchpoints WHERE program_id = $1 AND external_id = 'race-o2'`, [programId]);
    expect(tps.n).toBe(1);
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });

  it("take the customers' locks when the customer keeps changing", async () => {
    const { programId, customerId } = await shopWithCustomer("busy");
    const seen: boolean[] = [];
    t.app.touchpoints.batcher.writer.afterRead = async ({ locked }) => {
      seen.push(locked);
      if (locked) return; // the batch holds the customer now: another writer would wait for it
      await t.gql(ADJUST, { i: { programId, customerId, points: 1, reason: "busy", idempotencyKey: `busy-${seen.length}` } });
    };
    const res = await t.gql(RECORD, { i: { programId, customerId, orderId: "busy-o2", amount: 20, currency: "EUR" } });
    expect(res.errors).toBeUndefined();
    expect(seen).toEqual([false, false, false, false, true]);
    // 10 + 4 adjustments of 1 + 20.
    expect(res.data.recordPurchase.customer.points.balance).toBe(34);
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });

  it("write nothing when a key was claimed meanwhile, then answer from what was stored", async () => {
    const { programId, customerId } = await shopWithCustomer("claim");
    const seen: boolean[] = [];
    t.app.touchpoints.batcher.writer.afterRead = async ({ locked }) => {
      seen.push(locked);
      if (seen.length > 1) return;
      // Another process stores the same order id with another payload; the customer row is untouched.
      await t.app.db.query(
        `INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency, request_hash)
         VALUES ($1, $2, 'PURCHASE', 'claim-o2', now(), 99, 'EUR', 'another-payload')`,
        [programId, customerId],
      );
    };
    const res = await t.gql(RECORD, { i: { programId, customerId, orderId: "claim-o2", amount: 20, currency: "EUR" } });
    expect(res.errors?.[0].extensions?.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(seen).toEqual([false, false]);
    // The first attempt's points, lots and counters were not kept.
    const [row] = await t.app.db.query(`SELECT balance, touchpoint_count FROM customers WHERE id = $1`, [customerId]);
    expect(row).toEqual({ balance: "10", touchpoint_count: 1 });
    const [lots] = await t.app.db.query(`SELECT count(*)::int AS n FROM point_lots WHERE program_id = $1`, [programId]);
    expect(lots.n).toBe(1);
  });
});
