/**
 * `npm run bench`: recordPurchase throughput and latency through the real API (a server process of
 * its own, over HTTP), next to two raw-`pg` baselines doing the same ledger work on the same
 * PostgreSQL in the same run:
 *   - baseline-tx:  BEGIN; claim key; insert touchpoint; insert ledger entry; bump balance; insert outbox event; COMMIT
 *   - baseline-cte: the same as one statement with CTEs, in one round trip (the practical limit)
 * Each at 32 concurrent clients, spread over 10,000 customers and all on one hot customer. The API
 * is measured on cold customers (first purchases: each also moves a stage), on warm ones (clients
 * already: no move), since the baselines do no stage work at all, and on warm ones of a program with
 * tiers (its batches also read tier windows and upgrade tiers).
 * Every scenario runs once per round (BENCH_ROUNDS), and the API's ratios are the median of the
 * rounds' ratios: a ratio of two scenarios measured seconds apart, not minutes.
 * BENCH_COMPARE names another build's dist/src/main.js (say, a worktree of main built with `npm
 * run build`): each API scenario then also runs against it, in the same rounds on the same
 * database, and the two builds' ratio is printed. On a machine whose speed drifts, that is how
 * to tell whether a change helps.
 * Not a test: figures depend on the machine; the ratios are what to compare between runs.
 */
import { spawn, ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { AddressInfo, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { Pool } from "undici";
import { createScratchDatabase } from "../db/scratch-database";
import { analyzeTables } from "../db/statistics";
import { cpuBetween, cpuSnapshot, percentile, pooled, Result } from "./bench-stats";
import { scrapeWritePath, writePathBetween } from "./bench-write-path";
import { API_SCENARIOS, LAYER_SCENARIOS, NOOP_SCENARIO, OTHER, printReport } from "./bench-report";
import { Layers, startLayers } from "./bench-layers";
import { limitsOverhead, load, Overhead, printLimits, VictimRuns } from "./bench-limits";

const BASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** Measured seconds per scenario, in all (split over the rounds). */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
/**
 * Every scenario runs once per round, the rounds one after the other. This machine's speed drifts
 * by a quarter within minutes (baseline-cte from 3,300 to 5,500/s in one session), so a ratio of two
 * scenarios measured minutes apart says little; a round measures them seconds apart, and the median
 * of the rounds' ratios leaves out a round that drift spoiled.
 */
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 3)) || 1);
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 10_000);
/**
 * Unmeasured load on the API before its first scenario. A fresh server process runs its first
 * seconds unoptimized (V8 compiles the hot paths after some thousand requests, and the heap grows):
 * without this, whichever API scenario ran first measured about 25% lower.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const SERVER_POOL = Number(process.env.BENCH_SERVER_POOL ?? 16);
/** API processes (API_PROCESSES); more than one needs Redis (BENCH_REDIS_URL or REDIS_URL). */
const SERVER_WORKERS = Number(process.env.BENCH_SERVER_WORKERS ?? 1);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ADMIN_KEY = `bench-${randomUUID()}`;

/** An API server process: where to send requests, and the pid and /metrics its scenarios report. */
interface Server {
  url: string;
  child: ChildProcess;
  pid: number;
  metricsUrl: string;
}

/** Another build to measure against this one, round by round (see the header). */
const COMPARE = process.env.BENCH_COMPARE;

/** Scenario name prefixes, comma-separated (e.g. "api" to profile one scenario, "baseline-cte,api " for the ratios). */
const ONLY = process.env.BENCH_ONLY?.split(",").filter(Boolean);

const selected = (name: string) => !ONLY || ONLY.some((prefix) => name.startsWith(prefix));

/**
 * Runs `op` from CONCURRENCY loops for `seconds` (after a 1 s ramp-up), measuring each call;
 * skipped unless BENCH_ONLY selects `name`, or `always`.
 */

