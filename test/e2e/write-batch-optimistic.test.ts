/**
 * A write batch reads its customers in one statement and writes in a second, with no transaction
 * between them: the write checks that no customer changed meanwhile. These tests commit a change
 * to the customer exactly between the two (the writer's afterRead seam) and check that the batch
 * starts over from the new state with the customer locked, and that the customer's batches stay
 * on the locked path for a while (a hot customer written from several processes queues on its lock).
 */
import { startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, pointsDisagreements, purchase, refund } from "../helpers/operations";

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

/**
 * Runs `meanwhile` between the read and the write of the next batch's first attempt; returns, as
 * they come, whether each attempt was on the locked path.
 */
function betweenFirstReadAndWrite(meanwhile: () => Promise<void>): boolean[] {
  const seen: boolean[] = [];
  t.app.touchpoints.batcher.writer.afterRead = async ({ locked }) => {
    seen.push(locked);
    if (seen.length === 1) await meanwhile();
  };
  return seen;
}

async function shopWithCustomer(name: string): Promise<{ programId: string; customerId: string }> {
  const programId = await createProgram(t, { name, ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }] });
  const first = await purchase(t, { programId, customerExternalId: `${name}-c`, orderId: `${name}-o1`, amount: 10, currency: "EUR" });
  return { programId, customerId: first.data.recordPurchase.customer.id };
}

