/**
 * Two API processes behind a load balancer: they share PostgreSQL and Redis. A subscriber on one
 * receives what is written through the other, and a ladder changed through one is used by both.
 * Needs Redis: REDIS_URL (.ci/run starts the local one and sets it).
 */
import { collect, listening, SecondProcess, startSecondProcess, startTestApp, TestApp, ADMIN_KEY } from "../helpers/test-app";
import { until } from "../helpers/until";
import { griffinProgram, purchase } from "../helpers/operations";

const REDIS_URL = process.env.REDIS_URL;
const describeWithRedis = REDIS_URL ? describe : describe.skip;

describeWithRedis("several API processes (Redis)", () => {
  let a: TestApp;
  let b: SecondProcess;

  beforeAll(async () => {
    a = await startTestApp({ redisUrl: REDIS_URL });
    b = await startSecondProcess(a);
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  const onB = async (query: string, variables: Record<string, unknown> = {}, key = ADMIN_KEY) => {
    const res = await fetch(b.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as any;
  };

  it("delivers to a subscriber on one process the moves written through the other", async () => {
    const programId = await griffinProgram(a);
    const { createClient } = await import("graphql-ws");
    const WebSocket = (await import("ws")).default;
    const clientOnB = createClient({
      url: b.server.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${ADMIN_KEY}` },
      lazy: true,
      retryAttempts: 0,
    });
    const sub = collect(clientOnB, `subscription($p: ID!) { stageChanged(programId: $p) { customerId to { key } } }`, { p: programId });
    await listening(b.app, programId);
    const written = await purchase(a, { programId, customerExternalId: "far", orderId: "f1", amount: 3, currency: "EUR" });
    await sub.next(1);
    expect(sub.items[0].stageChanged).toEqual({ customerId: written.data.recordPurchase.customer.id, to: { key: "first_time_customer" } });
    sub.unsubscribe();
    await clientOnB.dispose();
  });

  it("resumes a subscription on one process over Redis: what was missed, then what the other process writes", async () => {
    const programId = await griffinProgram(a);
    await purchase(a, { programId, customerExternalId: "r", orderId: "r1", amount: 3, currency: "EUR" });
    await purchase(a, { programId, customerExternalId: "r", orderId: "r2", amount: 3, currency: "EUR" });
    const [seen] = await a.app.db.query(`SELECT min(id)::text AS id FROM outbox WHERE program_id = $1`, [programId]);
    const { createClient } = await import("graphql-ws");
    const WebSocket = (await import("ws")).default;
    const clientOnB = createClient({
      url: b.server.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${ADMIN_KEY}` },
      lazy: true,
      retryAttempts: 0,
    });
    const sub = collect(clientOnB, `subscription($p: ID!, $after: ID) { loyaltyEvents(programId: $p, after: $after) { ... on CustomerEvent { sequence } } }`, {
      p: programId,
      after: seen.id,
    });
    // Written on A while B replays, and after.
    const writes = Promise.all(["r3", "r4"].map((o) => purchase(a, { programId, customerExternalId: "r", orderId: o, amount: 3, currency: "EUR" })));
    await writes;
    const all = await a.app.db.query(`SELECT id::text AS id FROM outbox WHERE program_id = $1 AND id > $2 ORDER BY id`, [programId, seen.id]);
    await sub.next(all.length);
    // Each once: a marker written on A after them arrives on B, and before it came exactly these.
    await purchase(a, { programId, customerExternalId: "r", orderId: "marker", amount: 3, currency: "EUR" });
    const [marker] = await a.app.db.query(`SELECT max(id)::text AS id FROM outbox WHERE program_id = $1 AND topic = 'TOUCHPOINT_RECORDED'`, [programId]);
    const got = (await sub.before((i: any) => i.loyaltyEvents.sequence === marker.id)).map((i: any) => i.loyaltyEvents.sequence);
    expect([...got].sort((x, y) => Number(x) - Number(y))).toEqual(all.map((r: any) => r.id));
    sub.unsubscribe();
    await clientOnB.dispose();
  });

  it("drops a changed ladder from every process's cache", async () => {
    const programId = await griffinProgram(a);
    const stagesOnB = async () =>
      (await onB(`query($p: ID!) { program(id: $p) { stages { key } } }`, { p: programId })).data.program.stages.map((s: any) => s.key);
    expect((await stagesOnB())[0]).toBe("suspect"); // cached on B now
    const res = await a.gql(`mutation($p: ID!) { updateLadder(programId: $p, ladder: { preset: "trust-6" }) { id } }`, { p: programId });
    expect(res.errors).toBeUndefined();
    // B hears of the change over Redis and drops its cached ladder.
    await until(async () => (await stagesOnB())[0] !== "suspect", { what: "B to read the new ladder" });
    expect(await stagesOnB()).toEqual(["awareness", "trust", "transaction", "satisfaction", "loyalty", "word_of_mouth"]);
    // And B writes with the new ladder.
    const viaB = await onB(`mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { customer { stage { key } } } }`, {
      i: { programId, customerExternalId: "b-side", orderId: "b1", amount: 1, currency: "EUR" },
    });
    expect(viaB.data.recordPurchase.customer.stage.key).toBe("transaction");
  });

  it("stops a key revoked through one process in the other at once, though the other had it cached", async () => {
    const programId = await griffinProgram(a);
    const created = await a.gql(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret } }`, {
      i: { programId, role: "ADMIN", name: "leaked" },
    });
    const { apiKey, secret } = created.data.createApiKey;
    const readOnB = () => onB(`query($p: ID!) { program(id: $p) { id } }`, { p: programId }, secret);
    expect((await readOnB()).data.program.id).toBe(programId); // verified, and cached, on B
    const revoked = await a.gql(`mutation($p: ID!, $id: ID!) { revokeApiKey(programId: $p, id: $id) { revokedAt } }`, { p: programId, id: apiKey.id });
    expect(revoked.errors).toBeUndefined();
    // Redis carries the revocation: B hears it within moments (its key cache would keep the key 30 s).
    const code = async () => (await readOnB()).errors?.[0].extensions?.code;
    await until(async () => (await code()) === "UNAUTHENTICATED", { timeoutMs: 2000, what: "B to refuse the revoked key" });
    expect(await code()).toBe("UNAUTHENTICATED");
  });
});