async function drive(
  name: string,
  op: (worker: number, i: number) => Promise<void>,
  server?: Server,
  seconds = SECONDS / ROUNDS,
  always = false,
): Promise<Result | null> {
  if (!always && !selected(name.replace(OTHER, ""))) return null;
  let measuring = false;
  let stop = false;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const loops = Array.from({ length: CONCURRENCY }, async (_, worker) => {
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      try {
        await op(worker, i);
        if (measuring) latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  });
  await new Promise((r) => setTimeout(r, 1000));
  const metricsUrl = name.startsWith("api ") ? server?.metricsUrl : undefined;
  const writeBefore = metricsUrl ? await scrapeWritePath(metricsUrl) : null;
  measuring = true;
  const start = performance.now();
  const cpuBefore = cpuSnapshot(server?.pid ?? 0);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  const cpuAfter = cpuSnapshot(server?.pid ?? 0);
  const writeAfter = metricsUrl ? await scrapeWritePath(metricsUrl) : null;
  const writePath = writeBefore && writeAfter ? writePathBetween(writeBefore, writeAfter) : null;
  const cpu = cpuBefore && cpuAfter ? cpuBetween(cpuBefore, cpuAfter, elapsed) : null;
  stop = true;
  await Promise.all(loops);
  if (firstError) console.error(`  ${name}: ${errors} errors, first:`, firstError);
  latencies.sort((a, b) => a - b);
  return {
    name,
    latencies,
    ops: latencies.length,
    seconds: elapsed,
    tps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    cpu,
    writePath,
  };
}

/**
 * A port nothing listens on now, from the system (a random one could be a connection's ephemeral
 * port). Not PORT=0: API processes under node:cluster do not print the port they got.
 */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Starts an API process of `main` (this build's, unless another is compared) on the database. */
async function startServer(databaseUrl: string, main = join(__dirname, "../main.js")): Promise<Server> {
  const port = await freePort();
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS ? process.env.BENCH_SERVER_NODE_ARGS.split(" ") : [];
  const child = spawn(process.execPath, [...nodeArgs, main], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOYALTY_ADMIN_KEY: ADMIN_KEY,
      LOYALTY_SEED_DEMO: "false",
      LOG_LEVEL: "warn",
      NODE_ENV: "production",
      DB_POOL_SIZE: String(SERVER_POOL),
      ...(SERVER_WORKERS > 1 ? { API_PROCESSES: String(SERVER_WORKERS), REDIS_URL } : {}),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url.replace("/graphql", "/readyz"))).ok) return { url, child, pid: child.pid ?? 0, metricsUrl: url.replace("/graphql", "/metrics") };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error("the server did not become ready");
}

/**
 * The load generator shares the machine's cores with what it measures, so it must cost little:
 * undici's keep-alive pool costs about 0.08-0.10 ms of CPU per request here, node:http's client
 * 0.20-0.22 (a raw-pg baseline's client, 0.11-0.14). One connection per client loop.
 */
const pools = new Map<string, Pool>();

async function gql(url: string, query: string, variables: Record<string, unknown>): Promise<any> {
  const { origin, pathname } = new URL(url);
  let client = pools.get(origin);
  if (!client) pools.set(origin, (client = new Pool(origin, { connections: CONCURRENCY })));
  const res = await client.request({
    path: pathname,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ query, variables }),
  });
  const body: any = await res.body.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const RECORD_PURCHASE = `mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { pointsEarned replayed stageChange { to { key } } customer { points { balance } stage { key } } }
}`;

/** What the loaders below write by the thousand (the programs and keys they create are a few rows). */
const LOADED_TABLES = ["customers", "touchpoints", "ledger_entries"];

const BASELINE_STEPS = [
  `INSERT INTO bench_keys (program_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING key`,
  `INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency, points, request_hash)
   VALUES ($1, $2, 'PURCHASE', $3, now(), $4, 'EUR', $5, 'x') RETURNING id`,
  `INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id) VALUES ($1, $2, $3, 'EARN', $4)`,
  `UPDATE customers SET balance = balance + $3, lifetime_points = lifetime_points + $3, purchase_count = purchase_count + 1 WHERE program_id = $1 AND id = $2 RETURNING balance`,
  `INSERT INTO outbox (program_id, topic, customer_id, payload) VALUES ($1, 'TOUCHPOINT_RECORDED', $2, $3)`,
];

