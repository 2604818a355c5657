/**
 * The process as a user runs it: `npm start` on the embedded database (PGlite in a data dir),
 * demo seed with keys printed once, SIGTERM stops cleanly, a restart keeps the data; and the CLI.
 * Runs the TypeScript through ts-node (transpile-only) so it needs no build.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScratchDatabase } from "../../src/db/scratch-database";

const ROOT = join(__dirname, "../..");
const ADMIN_KEY = "process-test-admin-key-0123456789abcdef";
let dataDir: string;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  return { ...rest, LOYALTY_DATA_DIR: dataDir, LOG_LEVEL: "warn", TS_NODE_TRANSPILE_ONLY: "true", ...extra };
}

const node = (script: string) => ["--require", "ts-node/register", join(ROOT, script)];

/**
 * Starts the server on a port the system picks (PORT=0), read from what it prints: a port chosen
 * here could be taken meanwhile by any connection's ephemeral port.
 */
async function start(extra: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(process.execPath, node("src/main.ts"), { env: env({ PORT: "0", HOST: "127.0.0.1", LOYALTY_ADMIN_KEY: ADMIN_KEY, ...extra }), cwd: ROOT });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  for (let i = 0; i < 300; i++) {
    const port = Number(/http:\/\/localhost:(\d+)\/graphql/.exec(output)?.[1]);
    try {
      if (port && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return { child, port, output: () => output };
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not become ready: ${output}`);
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

async function gql(port: number, key: string, query: string) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as any;
}

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "loyalty-process-"));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it("starts on the embedded database with a demo program, stops on SIGTERM, and keeps its data", async () => {
  const first = await start();
  let port = first.port;
  const printed = /ADMIN key\s+\(shown once\): (lk_\S+)/.exec(first.output());
  expect(printed).not.toBeNull();
  const demoKey = printed![1];
  const programs = await gql(port, demoKey, `{ programs { id name ladderPreset } }`);
  expect(programs.data.programs).toEqual([{ id: expect.any(String), name: "Demo Coffee", ladderPreset: "griffin-7" }]);
  const programId = programs.data.programs[0].id;
  const customers = await gql(
    port,
    demoKey,
    `{ customers(programId: "${programId}") { nodes { externalId stage { key } tier { tier { key } } points { balance } } } }`,
  );
  const stages = Object.fromEntries(customers.data.customers.nodes.map((n: any) => [n.externalId, [n.stage.key, n.tier.tier?.key ?? null, n.points.balance]]));
  expect(stages).toEqual({
    "demo-ana": ["prospect", null, 0],
    "demo-ben": ["first_time_customer", null, 12],
    "demo-chloe": ["repeat_customer", null, 27],
    "demo-dev": ["client", "silver", 90],
    "demo-emma": ["advocate", "gold", 217],
  });
  const catalog = await gql(port, demoKey, `{ program(id: "${programId}") { rewards { name pointsCost } tiers { key } } }`);
  expect(catalog.data.program).toEqual({
    rewards: [
      { name: "Free espresso", pointsCost: 40 },
      { name: "Demo Coffee tote bag", pointsCost: 150 },
    ],
    tiers: [{ key: "silver" }, { key: "gold" }],
  });
  expect(await stop(first.child)).toBe(0);

  const second = await start();
  port = second.port;
  expect(second.output()).not.toContain("shown once"); // no second seed
  const again = await gql(port, demoKey, `{ programs { id } }`);
  expect(again.data.programs).toEqual([{ id: programId }]);
  expect(await stop(second.child)).toBe(0);

  // The CLI on the same data, with the server stopped (PGlite is one process's database).
  const recompute = spawnSync(process.execPath, [...node("src/cli/index.ts"), "recompute", programId], { env: env(), cwd: ROOT, encoding: "utf8" });
  expect(recompute.status).toBe(0);
  expect(JSON.parse(recompute.stdout.trim().split("\n").pop()!)).toEqual({
    programId,
    evaluated: 5,
    changed: 0,
    skipped: 0,
    grantsOwed: 0,
    lifecycleChanged: 4,
  });
  const lifecycle = spawnSync(process.execPath, [...node("src/cli/index.ts"), "points-lifecycle", programId], { env: env(), cwd: ROOT, encoding: "utf8" });
  expect(lifecycle.status).toBe(0);
  expect(JSON.parse(lifecycle.stdout.trim().split("\n").pop()!)).toEqual({
    programId,
    grants: 0,
    activated: 0,
    expired: 0,
    couponsExpired: 0,
    tiersReviewed: 0,
    tiersChanged: 0,
  });
  // History from a file: two good lines and a bad one (reported, exit code 2); the summary on stdout.
  const history = join(dataDir, "history.ndjson");
  writeFileSync(
    history,
    [
      JSON.stringify({ kind: "customer", externalId: "imported-1", name: "Imported" }),
      JSON.stringify({ kind: "purchase", customerExternalId: "imported-1", orderId: "imp-1", amount: 12, currency: "EUR" }),
      JSON.stringify({ kind: "purchase", customerExternalId: "imported-1", orderId: "imp-2", amount: 0, currency: "EURO" }),
    ].join("\n"),
  );
  const imported = spawnSync(process.execPath, [...node("src/cli/index.ts"), "import", programId, history], { env: env(), cwd: ROOT, encoding: "utf8" });
  expect(imported.status).toBe(2);
  expect(JSON.parse(imported.stdout.trim().split("\n").pop()!)).toMatchObject({
    file: history,
    programId,
    lines: 3,
    written: 1,
    upserted: 1,
    failed: 1,
    errors: [{ line: 3, kind: "purchase", code: "BAD_USER_INPUT", field: "currency" }],
  });
  const bad = spawnSync(process.execPath, [...node("src/cli/index.ts"), "recompute", "nope"], { env: env(), cwd: ROOT, encoding: "utf8" });
  expect(bad.status).toBe(1);
  expect(bad.stderr).toContain('"nope" is not a program id');
}, 180_000);

it("fails fast on a bad configuration, naming the variable", () => {
  const run = spawnSync(process.execPath, node("src/main.ts"), { env: env({ PORT: "eighty" }), cwd: ROOT, encoding: "utf8" });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('PORT must be an integer >= 0, got "eighty"');
  const cluster = spawnSync(process.execPath, node("src/main.ts"), { env: env({ API_PROCESSES: "2" }), cwd: ROOT, encoding: "utf8" });
  expect(cluster.status).toBe(1);
  expect(cluster.stderr).toContain("API_PROCESSES > 1 needs DATABASE_URL and REDIS_URL");
}, 60_000);

const onServerDatabase = process.env.DATABASE_URL ? it : it.skip;

onServerDatabase(
  "seeds no demo on a server database unless asked, and never prints its keys into a collected log",
  async () => {
    const database = await createScratchDatabase(process.env.DATABASE_URL!, "loyalty_seed");
    const started: ChildProcess[] = [];
    try {
      // Production's first start: no demo program, no key anywhere in its output (debug: every log line).
      const first = await start({ DATABASE_URL: database.url, LOG_LEVEL: "debug" });
      started.push(first.child);
      expect((await gql(first.port, ADMIN_KEY, `{ programs { id } }`)).data.programs).toEqual([]);
      expect(await stop(first.child)).toBe(0);
      expect(first.output()).not.toMatch(/lk_|shown once|Demo Coffee/);

      // Asked for explicitly: seeded, its keys still not printed (the output is a pipe, not a terminal).
      const asked = await start({ DATABASE_URL: database.url, LOG_LEVEL: "debug", LOYALTY_SEED_DEMO: "true" });
      started.push(asked.child);
      const programs = (await gql(asked.port, ADMIN_KEY, `{ programs { id name } }`)).data.programs;
      expect(programs).toEqual([{ id: expect.any(String), name: "Demo Coffee" }]);
      // Its keys exist, never shown: the bootstrap key reaches the demo, and createApiKey makes more.
      const keys = await gql(asked.port, ADMIN_KEY, `{ apiKeys(programId: "${programs[0].id}") { role } }`);
      expect(keys.data.apiKeys.map((k: any) => k.role).sort()).toEqual(["ADMIN", "PARTNER"]);
      expect(await stop(asked.child)).toBe(0);
      expect(asked.output()).not.toMatch(/lk_|shown once/);
      expect(asked.output()).toContain("demo keys not printed");
    } finally {
      // A server left running by a failed expectation would keep the test run from ending.
      for (const child of started) if (child.exitCode === null && child.signalCode === null) await stop(child);
      await database.drop();
    }
  },
  120_000,
);

it("fails fast when its port is taken, naming the port", async () => {
  const taken = createNetServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const { port } = taken.address() as AddressInfo;
  try {
    const run = spawnSync(process.execPath, node("src/main.ts"), {
      env: env({ PORT: String(port), HOST: "127.0.0.1", LOYALTY_DATA_DIR: join(dataDir, "taken-port") }),
      cwd: ROOT,
      encoding: "utf8",
      timeout: 90_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`loyalty API failed to start: port ${port} on 127.0.0.1 is in use by another process: set PORT (and HOST) to another`);
    expect(run.stderr).not.toContain("Internal error");
  } finally {
    taken.close();
  }
}, 120_000);

/** GET /metrics on a connection of its own. */
function scrapeOnNewConnection(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
  });
}

const clusterable = process.env.DATABASE_URL && process.env.REDIS_URL ? it : it.skip;

clusterable(
  "runs several API processes on one port with API_PROCESSES (PostgreSQL and Redis)",
  async () => {
    const database = await createScratchDatabase(process.env.DATABASE_URL!, "loyalty_cluster");
    // PORT=0: the processes share the one port the system picks (node:cluster), read from their logs.
    const child = spawn(process.execPath, node("src/main.ts"), {
      env: {
        ...env(),
        DATABASE_URL: database.url,
        REDIS_URL: process.env.REDIS_URL!,
        API_PROCESSES: "2",
        PORT: "0",
        HOST: "127.0.0.1",
        LOYALTY_ADMIN_KEY: ADMIN_KEY,
        LOYALTY_SEED_DEMO: "false",
        LOG_LEVEL: "info",
      },
      cwd: ROOT,
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    try {
      const pids = new Set<number>();
      const ports = new Set<number>();
      for (let i = 0; i < 300 && pids.size < 2; i++) {
        for (const m of output.matchAll(/"url":"http:\/\/127\.0\.0\.1:(\d+)\/graphql","embedded":false,"pid":(\d+)[^\n]*loyalty API listening/g)) {
          ports.add(Number(m[1]));
          pids.add(Number(m[2]));
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(pids.size).toBe(2);
      expect(ports.size).toBe(1);
      const [port] = ports;
      const created = await gql(port, ADMIN_KEY, `mutation { createProgram(input: { name: "C", ladder: { preset: "griffin-7" } }) { id } }`);
      const programId = created.data.createProgram.id;
      // The processes behind the one port write to and read from the one database.
      for (let i = 0; i < 10; i++) {
        const res = await gql(
          port,
          ADMIN_KEY,
          `mutation { recordPurchase(input: { programId: "${programId}", customerExternalId: "c${i}", orderId: "o${i}", amount: 1, currency: "EUR" }) { pointsEarned } }`,
        );
        expect(res.errors).toBeUndefined();
      }
      const list = await gql(port, ADMIN_KEY, `{ customers(programId: "${programId}", first: 50) { nodes { id } } }`);
      expect(list.data.customers.nodes).toHaveLength(10);
      // Whichever process answers a scrape (a new connection each: the cluster deals connections
      // round robin, so both answer some), it reports both processes' series, each labelled with its
      // slot, which the supervisor gathers: together they count every purchase.
      const recorded = /^loyalty_graphql_operations_total\{operation="recordPurchase",type="mutation",outcome="ok",process="([01])"\} (\d+)$/;
      for (let i = 0; i < 6; i++) {
        const lines = (await scrapeOnNewConnection(port))
          .split("\n")
          .map((line) => recorded.exec(line))
          .filter((m) => m !== null);
        expect(lines.reduce((sum, m) => sum + Number(m![2]), 0)).toBe(10);
        expect(new Set(lines.map((m) => m![1])).size).toBe(lines.length);
      }
      expect(await stop(child)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await database.drop();
    }
  },
  180_000,
);

const withServer = process.env.DATABASE_URL ? it : it.skip;

withServer(
  "npm run worker works the scheduled jobs apart from the API, and stops on SIGTERM (PostgreSQL)",
  async () => {
    const database = await createScratchDatabase(process.env.DATABASE_URL!, "loyalty_worker");
    const child = spawn(process.execPath, node("src/worker.ts"), {
      env: { ...env(), DATABASE_URL: database.url, LOG_LEVEL: "info", POINTS_LIFECYCLE_CRON: "* * * * *" },
      cwd: ROOT,
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    try {
      for (let i = 0; i < 300 && !output.includes("job worker started"); i++) await new Promise((r) => setTimeout(r, 200));
      expect(output).toContain("job worker started");
      // The schedules are in PostgreSQL, where every worker and API process sees them.
      const { Client } = await import("pg");
      const client = new Client({ connectionString: database.url });
      await client.connect();
      const { rows } = await client.query(`SELECT name, cron FROM pgboss.schedule ORDER BY name`);
      await client.end();
      expect(rows).toEqual([
        { name: "points-lifecycle", cron: "* * * * *" },
        { name: "stages-recompute", cron: "17 3 * * *" },
      ]);
      expect(await stop(child)).toBe(0);
      const without = spawnSync(process.execPath, node("src/worker.ts"), { env: env(), cwd: ROOT, encoding: "utf8" });
      expect(without.status).toBe(1);
      expect(without.stderr).toContain("the worker needs DATABASE_URL");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await database.drop();
    }
  },
  120_000,
);
