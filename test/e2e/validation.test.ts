/** Bad input gets BAD_USER_INPUT naming the field, never a 500, and the database is unchanged. */
import { startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, purchase, review, tableCounts, touchpoint } from "../helpers/operations";

let t: TestApp;
let programId: string;
let customerId: string;
beforeAll(async () => {
  t = await startTestApp();
  programId = await griffinProgram(t);
  customerId = (await purchase(t, { programId, customerExternalId: "v", orderId: "ok", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
});
afterAll(() => t.stop());

const expectBadInput = async (res: Promise<any>, field: string) => {
  const { status, errors, data } = await res;
  expect(status).not.toBe(500);
  expect(errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
  expect(JSON.stringify(errors)).not.toMatch(/stack|at \w+ \(|\.ts:\d+/);
  return { errors, data };
};

describe("input validation", () => {
  const base = () => ({ programId, customerId, orderId: "o-bad", amount: 10, currency: "EUR" });

  it("rejects bad purchases with the field, writing nothing", async () => {
    const before = await tableCounts(t);
    await expectBadInput(purchase(t, { ...base(), amount: -1 }), "amount");
    await expectBadInput(purchase(t, { ...base(), amount: 10.123 }), "amount");
    await expectBadInput(purchase(t, { ...base(), amount: 1e13 }), "amount");
    await expectBadInput(purchase(t, { ...base(), currency: "eur" }), "currency");
    await expectBadInput(purchase(t, { ...base(), orderId: "" }), "orderId");
    await expectBadInput(purchase(t, { ...base(), orderId: "x".repeat(201) }), "orderId");
    await expectBadInput(purchase(t, { ...base(), occurredAt: new Date(Date.now() + 86_400_000).toISOString() }), "occurredAt");
    await expectBadInput(purchase(t, { ...base(), occurredAt: "yesterday" }), "occurredAt");
    await expectBadInput(purchase(t, { ...base(), programId: "not-a-uuid" }), "programId");
    await expectBadInput(purchase(t, { ...base(), customerId: "123" }), "customerId");
    await expectBadInput(purchase(t, { ...base(), customerExternalId: "also" }), "customerId");
    await expectBadInput(purchase(t, { ...base(), lines: [{ sku: "a", quantity: 1, unitPrice: 3 }] }), "lines");
    await expectBadInput(purchase(t, { ...base(), lines: [{ sku: "a", quantity: 0, unitPrice: 10 }] }), "lines[0].quantity");
    await expectBadInput(purchase(t, { ...base(), amount: "ten" }), "amount");
    // A required field left out, or one the input does not have: named, not "input".
    await expectBadInput(purchase(t, { ...base(), orderId: undefined }), "orderId");
    await expectBadInput(purchase(t, { ...base(), coupon: "X" }), "coupon");
    await expectBadInput(purchase(t, { ...base(), amount: 3e9 }), "amount"); // 3 billion points
    await expectBadInput(purchase(t, { ...base(), orderId: "o\u0000x" }), "input.orderId");
    await expectBadInput(purchase(t, { ...base(), customerId: undefined, customerExternalId: "nul\u0000" }), "input.customerExternalId");
    await expectBadInput(touchpoint(t, { programId, customerId, type: "VISIT", externalId: "t", data: { note: "a\u0000b" } }), "input.data.note");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("rejects bad reviews, touchpoints and customers", async () => {
    const before = await tableCounts(t);
    await expectBadInput(review(t, { programId, customerId, reviewId: "r", rating: 6 }), "rating");
    await expectBadInput(review(t, { programId, customerId, reviewId: "r", rating: 0 }), "rating");
    await expectBadInput(review(t, { programId, customerId, reviewId: "r", rating: 4, text: "x".repeat(5001) }), "text");
    await expectBadInput(touchpoint(t, { programId, customerId, type: "TELEPATHY", externalId: "t" }), "type");
    await expectBadInput(touchpoint(t, { programId, customerId, type: "PURCHASE", externalId: "t" }), "type");
    await expectBadInput(touchpoint(t, { programId, customerId, type: "SURVEY_RESPONSE", externalId: "t", data: { nps: 11 } }), "data.nps");
    await expectBadInput(touchpoint(t, { programId, customerId, type: "VISIT", externalId: "t", data: { blob: "x".repeat(20_000) } }), "data");
    const upsert = (input: Record<string, unknown>) =>
      t.gql(`mutation($i: UpsertCustomerInput!) { upsertCustomer(input: $i) { id } }`, { i: { programId, externalId: "u", ...input } });
    await expectBadInput(upsert({ email: "not-an-email" }), "email");
    await expectBadInput(upsert({ name: "n".repeat(201) }), "name");
    await expectBadInput(upsert({ externalId: "" }), "externalId");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("rejects bad ladders and programs with the field", async () => {
    const before = await tableCounts(t);
    const create = (input: Record<string, unknown>) =>
      t.gql(`mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`, { i: { name: "P", ...input } });
    await expectBadInput(create({ ladder: { preset: "nope" } }), "ladder.preset");
    await expectBadInput(create({ ladder: {} }), "ladder");
    await expectBadInput(create({ ladder: { preset: "griffin-7", stages: [{ key: "a", name: "A" }] } }), "ladder");
    await expectBadInput(
      create({
        ladder: {
          stages: [
            { key: "a", name: "A" },
            { key: "b", name: "B", paths: [] },
          ],
        },
      }),
      "ladder.stages[1].paths",
    );
    await expectBadInput(
      create({
        ladder: {
          stages: [
            { key: "a", name: "A" },
            { key: "b", name: "B", paths: [[{ metric: "NPS", op: "GTE", value: 9, windowDays: 30 }]] },
          ],
        },
      }),
      "ladder.stages[1].paths[0][0].windowDays",
    );
    await expectBadInput(create({ ladder: { preset: "griffin-7" }, timeZone: "Mars/Olympus" }), "timeZone");
    await expectBadInput(create({ ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE" }] }), "earningRules[0]");
    await expectBadInput(
      create({ ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: -1 }] }),
      "earningRules[0].pointsPerUnit",
    );
    await expectBadInput(create({ name: "", ladder: { preset: "griffin-7" } }), "name");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("rejects bad reads with the field", async () => {
    await expectBadInput(t.gql(`query($p: ID!) { customers(programId: $p, first: 500) { nodes { id } } }`, { p: programId }), "first");
    await expectBadInput(t.gql(`query($p: ID!) { customers(programId: $p, after: "bogus") { nodes { id } } }`, { p: programId }), "after");
    await expectBadInput(t.gql(`query($p: ID!) { customers(programId: $p, stage: "nowhere") { nodes { id } } }`, { p: programId }), "stage");
    await expectBadInput(t.gql(`{ customer(id: "x") { id } }`), "id");
    await expectBadInput(
      t.gql(`query($p: ID!) { ladderFunnel(programId: $p, from: "2030-01-01T00:00:00Z", to: "2020-01-01T00:00:00Z") { programId } }`, { p: programId }),
      "from",
    );
  });

  it("answers malformed requests without a 500 and stays up", async () => {
    const raw = await fetch(t.server.url, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(raw.status).toBe(400);
    const syntax = await t.gql(/* invalid on purpose */ `{ programs { id `);
    expect(syntax.errors?.[0].extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    const unknownField = await t.gql(/* invalid on purpose */ `{ programs { nope } }`);
    expect(unknownField.errors?.[0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const health = await fetch(t.server.url.replace("/graphql", "/healthz"));
    expect(health.status).toBe(200);
  });
});
