/** Who may do what: each role, each program, over HTTP. */
import { ADMIN_KEY, collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, getCustomer, griffinProgram, purchase, recompute, tableCounts } from "../helpers/operations";

let t: TestApp;
let programA: string;
let programB: string;
let keys: Record<"adminA" | "partnerA" | "storefrontA" | "adminB", string>;
let customerA: string;
let customerA2: string;
let customerB: string;

const code = (res: { errors?: Array<{ extensions?: Record<string, any> }> }) => res.errors?.[0]?.extensions?.code;

beforeAll(async () => {
  t = await startTestApp();
  programA = await griffinProgram(t);
  programB = await griffinProgram(t);
  keys = {
    adminA: await createKey(t, programA, "ADMIN"),
    partnerA: await createKey(t, programA, "PARTNER"),
    storefrontA: await createKey(t, programA, "STOREFRONT"),
    adminB: await createKey(t, programB, "ADMIN"),
  };
  customerA = (await purchase(t, { programId: programA, customerExternalId: "a1", orderId: "1", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
  customerA2 = (await purchase(t, { programId: programA, customerExternalId: "a2", orderId: "2", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
  customerB = (await purchase(t, { programId: programB, customerExternalId: "b1", orderId: "1", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
});
afterAll(() => t.stop());

describe("credentials", () => {
  it("answers UNAUTHENTICATED without a credential or with an unknown one, with HTTP 401 for the unknown", async () => {
    expect(code(await t.gql(`{ programs { id } }`, {}, null))).toBe("UNAUTHENTICATED");
    const wrong = await t.gql(`{ programs { id } }`, {}, "lk_0123456789abcdef0123456789abcdef_wrongwrongwrongwrongwrong");
    expect(wrong.status).toBe(401);
    expect(code(wrong)).toBe("UNAUTHENTICATED");
    expect(code(await t.gql(`{ programs { id } }`, {}, "garbage"))).toBe("UNAUTHENTICATED");
    expect(code(await t.gql(`{ programs { id } }`, {}, ADMIN_KEY + "x"))).toBe("UNAUTHENTICATED");
  });

  it("shows an API key's secret once and stores only its hash", async () => {
    const rows = await t.app.db.query(`SELECT key_hash FROM api_keys WHERE program_id = $1`, [programA]);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) {
      expect(r.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(Object.values(keys)).not.toContain(r.key_hash);
    }
  });

  it("lets the bootstrap key create programs and nobody else", async () => {
    const input = { name: "X", ladder: { preset: "trust-6" } };
    const mutation = `mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`;
    expect(code(await t.gql(mutation, { i: input }, keys.adminA))).toBe("FORBIDDEN");
    expect((await t.gql(mutation, { i: input })).data.createProgram.id).toBeTruthy();
  });
});

describe("revoking an API key", () => {
  const LIST = `query($p: ID!) { apiKeys(programId: $p) { id name role createdAt revokedAt } }`;
  const REVOKE = `mutation($p: ID!, $id: ID!) { revokeApiKey(programId: $p, id: $id) { id name revokedAt } }`;
  const STAGE_CHANGED = `subscription($p: ID!) { stageChanged(programId: $p) { customerId to { key } } }`;

  it("stops the key at once, over HTTP and on its open WebSockets, once, for the program's ADMIN only", async () => {
    const created = await t.gql(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret } }`, {
      i: { programId: programA, role: "PARTNER", name: "POS to revoke" },
    });
    const { apiKey, secret } = created.data.createApiKey;
    // In use: it reads, and a subscription opened with it is live.
    expect(code(await getCustomer(t, customerA, secret))).toBeUndefined();
    const open = t.app.feeds.listenerCount(programA);
    const live = collect(t.ws(secret), STAGE_CHANGED, { p: programA });
    await listening(t.app, programA, open + 1);

    // Listed (never with a secret or hash), working.
    const listed = await t.gql(LIST, { p: programA }, keys.adminA);
    const mine = listed.data.apiKeys.find((k: any) => k.id === apiKey.id);
    expect(mine).toMatchObject({ name: "POS to revoke", role: "PARTNER", revokedAt: null });
    expect(JSON.stringify(listed.data)).not.toContain(secret.slice(36));
    // Not for another role, another program's ADMIN, or a key id of another program.
    expect(code(await t.gql(LIST, { p: programA }, keys.partnerA))).toBe("FORBIDDEN");
    expect(code(await t.gql(REVOKE, { p: programA, id: apiKey.id }, keys.partnerA))).toBe("FORBIDDEN");
    expect(code(await t.gql(REVOKE, { p: programA, id: apiKey.id }, keys.adminB))).toBe("FORBIDDEN");
    expect(code(await t.gql(REVOKE, { p: programB, id: apiKey.id }, keys.adminB))).toBe("NOT_FOUND");
    expect(code(await getCustomer(t, customerA, secret))).toBeUndefined();

    const revoked = await t.gql(REVOKE, { p: programA, id: apiKey.id }, keys.adminA);
    expect(revoked.errors).toBeUndefined();
    expect(revoked.data.revokeApiKey.revokedAt).toBeTruthy();
    // At once, though the key was verified (and cached) a moment ago.
    const after = await getCustomer(t, customerA, secret);
    expect(after.status).toBe(401);
    expect(code(after)).toBe("UNAUTHENTICATED");
    await live.failed();
    expect(JSON.stringify(live.errors)).toMatch(/4403/);
    const again = collect(t.ws(secret), STAGE_CHANGED, { p: programA });
    await again.failed();
    expect(JSON.stringify(again.errors)).toMatch(/4403|Forbidden/);
    // Once: revoking again keeps the first time; the list shows it; other keys still work.
    const twice = await t.gql(REVOKE, { p: programA, id: apiKey.id }, keys.adminA);
    expect(twice.data.revokeApiKey.revokedAt).toBe(revoked.data.revokeApiKey.revokedAt);
    const relisted = await t.gql(LIST, { p: programA }, keys.adminA);
    expect(relisted.data.apiKeys.find((k: any) => k.id === apiKey.id).revokedAt).toBe(revoked.data.revokeApiKey.revokedAt);
    expect(code(await getCustomer(t, customerA, keys.partnerA))).toBeUndefined();
    expect(code(await t.gql(REVOKE, { p: programA, id: "not-a-uuid" }, keys.adminA))).toBe("BAD_USER_INPUT");
  });

  it("closes a revoked key's WebSockets even when this process did not hear the revocation (checked in the database)", async () => {
    const created = await t.gql(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret } }`, {
      i: { programId: programA, role: "ADMIN", name: "revoked elsewhere" },
    });
    const { apiKey, secret } = created.data.createApiKey;
    const open = t.app.feeds.listenerCount(programA);
    const live = collect(t.ws(secret), STAGE_CHANGED, { p: programA });
    await listening(t.app, programA, open + 1);
    // Revoked as another process would, with its message lost: nothing told this one.
    await t.app.db.query(`UPDATE api_keys SET revoked_at = now() WHERE program_id = $1 AND id = $2`, [programA, apiKey.id]);
    await t.server.sweepRevokedSockets();
    await live.failed();
    expect(JSON.stringify(live.errors)).toMatch(/4403/);
  });
});

describe("roles in a program", () => {
  it("ADMIN configures and reads its program, and nothing of another", async () => {
    expect((await recompute(t, programA, keys.adminA)).errors).toBeUndefined();
    expect(code(await recompute(t, programB, keys.adminA))).toBe("FORBIDDEN");
    expect(code(await getCustomer(t, customerB, keys.adminA))).toBe("FORBIDDEN");
    const list = await t.gql(`{ programs { id } }`, {}, keys.adminA);
    expect(list.data.programs).toEqual([{ id: programA }]);
    expect(code(await t.gql(`query($p: ID!) { program(id: $p) { id } }`, { p: programB }, keys.adminA))).toBe("FORBIDDEN");
    const funnel = await t.gql(`query($p: ID!) { ladderFunnel(programId: $p) { programId } }`, { p: programA }, keys.adminA);
    expect(funnel.errors).toBeUndefined();
  });

  it("PARTNER records touchpoints and reads customers, but does not configure", async () => {
    const before = await tableCounts(t);
    const rec = await purchase(t, { programId: programA, customerExternalId: "p1", orderId: "p1", amount: 3, currency: "EUR" }, keys.partnerA);
    expect(rec.errors).toBeUndefined();
    expect((await getCustomer(t, customerA, keys.partnerA)).data.customer.id).toBe(customerA);
    expect(code(await purchase(t, { programId: programB, customerExternalId: "p1", orderId: "p1", amount: 3, currency: "EUR" }, keys.partnerA))).toBe(
      "FORBIDDEN",
    );
    expect(code(await recompute(t, programA, keys.partnerA))).toBe("FORBIDDEN");
    expect(
      code(
        await t.gql(
          `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }`,
          { i: { programId: programA, role: "ADMIN", name: "x" } },
          keys.partnerA,
        ),
      ),
    ).toBe("FORBIDDEN");
    expect(code(await t.gql(`mutation($p: ID!) { updateLadder(programId: $p, ladder: { preset: "trust-6" }) { id } }`, { p: programA }, keys.partnerA))).toBe(
      "FORBIDDEN",
    );
    expect(code(await t.gql(`query($p: ID!) { ladderFunnel(programId: $p) { programId } }`, { p: programA }, keys.partnerA))).toBe("FORBIDDEN");
    expect((await tableCounts(t)).touchpoints).toBe(before.touchpoints + 1);
  });

  it("STOREFRONT reads the program's public data but no customer and records nothing", async () => {
    const program = await t.gql(
      `query($p: ID!) { program(id: $p) { name stages { key } earningRules { touchpointType } } }`,
      { p: programA },
      keys.storefrontA,
    );
    expect(program.data.program.stages).toHaveLength(8);
    expect(code(await getCustomer(t, customerA, keys.storefrontA))).toBe("FORBIDDEN");
    expect(code(await t.gql(`query($p: ID!) { customers(programId: $p) { nodes { id } } }`, { p: programA }, keys.storefrontA))).toBe("FORBIDDEN");
    expect(code(await purchase(t, { programId: programA, customerExternalId: "s", orderId: "s", amount: 1, currency: "EUR" }, keys.storefrontA))).toBe(
      "FORBIDDEN",
    );
    expect(code(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: customerA }, keys.storefrontA))).toBe("FORBIDDEN");
  });

  it("a customer token reads `me` and its own customer only, until it expires", async () => {
    const issued = await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token expiresAt customerId } }`, { c: customerA }, keys.partnerA);
    const { token } = issued.data.issueCustomerToken;
    const me = await t.gql(`{ me { id externalId stage { key } points { balance } nextStage { stage { key } } } }`, {}, token);
    expect(me.data.me).toMatchObject({ id: customerA, externalId: "a1", stage: { key: "first_time_customer" }, points: { balance: 1 } });
    expect((await getCustomer(t, customerA, token)).data.customer.id).toBe(customerA);
    expect(code(await getCustomer(t, customerA2, token))).toBe("FORBIDDEN");
    expect(code(await t.gql(`query($p: ID!) { customers(programId: $p) { nodes { id } } }`, { p: programA }, token))).toBe("FORBIDDEN");
    expect(code(await purchase(t, { programId: programA, customerId: customerA, orderId: "self", amount: 1, currency: "EUR" }, token))).toBe("FORBIDDEN");
    // Tampered: another customer's id under the same signature.
    const [body, sig] = token.slice(3).split(".");
    const claims = JSON.parse(Buffer.from(body, "base64url").toString());
    const forged = `ct_${Buffer.from(JSON.stringify({ ...claims, c: customerA2 })).toString("base64url")}.${sig}`;
    expect(code(await t.gql(`{ me { id } }`, {}, forged))).toBe("UNAUTHENTICATED");
    const junk = `ct_${Buffer.from(JSON.stringify({ ...claims, p: "------------------------------------" })).toString("base64url")}.${sig}`;
    const junkRes = await t.gql(`{ me { id } }`, {}, junk);
    expect([junkRes.status, code(junkRes)]).toEqual([401, "UNAUTHENTICATED"]);
    // No membership probing: another customer, existing or not, is FORBIDDEN alike.
    const probe = (externalId: string) =>
      t.gql(`query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { id } }`, { p: programA, e: externalId }, token);
    expect(code(await probe("a2"))).toBe("FORBIDDEN");
    expect(code(await probe("nobody@example.com"))).toBe("FORBIDDEN");
    expect((await probe("a1")).data.customer.id).toBe(customerA);
    t.advanceClock(2 * 3600_000);
    try {
      expect(code(await t.gql(`{ me { id } }`, {}, token))).toBe("UNAUTHENTICATED");
    } finally {
      t.advanceClock(-2 * 3600_000);
    }
    expect(code(await t.gql(`{ me { id } }`, {}, keys.adminA))).toBe("UNAUTHENTICATED");
  });
});
