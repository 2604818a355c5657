/**
 * A rolling deploy: SIGTERM while 32 clients post purchases and a subscriber listens. Every
 * request sent before the signal is answered, with its result or a retryable 503 (nothing done);
 * a connection that fails after it carried nothing the server read (nothing of it written);
 * every purchase answered is written once; the
 * subscriber gets the events of every purchase written, then a 1001 close; /readyz turns 503 at
 * once; the process exits 0. The process is the real one (`src/main.ts`), on PostgreSQL when
 * DATABASE_URL is set, else on the embedded database.
 */
import { ChildProcess, spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { PGlite } from "@electric-sql/pglite";
import { Client } from "pg";
import { createScratchDatabase, ScratchDatabase } from "../../src/db/scratch-database";

const ROOT = join(__dirname, "../..");
const ADMIN_KEY = "drain-test-admin-key-0123456789abcdef0123";
const CLIENTS = 32;

let dataDir: string;
let scratch: ScratchDatabase | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "loyalty-drain-"));
  if (process.env.DATABASE_URL) scratch = await createScratchDatabase(process.env.DATABASE_URL, "loyalty_drain");
});
afterAll(async () => {
  await scratch?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  const env = {
    ...rest,
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
    LOYALTY_DATA_DIR: dataDir,
    LOYALTY_SEED_DEMO: "false",
    LOYALTY_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: "info",
    PORT: "0",
    HOST: "127.0.0.1",
    SHUTDOWN_GRACE_MS: "15000",
    TS_NODE_TRANSPILE_ONLY: "true",
  };
  const child = spawn(process.execPath, ["--require", "ts-node/register", join(ROOT, "src/main.ts")], { env, cwd: ROOT });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)\/graphql"/.exec(output)?.[1] ?? /localhost:(\d+)\/graphql/.exec(output)?.[1]);
    if (
      port &&
      (await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      return { child, port, output: () => output };
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not become ready: ${output}`);
}

/** How a request ended; `sentBeforeSignal` for the ones sent before SIGTERM. */
type Outcome = { orderId: string; sentBeforeSignal: boolean } & (
  { kind: "ok" } | { kind: "unavailable" } | { kind: "connection failed"; error: string } | { kind: "other"; body: string }
);

/** One POST, on a keep-alive connection as a real client's; what came back, or how it failed. */
function post(agent: Agent, port: number, body: unknown): Promise<{ status: number; body: string } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/graphql",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), authorization: `Bearer ${ADMIN_KEY}` },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", (error) => resolve({ error }));
      },
    );
    req.on("error", (error) => resolve({ error }));
    req.end(payload);
  });
}

const PURCHASE = `mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { touchpoint { id } } }`;

it("answers every request it received, writes each once, delivers their events, and exits 0", async () => {
  const server = await start();
  const { port } = server;
  const gql = async (query: string, variables: Record<string, unknown>) => {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as any;
  };
  const created = await gql(`mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`, {
    i: { name: "Drain", ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }] },
  });
  expect(created.errors).toBeUndefined();
  const programId = created.data.createProgram.id;

  // A subscriber of the program's events, and how its socket closed.
  const events: string[] = [];
  let closeCode: number | undefined;
  const ws = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${ADMIN_KEY}` },
    retryAttempts: 0,
    on: { closed: (event: any) => (closeCode = event?.code) },
  });
  let subscribed = false;
  ws.subscribe(
    { query: `subscription($p: ID!) { loyaltyEvents(programId: $p) { ... on TouchpointRecordedEvent { sequence externalId } } }`, variables: { p: programId } },
    {
      next: (value: any) => value.data?.loyaltyEvents?.externalId && events.push(value.data.loyaltyEvents.externalId),
      error: () => undefined,
      complete: () => undefined,
    },
  );
  // The subscription is registered once a first event reaches it.
  while (!subscribed) {
    await gql(PURCHASE, { i: { programId, customerExternalId: "probe", orderId: `probe-${events.length}-${Date.now()}`, amount: 1, currency: "EUR" } });
    const deadline = Date.now() + 500;
    while (events.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    subscribed = events.length > 0;
  }

  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const outcomes: Outcome[] = [];
  let sent = 0;
  let signalled = false;
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let n = 0; ; n++) {
      const orderId = `c${c}-${n}`;
      const sentBeforeSignal = !signalled;
      sent++;
      const answer = await post(agent, port, {
        query: PURCHASE,
        variables: { i: { programId, customerExternalId: `customer-${c % 8}`, orderId, amount: 2, currency: "EUR" } },
      });
      if ("error" in answer) {
        // The server is gone (refused), or the connection was cut: checked below against what was written.
        outcomes.push({ orderId, sentBeforeSignal, kind: "connection failed", error: `${answer.error.code} ${answer.error.message}` });
        return;
      }
      const body = JSON.parse(answer.body);
      if (answer.status === 200 && !body.errors) outcomes.push({ orderId, sentBeforeSignal, kind: "ok" });
      else if (answer.status === 503 && body.errors?.[0]?.extensions?.code === "UNAVAILABLE" && body.errors[0].extensions.retryable)
        outcomes.push({ orderId, sentBeforeSignal, kind: "unavailable" });
      else outcomes.push({ orderId, sentBeforeSignal, kind: "other", body: answer.body });
    }
  });

  // Under load: signal, and check readiness turns at once.
  while (outcomes.filter((o) => o.kind === "ok").length < 300) await new Promise((resolve) => setTimeout(resolve, 10));
  const exited = new Promise<number | null>((resolve) => server.child.once("exit", (code) => resolve(code)));
  signalled = true;
  server.child.kill("SIGTERM");
  // Once it says it drains, it is not ready: 503 (or refused, once it has exited).
  while (!server.output().includes('"msg":"draining"') && server.child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 2));
  const readyAfterSignal = await new Promise<number>((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/readyz", agent }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(-1));
    req.end();
  });
  await Promise.all(clients);
  const code = await exited;
  agent.destroy();

  // Every request sent before the signal was answered; nothing answered otherwise than OK or a
  // retryable 503; every connection that failed did so after the signal.
  expect(outcomes.filter((o) => o.kind === "other")).toEqual([]);
  expect(outcomes.filter((o) => o.sentBeforeSignal && o.kind === "connection failed")).toEqual([]);
  expect(outcomes).toHaveLength(sent);
  expect([503, -1]).toContain(readyAfterSignal);
  expect(code).toBe(0);
  expect(server.output()).toMatch(/"msg":"draining"/);
  expect(closeCode).toBe(1001);

  // In the database: each purchase answered OK written once; none answered 503 written; and no
  // request whose connection failed was written (the server never read it: none was cut off).
  const rows = await readTouchpoints(programId);
  const written = new Map<string, number>();
  for (const r of rows) written.set(r.order_id, (written.get(r.order_id) ?? 0) + 1);
  const ordersThat = (kind: Outcome["kind"]) => outcomes.flatMap((o) => (o.kind === kind ? [o.orderId] : []));
  for (const orderId of ordersThat("ok")) expect(written.get(orderId)).toBe(1);
  for (const orderId of [...ordersThat("unavailable"), ...ordersThat("connection failed")]) expect(written.get(orderId)).toBeUndefined();
  expect([...written.values()].every((n) => n === 1)).toBe(true);
  // The subscriber got the event of every purchase written, before its socket closed.
  const heard = new Set(events);
  const missing = rows.map((r) => r.external_id).filter((id) => !heard.has(id));
  expect(missing).toEqual([]);
}, 180_000);

/** The program's purchases (order id, and the touchpoint's external id as events carry it), read after the process exited. */
async function readTouchpoints(programId: string): Promise<Array<{ order_id: string; external_id: string }>> {
  const sql = `SELECT external_id AS order_id, external_id FROM touchpoints WHERE program_id = $1 AND type = 'PURCHASE' AND external_id NOT LIKE 'probe-%'`;
  if (scratch) {
    const client = new Client({ connectionString: scratch.url });
    await client.connect();
    try {
      return (await client.query(sql, [programId])).rows;
    } finally {
      await client.end();
    }
  }
  const db = await PGlite.create(dataDir);
  try {
    return (await db.query<{ order_id: string; external_id: string }>(sql, [programId])).rows;
  } finally {
    await db.close();
  }
}