const BASELINE_CTE = `
WITH k AS (INSERT INTO bench_keys (program_id, key) VALUES ($1, $3) ON CONFLICT DO NOTHING RETURNING key),
tp AS (INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency, points, request_hash)
       SELECT $1, $2, 'PURCHASE', $3, now(), $4, 'EUR', $5, 'x' FROM k RETURNING id),
le AS (INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id) SELECT $1, $2, $5, 'EARN', id FROM tp),
c AS (UPDATE customers SET balance = balance + $5, lifetime_points = lifetime_points + $5, purchase_count = purchase_count + 1
      WHERE program_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM tp) RETURNING balance),
ev AS (INSERT INTO outbox (program_id, topic, customer_id, payload) SELECT $1, 'TOUCHPOINT_RECORDED', $2, jsonb_build_object('balance', balance) FROM c)
SELECT balance FROM c`;

async function main(): Promise<void> {
  const db = await createScratchDatabase(BASE_URL, "loyalty_bench");
  let server: Server | undefined;
  let other: Server | undefined;
  let layers: Layers | undefined;
  const pool = new pg.Pool({ connectionString: db.url, max: CONCURRENCY });
  try {
    server = await startServer(db.url);
    if (COMPARE) other = await startServer(db.url, COMPARE);
    const url = server.url;
    /** A griffin-7 program earning a point per unit spent (and what `extra` adds), by the API. */
    const createProgram = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
      const data = await gql(url, `mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`, {
        i: { name, ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }], ...extra },
      });
      return data.createProgram.id;
    };
    /** "Cold" customers: on the bottom rung, so their first purchase also stores a stage move and its event. */
    const seedCold = (program: string, prefix: string, count: number): Promise<Array<{ id: string; external_id: string }>> =>
      pool
        .query(
          `INSERT INTO customers (program_id, external_id, stage_key)
           SELECT $1, $3 || g, 'suspect' FROM generate_series(1, $2) g RETURNING id, external_id`,
          [program, count, prefix],
        )
        .then((r) => r.rows);
    const programId = await createProgram("Bench");
    await pool.query(`CREATE TABLE bench_keys (program_id uuid NOT NULL, key text NOT NULL, PRIMARY KEY (program_id, key))`);
    const customers = await seedCold(programId, "cust-", CUSTOMERS);
    // "Warm" customers: already clients (four purchases this year), as most members of a running
    // program are; their next purchase moves no stage.
    const seedWarm = (program: string, prefix: string): Promise<Array<{ id: string; external_id: string }>> =>
      pool
        .query(
          `WITH c AS (
             INSERT INTO customers (program_id, external_id, stage_key, purchase_count, purchase_amount, first_purchase_at,
                                    last_purchase_at, balance, lifetime_points, touchpoint_count)
             SELECT $1, $3 || g, 'client', 4, 100, now() - interval '80 days', now() - interval '20 days', 100, 100, 4
               FROM generate_series(1, $2) g RETURNING id, external_id
           ), t AS (
             INSERT INTO touchpoints (program_id, customer_id, type, external_id, occurred_at, amount, currency, points, request_hash)
             SELECT $1, c.id, 'PURCHASE', 'seed-' || c.id || '-' || k, now() - make_interval(days => 20 * k), 25, 'EUR', 25, 'seed'
               FROM c, generate_series(1, 4) k RETURNING id, customer_id
           ), l AS (
             INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id) SELECT $1, customer_id, 25, 'EARN', id FROM t
           )
           SELECT id, external_id FROM c`,
          [program, CUSTOMERS, prefix],
        )
        .then((r) => r.rows);
    const warm = await seedWarm(programId, "warm-");
    // The same warm customers in a program with tiers, as the demo program has: its batches also
    // read each customer's tier window and write the upgrades they qualify for.
    const tieredProgramId = await createProgram("Bench tiers", {
      tiers: {
        levels: [
          { key: "silver", name: "Silver", threshold: 500 },
          { key: "gold", name: "Gold", threshold: 2000 },
        ],
      },
    });
    const tieredWarm = await seedWarm(tieredProgramId, "tiered-");
    // The layer scenarios (bench-layers.ts): warm customers of a program of their own, written by an
    // App inside this process.
    const layersWanted = LAYER_SCENARIOS.some(selected);
    const layersProgramId = layersWanted ? await createProgram("Bench layers") : "";
    const layerCustomers = layersWanted ? await seedWarm(layersProgramId, "layer-") : [];
    layers = layersWanted ? await startLayers(db.url, ADMIN_KEY, SERVER_POOL, CONCURRENCY) : undefined;
    // A program of its own for the warm-up, so the measured customers stay as described above.
    const warmupProgramId = await createProgram("Bench warm-up");
    const warmupCustomers = await seedCold(warmupProgramId, "warmup-", 1000);
    // Cold customers of their own for each round's cold scenario, so its first purchases are first
    // purchases; all seeded now, not between scenarios.
    const colds = selected(API_SCENARIOS.cold)
      ? await Promise.all(Array.from({ length: ROUNDS }, (_, round) => seedCold(programId, `cold${round}-`, CUSTOMERS)))
      : [];
    // The loaders grew these tables by tens of thousands of rows: ANALYZE them, or the server plans
    // on statistics of empty tables (autovacuum may be off, as on the development machines, or late).
    // The run says so in its report; during the run the server's statistics keeper does the same
    // for what the scenarios grow, when autovacuum does not (src/db/statistics.ts).
    const loaded = await analyzeTables({ query: (sql, params) => pool.query(sql, params).then((r) => r.rows) }, LOADED_TABLES);
    const [{ autovacuum }] = (await pool.query(`SELECT current_setting('autovacuum') AS autovacuum`)).rows;
    const statisticsNote = `statistics: ANALYZE ${loaded.tables.join(", ")} after loading (${loaded.ms} ms), before measuring; autovacuum ${autovacuum}; the server's statistics keeper: STATS_KEEPER=${process.env.STATS_KEEPER || "auto"}`;
    console.log(statisticsNote);
    const hot = customers[0];
    const pick = (spread: boolean) => (spread ? customers[Math.floor(Math.random() * customers.length)] : hot);
    let seq = 0;
    const recordOn =
      (customer: () => { external_id: string }, program = programId, to = server!) =>
      async () => {
        const data = await gql(to.url, RECORD_PURCHASE, {
          input: { programId: program, customerExternalId: customer().external_id, orderId: `api-${seq++}`, amount: 25, currency: "EUR" },
        });
        if (data.recordPurchase.pointsEarned !== 25) throw new Error("unexpected points");
      };
    /** A random customer of `list`, from its first or second half when another build takes the other. */
    const among = (list: Array<{ external_id: string }>, half: number) => {
      const size = other ? Math.floor(list.length / 2) : list.length;
      return list[half * size + Math.floor(Math.random() * size)];
    };
    // First purchases (stage moves) and later ones: both paths get compiled before any measuring.
    // The layers run in this process, which compiles their paths as the server does its own.
    const layerCustomer = () => layerCustomers[Math.floor(Math.random() * layerCustomers.length)].external_id;
    const layerWrite = () => layers!.writePath(layersProgramId, layerCustomer(), `layer-${seq++}`);
    const layerGraphql = () => layers!.graphql(layersProgramId, layerCustomer(), `layer-${seq++}`, RECORD_PURCHASE);
    if (WARMUP_SECONDS > 0 && layers) {
      layers.useStoredAnswer(false);
      await drive("warm-up", layerWrite, undefined, WARMUP_SECONDS, true);
      layers.useStoredAnswer(true);
      await drive("warm-up", layerGraphql, undefined, WARMUP_SECONDS, true);
    }
    if (WARMUP_SECONDS > 0 && Object.values(API_SCENARIOS).some(selected)) {
      // Each build its own half of the warm-up customers, so both compile the first-purchase path.
      for (const [half, to] of [server, other].entries()) {
        if (to)
          await drive(
            "warm-up",
            recordOn(() => among(warmupCustomers, half), warmupProgramId, to),
            to,
            WARMUP_SECONDS,
            true,
          );
      }
    }

    /** Each scenario's result per round, by name. */
    const rounds = new Map<string, Result[]>();
    const run = async (name: string, op: (worker: number, i: number) => Promise<void>, to = server!) => {
      const result = await drive(name, op, to);
      if (result) rounds.set(name, [...(rounds.get(name) ?? []), result]);
    };
    /** A scenario served inside this process: the CPU this process used is the server's (there is no other). */
    const runInProcess = async (name: string, op: () => Promise<void>) => {
      const result = await drive(name, op);
      if (!result) return;
      if (result.cpu) result.cpu = { server: result.cpu.generator, postgres: result.cpu.postgres, generator: 0 };
      rounds.set(name, [...(rounds.get(name) ?? []), result]);
    };
    /**
     * An API scenario, and right after it the same against the other build when one is compared.
     * `pick(half)` chooses a customer; the other build gets the second half, so cold customers
     * stay cold for both.
     */
    let round = 0;
    const runApi = async (name: string, pick: (half: number) => { external_id: string }, program = programId) => {
      const mine = () =>
        run(
          name,
          recordOn(() => pick(0), program),
        );
      if (!other) return mine();
      const theirs = () =>
        run(
          name + OTHER,
          recordOn(() => pick(1), program, other),
          other,
        );
      // Which goes first alternates: the second runs on the table and WAL the first just grew.
      for (const go of round % 2 === 0 ? [mine, theirs] : [theirs, mine]) await go();
    };
    for (round = 0; round < ROUNDS; round++) {
      const cold = colds[round] ?? [];
      for (const spread of [true, false]) {
        const label = spread ? "spread" : "hot";
        await run(`baseline-tx   ${label}`, async () => {
          const c = pick(spread);
          const key = `tx-${seq++}`;
          const client = await pool.connect();
          try {
            await client.query("BEGIN");
            await client.query({ name: "b0", text: BASELINE_STEPS[0], values: [programId, key] });
            const tp = await client.query({ name: "b1", text: BASELINE_STEPS[1], values: [programId, c.id, key, 25, 25] });
            await client.query({ name: "b2", text: BASELINE_STEPS[2], values: [programId, c.id, 25, tp.rows[0].id] });
            const bal = await client.query({ name: "b3", text: BASELINE_STEPS[3], values: [programId, c.id, 25] });
            await client.query({ name: "b4", text: BASELINE_STEPS[4], values: [programId, c.id, JSON.stringify({ balance: bal.rows[0].balance })] });
            await client.query("COMMIT");
          } catch (err) {
            await client.query("ROLLBACK");
            throw err;
          } finally {
            client.release();
          }
        });
        await run(`baseline-cte  ${label}`, async () => {
          const c = pick(spread);
          await pool.query({ name: "cte", text: BASELINE_CTE, values: [programId, c.id, `cte-${seq++}`, 25, 25] });
        });
        if (spread) {
          await runApi(API_SCENARIOS.cold, (half) => among(cold, half));
          await runApi(API_SCENARIOS.warm, (half) => among(warm, half));
          await runApi(API_SCENARIOS.tiers, (half) => among(tieredWarm, half), tieredProgramId);
        } else await runApi(API_SCENARIOS.hot, () => hot);
      }
      // The floor of the HTTP + GraphQL stack on this machine with this load generator: a query that
      // touches nothing. The write path cannot be faster than this; it says how much of the gap is the stack.
      await run(NOOP_SCENARIO, () => gql(server!.url, `{ __typename }`, {}));
      if (layers) {
        layers.useStoredAnswer(false);
        await runInProcess(LAYER_SCENARIOS[0], layerWrite);
        layers.useStoredAnswer(true);
        await runInProcess(LAYER_SCENARIOS[1], layerGraphql);
      }
    }

    // The request limits: what they cost a purchase, and what a flood by one key does to another.
    let overhead: Overhead | null = null;
    let victim: VictimRuns | null = null;
    if (selected("limits")) {
      const input = { programId, customerExternalId: warm[0].external_id, orderId: `limits-sample-${seq++}`, amount: 25, currency: "EUR" };
      const answer = await gql(url, RECORD_PURCHASE, { input });
      overhead = await limitsOverhead(RECORD_PURCHASE, { input }, answer, REDIS_URL);
      const key = async (name: string) =>
        (await gql(url, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }`, { i: { programId, role: "PARTNER", name } })).createApiKey
          .secret as string;
      const [victimKey, politeKey, hostileKey] = [await key("bench victim"), await key("bench polite flood"), await key("bench hostile flood")];
      const purchaseBody = () =>
        JSON.stringify({
          query: RECORD_PURCHASE,
          variables: {
            input: {
              programId,
              customerExternalId: warm[Math.floor(Math.random() * warm.length)].external_id,
              orderId: `victim-${seq++}`,
              amount: 25,
              currency: "EUR",
            },
          },
        });
      // The most expensive read a PARTNER may send (about 2,000 of its 5,000), again and again.
      const heavy = JSON.stringify({
        query: `query($p: ID!) { customers(programId: $p, first: 200) { nodes { id stage { key } points { balance } rfm { recency frequency monetary } nextStage { stage { key } } } } }`,
        variables: { p: programId },
      });
      // One PARTNER key alone at full concurrency: its bucket must not be what limits it.
      const partner = await load(url, politeKey, CONCURRENCY, SECONDS, purchaseBody);
      const alone = await load(url, victimKey, 4, SECONDS, purchaseBody);
      const underFlood = async (floodKey: string, polite: boolean) => {
        const [victimRun, flood] = await Promise.all([
          load(url, victimKey, 4, SECONDS, purchaseBody),
          load(url, floodKey, CONCURRENCY - 4, SECONDS, () => heavy, polite),
        ]);
        return { victim: victimRun, flood };
      };
      victim = { partner, alone, politeFlood: await underFlood(politeKey, true), hostileFlood: await underFlood(hostileKey, false) };
    }

    // Nothing lost, nothing twice: every customer's balance equals its ledger.
    const [check] = (
      await pool.query(
        `SELECT count(*)::int AS bad FROM customers c WHERE c.program_id = ANY($1::uuid[]) AND c.balance <>
        coalesce((SELECT sum(amount) FROM ledger_entries l WHERE l.program_id = c.program_id AND l.customer_id = c.id), 0)`,
        [[programId, tieredProgramId, warmupProgramId, ...(layersProgramId ? [layersProgramId] : [])]],
      )
    ).rows;

    console.log(
      `\nrecordPurchase, ${CONCURRENCY} concurrent clients, ${SECONDS}s each in ${ROUNDS} round(s), ${CUSTOMERS} customers, PostgreSQL at ${new URL(BASE_URL).host}, ${SERVER_WORKERS} API process(es)${COMPARE ? `, compared with ${COMPARE}` : ""}`,
    );
    printReport(rounds);
    if (overhead || victim) {
      const warmRounds = rounds.get(API_SCENARIOS.warm);
      const warmCpu = warmRounds && pooled(warmRounds);
      const apiUs = warmCpu?.cpu ? ((warmCpu.cpu.server + warmCpu.cpu.postgres) * 1e6) / warmCpu.tps : null;
      printLimits(overhead, apiUs, victim);
    }
    console.log(statisticsNote);
    console.log(`ledger check: ${check.bad === 0 ? "every balance equals its ledger" : `${check.bad} customers disagree`}`);
  } finally {
    for (const s of [server, other]) s?.child.kill("SIGTERM");
    await layers?.close();
    await Promise.all([...pools.values()].map((p) => p.close()));
    await pool.end();
    await new Promise((r) => setTimeout(r, 500));
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
