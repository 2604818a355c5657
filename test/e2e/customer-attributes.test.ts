/**
 * A customer's attributes are at most 16 KB as stored: upserts merge new keys into the stored ones,
 * and the merged value is checked in the statement that merges. 64 concurrent upserts of 15 KB of
 * new keys each used to leave 970 KB on one customer.
 */
import { startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, ok, pointsDisagreements, purchase } from "../helpers/operations";

let t: TestApp;
let programId: string;
beforeAll(async () => {
  t = await startTestApp();
  programId = await griffinProgram(t);
});
afterAll(() => t.stop());

const UPSERT = `mutation($i: UpsertCustomerInput!) { upsertCustomer(input: $i) { id email name attributes } }`;
const upsert = (input: Record<string, unknown>) => t.gql(UPSERT, { i: { programId, ...input } });

async function stored(externalId: string) {
  const [row] = await t.app.db.query(
    `SELECT id, email, name, attributes, octet_length(attributes::text) AS bytes FROM customers WHERE program_id = $1 AND external_id = $2`,
    [programId, externalId],
  );
  return row;
}

const expectTooLarge = (res: { status: number; errors?: any[] }) => {
  expect(res.status).not.toBe(500);
  expect(res.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "attributes" });
};

describe("customer attributes", () => {
  it("keeps the merged attributes within 16 KB under 64 concurrent upserts of new keys", async () => {
    ok(await upsert({ externalId: "crowded", attributes: { seed: 1 } }));
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => upsert({ externalId: "crowded", attributes: { [`k${i}`]: "x".repeat(15_000) } })));
    const accepted = results.filter((r) => !r.errors);
    const refused = results.filter((r) => r.errors);
    for (const r of refused) expectTooLarge(r);
    // 15 KB of new keys fits once next to { seed: 1 }, never twice.
    expect(accepted).toHaveLength(1);
    const row = await stored("crowded");
    expect(row.bytes).toBeLessThanOrEqual(16_384);
    expect(Object.keys(row.attributes).sort()).toEqual(Object.keys(accepted[0].data.upsertCustomer.attributes).sort());
  });

  it("refuses an upsert whose merge would exceed the limit, changing nothing", async () => {
    ok(await upsert({ externalId: "full", email: "a@example.com", name: "A", attributes: { a: "y".repeat(10_000) } }));
    const before = await stored("full");
    expectTooLarge(await upsert({ externalId: "full", email: "b@example.com", name: "B", attributes: { b: "z".repeat(10_000) } }));
    expect(await stored("full")).toEqual(before);
    // Replacing a key's value is measured merged too: this one fits.
    const replaced = ok(await upsert({ externalId: "full", attributes: { a: "short", b: "z".repeat(10_000) } })).data.upsertCustomer;
    expect(Object.keys(replaced.attributes).sort()).toEqual(["a", "b"]);
    // A new customer whose attributes alone are too large is not created.
    expectTooLarge(await upsert({ externalId: "born-full", attributes: { a: "é".repeat(9_000) } }));
    expect(await stored("born-full")).toBeUndefined();
  });

  it("guards the column in the database, yet leaves a customer stored oversized before writable", async () => {
    const id = ok(await upsert({ externalId: "legacy" })).data.upsertCustomer.id;
    const big = JSON.stringify({ old: "o".repeat(40_000) });
    await expect(t.app.db.query(`UPDATE customers SET attributes = $2::jsonb WHERE id = $1`, [id, big])).rejects.toMatchObject({ code: "23514" });
    // As a row written before the limit existed.
    await t.app.db.query(`ALTER TABLE customers DISABLE TRIGGER customers_attributes_size_update`);
    try {
      await t.app.db.query(`UPDATE customers SET attributes = $2::jsonb WHERE id = $1`, [id, big]);
    } finally {
      await t.app.db.query(`ALTER TABLE customers ENABLE TRIGGER customers_attributes_size_update`);
    }
    // Its purchases and its other fields are still written; more attributes are refused.
    expect(ok(await purchase(t, { programId, customerId: id, orderId: "legacy-1", amount: 5, currency: "EUR" })).data.recordPurchase.pointsEarned).toBe(5);
    expect(ok(await upsert({ externalId: "legacy", name: "Still here" })).data.upsertCustomer.name).toBe("Still here");
    expectTooLarge(await upsert({ externalId: "legacy", attributes: { more: 1 } }));
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });
});
