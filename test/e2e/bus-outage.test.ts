/**
 * The event bus (Redis) going away while purchases go on, on two API processes: every subscriber of
 * either process still gets every committed event of its feed, once, in order per customer (from
 * its own process's commits and the outbox while Redis is down, and across the moment it comes
 * back); /readyz stays ready and says the bus is down; a revocation sent during the outage is
 * heard once it is back; a webhook endpoint gets every event of its topic once. Redis here is the
 * test's own, killed with SIGKILL.
 */
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { createClient, Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import { ADMIN_KEY, collect, startSecondProcess, startTestApp, SecondProcess, TestApp } from "../helpers/test-app";
import { createKey, griffinProgram, ok } from "../helpers/operations";
import { spawnSync } from "node:child_process";
import { startThrowawayRedis, ThrowawayRedis } from "../../src/cli/chaos/throwaway-redis";
import { LOYALTY_TOPICS } from "../../src/events/event.types";

const LOYALTY_EVENTS = `subscription($p: ID!) { loyaltyEvents(programId: $p) {
  ... on StageChangedEvent { sequence customerId }
  ... on TouchpointRecordedEvent { sequence customerId }
} }`;
const STAGE_CHANGED = `subscription($p: ID!) { stageChanged(programId: $p) { sequence customerId } }`;
const PURCHASE = `mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { customer { id } } }`;

async function waitFor(condition: () => boolean | Promise<boolean>, ms = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// A Redis of the test's own (the chaos run's), killed and restarted: never the machine's.
const describeWithRedis = spawnSync("redis-server", ["--version"]).status === 0 ? describe : describe.skip;

describeWithRedis("a Redis outage under load", () => {
  let redis: ThrowawayRedis;
  let t: TestApp;
  let second: SecondProcess;
  const clients: WsClient[] = [];
  // A webhook endpoint: the sequences each path received.
  let receiver: Server;
  let hookBase: string;
  const hooked = new Map<string, string[]>();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        hooked.set(req.url ?? "/", [...(hooked.get(req.url ?? "/") ?? []), JSON.parse(body).sequence]);
        res.end("ok");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    hookBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    redis = await startThrowawayRedis();
    t = await startTestApp({ redisUrl: redis.url });
    second = await startSecondProcess(t);
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await second?.stop();
    await t?.stop();
    await redis?.remove();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  const processes = () => [
    { url: t.server.url, wsUrl: t.server.wsUrl, app: t.app },
    { url: second.server.url, wsUrl: second.server.wsUrl, app: second.app },
  ];

  function ws(wsUrl: string, token = ADMIN_KEY): WsClient {
    const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
    clients.push(client);
    return client;
  }

  async function post(url: string, query: string, variables: Record<string, unknown>, token = ADMIN_KEY): Promise<any> {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as any) };
  }

  /** Clients posting purchases to both processes, each order retried with its key until answered. */
  function startWriters(programId: string, count: number) {
    let stop = false;
    let written = 0;
    const runs = Array.from({ length: count }, async (_, writer) => {
      for (let n = 0; !stop; n++) {
        const target = processes()[(writer + n) % 2];
        const input = { programId, customerExternalId: `c${(writer * 7 + n) % 12}`, orderId: `w${writer}-${n}`, amount: 3, currency: "EUR" };
        for (let attempt = 0; ; attempt++) {
          const res = await post(target.url, PURCHASE, { i: input }).catch((err) => ({ errors: [err] }));
          if (!res.errors) break;
          if (attempt > 50) throw new Error(`order ${input.orderId} never answered: ${JSON.stringify(res.errors)}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        written++;
      }
    });
    return {
      written: () => written,
      async stop() {
        stop = true;
        await Promise.all(runs);
      },
    };
  }

  async function outage(outageMs: number): Promise<void> {
    const programId = await griffinProgram(t);
    await waitFor(() => processes().every((p) => p.app.bus.state() === "up"), 15_000, "bus up");
    const hookPath = `/moves-${programId}`;
    ok(
      await t.gql(`mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }`, {
        i: { programId, url: `${hookBase}${hookPath}`, topics: ["STAGE_CHANGED"], description: "outage" },
      }),
    );
    const [one, two] = processes();
    const subscribers = [
      { feed: collect(ws(one.wsUrl), LOYALTY_EVENTS, { p: programId }), field: "loyaltyEvents", topics: LOYALTY_TOPICS },
      { feed: collect(ws(two.wsUrl), LOYALTY_EVENTS, { p: programId }), field: "loyaltyEvents", topics: LOYALTY_TOPICS },
      { feed: collect(ws(two.wsUrl), STAGE_CHANGED, { p: programId }), field: "stageChanged", topics: ["STAGE_CHANGED"] },
    ];
    await waitFor(() => one.app.feeds.listenerCount(programId) === 1 && two.app.feeds.listenerCount(programId) === 2, 10_000, "subscribed");
    await waitFor(() => processes().every((p) => p.app.feeds.status() === "live"), 10_000, "feeds live");

    const writers = startWriters(programId, 6);
    await waitFor(() => writers.written() >= 30, 30_000, "writes before the outage");
    await redis.kill();
    await waitFor(() => processes().every((p) => p.app.bus.state() === "down"), 10_000, "bus seen down");
    const before = writers.written();
    // Ready (the database is), and saying why events come from the outbox.
    const ready = await fetch(two.url.replace("/graphql", "/readyz"));
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as any).detail).toMatch(/event bus down/);
    await new Promise((resolve) => setTimeout(resolve, outageMs)); // the outage itself
    expect(writers.written()).toBeGreaterThan(before); // writes went on without the bus
    await redis.start();
    await waitFor(() => processes().every((p) => p.app.feeds.status() === "live"), 20_000, "feeds live again");
    const after = writers.written();
    await waitFor(() => writers.written() >= after + 30, 30_000, "writes after the outage");
    await writers.stop();

    // Webhooks do not go through the bus: every move reached the endpoint, once.
    const moves = (
      await t.app.db.query(`SELECT id::text AS sequence FROM outbox WHERE program_id = $1 AND topic = 'STAGE_CHANGED' ORDER BY id`, [programId])
    ).map((r: any) => r.sequence);
    await waitFor(() => (hooked.get(hookPath)?.length ?? 0) >= moves.length, 30_000, "webhook deliveries").catch(() => undefined);
    expect([...(hooked.get(hookPath) ?? [])].sort((a, b) => Number(a) - Number(b))).toEqual(moves);

    for (const { feed, field, topics } of subscribers) {
      const rows = await t.app.db.query(`SELECT id::text AS sequence, customer_id FROM outbox WHERE program_id = $1 AND topic = ANY($2::text[]) ORDER BY id`, [
        programId,
        [...topics],
      ]);
      await feed.next(rows.length, 20_000).catch(() => undefined);
      const got = feed.items.map((item: any) => item[field] as { sequence: string; customerId: string });
      const sequences = got.map((e) => e.sequence);
      expect(feed.errors).toEqual([]);
      expect(new Set(sequences).size).toBe(sequences.length); // once each
      expect([...sequences].sort((a, b) => Number(a) - Number(b))).toEqual(rows.map((r: any) => r.sequence)); // every one
      // In order per customer.
      const last = new Map<string, number>();
      for (const event of got) {
        expect(Number(event.sequence)).toBeGreaterThan(last.get(event.customerId) ?? 0);
        last.set(event.customerId, Number(event.sequence));
      }
    }
  }

  it("loses no event to a 3 s outage", () => outage(3_000), 120_000);

  it("loses no event to a 20 s outage", () => outage(20_000), 150_000);

  it("hears a revocation made while the bus was down once it is back", async () => {
    const programId = await griffinProgram(t);
    await waitFor(() => processes().every((p) => p.app.bus.state() === "up"), 15_000, "bus up");
    const partner = await createKey(t, programId, "PARTNER");
    const [one, two] = processes();
    const read = (url: string) => post(url, `query($p: ID!) { program(id: $p) { id } }`, { p: programId }, partner);
    // The second process knows the key (and keeps it in its cache).
    expect((await read(two.url)).errors).toBeUndefined();
    await redis.kill();
    await waitFor(() => processes().every((p) => p.app.bus.state() === "down"), 10_000, "bus seen down");
    const keyId = ok(await post(one.url, `query($p: ID!) { apiKeys(programId: $p) { id role } }`, { p: programId })).data.apiKeys.find(
      (k: any) => k.role === "PARTNER",
    ).id;
    ok(await post(one.url, `mutation($k: ID!, $p: ID!) { revokeApiKey(id: $k, programId: $p) { id } }`, { k: keyId, p: programId }));
    expect((await read(one.url)).errors?.[0].extensions.code).toBe("UNAUTHENTICATED");
    await redis.start();
    await waitFor(() => processes().every((p) => p.app.bus.state() === "up"), 20_000, "bus up again");
    // Heard at once, not when the key's cache entry expires.
    expect((await read(two.url)).errors?.[0].extensions.code).toBe("UNAUTHENTICATED");
  }, 60_000);
});