describe("optimistic write batches", () => {
  it("upgrade tiers in the batch's own write, and decide again, locked, when a refund came in between", async () => {
    const programId = await createProgram(t, {
      name: "tier race",
      ladder: { preset: "griffin-7" },
      earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }],
      tiers: { basis: "AMOUNT_SPENT", levels: [{ key: "silver", name: "Silver", threshold: 50 }], windowDays: 365, graceDays: 30 },
    });
    const BUY = `mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { customer { id tier { tier { key } reason } } } }`;
    const buy = (customer: Record<string, string>, orderId: string, amount: number) =>
      t.gql(BUY, { i: { programId, ...customer, orderId, amount, currency: "EUR" } });
    const calm = (await buy({ customerExternalId: "calm" }, "calm-1", 30)).data.recordPurchase.customer.id;
    const raced = (await buy({ customerExternalId: "raced" }, "raced-1", 30)).data.recordPurchase.customer.id;

    // 30 + 25 spent reaches silver: one attempt, no lock, the upgrade written with the purchase.
    const calmSeen = betweenFirstReadAndWrite(async () => undefined);
    const upgraded = await buy({ customerId: calm }, "calm-2", 25);
    expect(calmSeen).toEqual([false]);
    expect(upgraded.data.recordPurchase.customer.tier).toMatchObject({ tier: { key: "silver" }, reason: { basis: "AMOUNT_SPENT", value: 55, threshold: 50 } });
    const changes = await t.app.db.query(`SELECT customer_id, from_key, to_key, cause FROM tier_changes WHERE program_id = $1`, [programId]);
    expect(changes).toEqual([{ customer_id: calm, from_key: null, to_key: "silver", cause: "QUALIFIED" }]);
    const [event] = await t.app.db.query(`SELECT payload FROM outbox WHERE program_id = $1 AND topic = 'TIER_CHANGED'`, [programId]);
    expect(event.payload).toMatchObject({ from: null, to: "silver", cause: "QUALIFIED" });

    // A refund of 10 commits between the read and the write: 30 - 10 + 25 = 45, no silver. (Dated
    // a minute back: the batch's window ends at the batch's clock, taken before the refund came.)
    const racedSeen = betweenFirstReadAndWrite(async () => {
      const occurredAt = new Date(Date.now() - 60_000).toISOString();
      expect((await refund(t, { programId, orderId: "raced-1", refundId: "raced-r", amount: 10, occurredAt })).errors).toBeUndefined();
    });
    const notYet = await buy({ customerId: raced }, "raced-2", 25);
    expect(notYet.errors).toBeUndefined();
    expect(racedSeen).toEqual([false, true]);
    expect(notYet.data.recordPurchase.customer.tier).toEqual({ tier: null, reason: null });
    expect(await t.app.db.query(`SELECT 1 FROM tier_changes WHERE customer_id = $1`, [raced])).toEqual([]);
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });

  it("start over, locked, when the customer changed between the read and the write, and count the change", async () => {
    const { programId, customerId } = await shopWithCustomer("race");
    // Another writer commits a change to the same customer right then.
    const seen = betweenFirstReadAndWrite(async () => {
      const adjusted = await t.gql(ADJUST, { i: { programId, customerId, points: 7, reason: "goodwill", idempotencyKey: "race-adj" } });
      expect(adjusted.errors).toBeUndefined();
    });
    const res = await t.gql(RECORD, { i: { programId, customerId, orderId: "race-o2", amount: 20, currency: "EUR" } });
    expect(res.errors).toBeUndefined();
    // The first attempt wrote nothing; the second, with the customer locked, read the adjusted balance.
    expect(seen).toEqual([false, true]);
    expect(res.data.recordPurchase).toMatchObject({ pointsEarned: 20, replayed: false, customer: { points: { balance: 37, lifetime: 37 } } });
    const [row] = await t.app.db.query(`SELECT balance, touchpoint_count, purchase_count FROM customers WHERE id = $1`, [customerId]);
    expect(row).toEqual({ balance: "37", touchpoint_count: 2, purchase_count: 2 });
    const [tps] = await t.app.db.query(`SELECT count(*)::int AS n FROM touchpoints WHERE program_id = $1 AND external_id = 'race-o2'`, [programId]);
    expect(tps.n).toBe(1);
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });

  it("keep a customer that met another writer on the locked path for two seconds", async () => {
    const { programId, customerId } = await shopWithCustomer("busy");
    const seen = betweenFirstReadAndWrite(async () => {
      await t.gql(ADJUST, { i: { programId, customerId, points: 1, reason: "busy", idempotencyKey: "busy-adj" } });
    });
    const buy = (orderId: string) => t.gql(RECORD, { i: { programId, customerId, orderId, amount: 20, currency: "EUR" } });
    expect((await buy("busy-o2")).errors).toBeUndefined();
    expect((await buy("busy-o3")).errors).toBeUndefined();
    expect(seen).toEqual([false, true, true]);
    t.advanceClock(2_500);
    const last = await buy("busy-o4");
    expect(seen).toEqual([false, true, true, false]);
    // 10 + 1 + 3 × 20.
    expect(last.data.recordPurchase.customer.points.balance).toBe(71);
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });

  it("write nothing when a key was claimed meanwhile, then answer from what was stored", async () => {
    const { programId, customerId } = await shopWithCustomer("claim");
    // Another process stores the same order id with another payload; the customer row is untouched.
    const seen = betweenFirstReadAndWrite(async () => {
      await t.app.db.query(
        `INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency, request_hash)
         VALUES ($1, $2, 'PURCHASE', 'claim-o2', now(), 99, 'EUR', 'another-payload')`,
        [programId, customerId],
      );
    });
    const res = await t.gql(RECORD, { i: { programId, customerId, orderId: "claim-o2", amount: 20, currency: "EUR" } });
    expect(res.errors?.[0].extensions?.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(seen).toEqual([false, true]);
    // The first attempt's points, lots and counters were not kept.
    const [row] = await t.app.db.query(`SELECT balance, touchpoint_count FROM customers WHERE id = $1`, [customerId]);
    expect(row).toEqual({ balance: "10", touchpoint_count: 1 });
    const [lots] = await t.app.db.query(`SELECT count(*)::int AS n FROM point_lots WHERE program_id = $1`, [programId]);
    expect(lots.n).toBe(1);
  });

  it("read, on the locked path, the touchpoints of a writer they waited for", async () => {
    // A capped rule: every batch of this program takes the locked path.
    const programId = await createProgram(t, {
      name: "waits",
      ladder: { preset: "griffin-7" },
      earningRules: [{ name: "buy", touchpointType: "PURCHASE", pointsPerUnit: 1, capPoints: 1_000_000, capPeriod: "DAY" }],
    });
    let customerId = "";
    for (const orderId of ["w1", "w2"])
      customerId = (await purchase(t, { programId, customerExternalId: "w", orderId, amount: 10, currency: "EUR" })).data.recordPurchase.customer.id;
    // Another process writes a third purchase and holds the customer's row while the fourth arrives.
    const other = await t.app.db.pool.connect();
    let fourth: ReturnType<typeof purchase> | undefined;
    try {
      await other.query("BEGIN");
      await other.query(
        `INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency, request_hash)
         VALUES ($1, $2, 'PURCHASE', 'w3', now(), 10, 'EUR', 'elsewhere')`,
        [programId, customerId],
      );
      await other.query(`UPDATE customers SET purchase_count = purchase_count + 1, touchpoint_count = touchpoint_count + 1 WHERE id = $1`, [customerId]);
      fourth = purchase(t, { programId, customerId, orderId: "w4", amount: 10, currency: "EUR" });
      await new Promise((r) => setTimeout(r, 700)); // the batch now waits for the customer's lock (PostgreSQL)
      await other.query("COMMIT");
    } finally {
      other.release();
    }
    const res = await fourth!;
    expect(res.errors).toBeUndefined();
    // Four purchases in 365 days: griffin-7 says client, and the fourth is what moved them.
    const [row] = await t.app.db.query(`SELECT stage_key, purchase_count FROM customers WHERE id = $1`, [customerId]);
    expect(row).toEqual({ stage_key: "client", purchase_count: 4 });
  });
});
