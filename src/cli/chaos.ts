/**
 * `npm run chaos`: the operator's proof that the API survives what production does to it (issue 17).
 * On a throwaway PostgreSQL (initdb into a temporary folder, its own port) and a throwaway Redis,
 * it starts the API as an operator does (API_PROCESSES processes), has many clients post purchases
 * with retries while subscribers follow the program's events, kills PostgreSQL twice and Redis
 * once, sends one API process SIGTERM under load, then checks in SQL: each order posted once,
 * balances equal ledgers, totals exact, no in-flight request dropped, no subscriber missing an
 * event. Prints its figures and PASS/FAIL per check; exits 1 on any FAIL. docs/chaos.md tells how
 * to read it.
 */
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { Client } from "pg";
import { startApi, ApiUnderTest } from "./chaos/api-under-test";
import { Load } from "./chaos/clients";
import { Fault, parseFaults, runFaults } from "./chaos/faults";
import { printReport } from "./chaos/report";
import { Subscribers } from "./chaos/subscribers";
import { startThrowawayPostgres } from "./chaos/throwaway-postgres";
import { startThrowawayRedis } from "./chaos/throwaway-redis";
import { newestEvent, verify } from "./chaos/checks";
import { waitFor } from "./chaos/util";

/** The small configuration runs in CI (under a minute of load); the full one is the operator's. */
const CONFIGS = {
  small: { seconds: 55, clients: 8, customers: 300, subscribers: 4, faults: "pg:2,redis:12,pg:2,redis:5,sigterm" },
  full: { seconds: 180, clients: 32, customers: 5000, subscribers: 8, faults: "pg:2,redis:5,pg:2,redis:20,sigterm" },
};

/** The earning rule of the program under test: points are this times the amount, so totals are known. */
const POINTS_PER_UNIT = 2;

const cli = new Command("chaos")
  .description("purchases, subscribers and faults against a throwaway PostgreSQL and Redis; SQL checks at the end")
  .option("--small", "the CI configuration: fewer clients, about a minute")
  .option("--seconds <n>", "seconds of load", Number)
  .option("--clients <n>", "concurrent purchase clients", Number)
  .option("--processes <n>", "API processes (API_PROCESSES)", Number, 2)
  .option("--customers <n>", "customers the purchases are spread over", Number)
  .option("--subscribers <n>", "loyaltyEvents subscribers (and half as many stageChanged)", Number)
  .option("--faults <list>", 'faults spread over the load, in order: "pg:SECONDS", "redis:SECONDS", "sigterm", comma-separated; "none" for a control run')
  .option("--attempt-timeout <seconds>", "an attempt unanswered this long is dropped", Number, 20)
  .option("--order-deadline <seconds>", "an order not answered this long after its first attempt fails", Number, 90);

async function gql(api: ApiUnderTest, key: string, query: string, variables: Record<string, unknown>): Promise<any> {
  const res = await fetch(api.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as any;
  if (body.errors) throw new Error(`setup failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function main(): Promise<number> {
  const opts = cli.parse().opts();
  const base = opts.small ? CONFIGS.small : CONFIGS.full;
  const config = {
    seconds: opts.seconds ?? base.seconds,
    clients: opts.clients ?? base.clients,
    customers: opts.customers ?? base.customers,
    subscribers: opts.subscribers ?? base.subscribers,
    processes: opts.processes as number,
    faults: parseFaults(opts.faults ?? base.faults),
  };
  const runId = `chaos-${Date.now().toString(36)}`;
  const logFile = join(tmpdir(), `loyalty-${runId}-api.log`);
  const adminKey = `chaos-${randomUUID()}`;
  console.log(
    `chaos run ${runId}: ${config.seconds} s of load, ${config.clients} clients, ${config.processes} API processes, faults: ${opts.faults ?? base.faults}`,
  );

  // Undone in reverse, on success, failure or Ctrl-C: nothing of the run is left behind.
  const undo: Array<() => Promise<unknown>> = [];
  const cleanUp = async () => {
    for (const step of undo.splice(0).reverse()) await step().catch((err) => console.error(`clean-up: ${err.message}`));
  };
  const interrupted = () => void cleanUp().finally(() => process.exit(130));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const pg = await startThrowawayPostgres();
    undo.push(() => pg.remove());
    const admin = new Client({ connectionString: pg.url("postgres") });
    await admin.connect();
    await admin.query(`CREATE DATABASE loyalty`);
    await admin.end();
    const redis = await startThrowawayRedis();
    undo.push(() => redis.remove());
    console.log(`  PostgreSQL on 127.0.0.1:${pg.port}, Redis on 127.0.0.1:${redis.port}, API log ${logFile}`);
    const api = await startApi({ databaseUrl: pg.url("loyalty"), redisUrl: redis.url, processes: config.processes, adminKey, logFile });
    let apiExit: number | null | undefined;
    undo.push(async () => (apiExit = await api.stop()));
    console.log(`  API on ${api.url}, processes ${api.live().join(", ")}`);

    const { createProgram } = await gql(api, adminKey, `mutation($input: CreateProgramInput!) { createProgram(input: $input) { id } }`, {
      input: { name: `Chaos ${runId}`, ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: POINTS_PER_UNIT }] },
    });
    const programId: string = createProgram.id;
    const key = async (role: string) =>
      (
        await gql(api, adminKey, `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }`, {
          input: { programId, role, name: `chaos ${role}` },
        })
      ).createApiKey.secret as string;
    const partnerKey = await key("PARTNER");
    const subscriberKey = await key("ADMIN");

    const load = new Load({
      url: api.url,
      key: partnerKey,
      programId,
      runId,
      clients: config.clients,
      customers: config.customers,
      attemptTimeoutMs: opts.attemptTimeout * 1000,
      orderDeadlineMs: opts.orderDeadline * 1000,
    });
    const subscribers = new Subscribers(api.wsUrl, subscriberKey, programId);
    for (let i = 0; i < config.subscribers; i++) subscribers.open("loyaltyEvents");
    for (let i = 0; i < Math.ceil(config.subscribers / 2); i++) subscribers.open("stageChanged");
    // A live subscription says nothing when it is in place: purchases of new customers (each moves a
    // stage) until every subscriber has received an event; from there on it must miss none.
    let probes = 0;
    await waitFor(
      "every subscriber to receive a first event",
      async () => {
        if (subscribers.all.every((s) => s.received.length > 0)) return true;
        await load.post(`probe-${probes}`, 10, `${runId}-probe-${probes++}`);
        return false;
      },
      60_000,
      100,
    );

    const loadStart = Date.now();
    const endAt = loadStart + config.seconds * 1000;
    const faults: Fault[] = [];
    const onFault = (f: Fault) => {
      faults.push(f);
      console.log(`  t+${((f.startedAt - loadStart) / 1000).toFixed(1)} s: ${f.label}`);
    };
    const ticker = setInterval(
      () => process.stdout.write(`  t+${Math.round((Date.now() - loadStart) / 1000)} s: ${load.orders.filter((o) => o.answeredAt).length} orders answered\n`),
      10_000,
    );
    const [loadRun, faultRun] = await Promise.allSettled([
      load.run(endAt),
      runFaults(config.faults, loadStart, config.seconds * 1000, { pg, redis, api, processes: config.processes }, onFault),
    ]);
    clearInterval(ticker);
    if (loadRun.status === "rejected") throw loadRun.reason;
    if (faultRun.status === "rejected") {
      const why = String(faultRun.reason?.message ?? faultRun.reason);
      if (faults.length) faults[faults.length - 1].error = why;
      else throw new Error(`faults: ${why}`);
    }
    const loadEnd = Date.now();

    console.log(`  load done after ${((loadEnd - loadStart) / 1000).toFixed(1)} s; waiting for the subscribers, then checking`);
    // Let the subscribers catch up with what was committed last: wait while they still receive.
    const db = new Client({ connectionString: pg.url("loyalty") });
    await db.connect();
    undo.push(() => db.end());
    let lastCount = -1;
    let quietSince = Date.now();
    await waitFor(
      "subscribers to catch up",
      async () => {
        const count = subscribers.all.reduce((n, s) => n + s.received.length, 0);
        if (count !== lastCount) [lastCount, quietSince] = [count, Date.now()];
        const newest = new Map<string, bigint | null>();
        for (const s of subscribers.all) {
          const feed = s.topics.join(",");
          if (!newest.has(feed)) newest.set(feed, await newestEvent(db, programId, s.topics));
          const last = newest.get(feed);
          if (last != null && !s.received.some((r) => r.sequence === last)) return Date.now() - quietSince > 5000;
        }
        return true;
      },
      60_000,
      250,
    ).catch(() => undefined);
    await subscribers.close();
    const verified = await verify(db, {
      programId,
      pointsPerUnit: POINTS_PER_UNIT,
      orders: load.orders,
      subscribers: subscribers.all,
      faults,
      faultsPlanned: config.faults.length,
      api,
    });
    // The API is stopped (SIGTERM to its supervisor) and the servers removed before the report, which gives the supervisor's exit code.
    await cleanUp();
    const failed = printReport({
      config,
      runId,
      loadStart,
      loadEnd,
      probes,
      orders: load.orders,
      faults,
      api,
      apiExit,
      logFile,
      subscribers: subscribers.all,
      ...verified,
    });
    // The API's log is kept for a run to look into.
    if (!failed && !process.env.CHAOS_KEEP_LOG) rmSync(logFile, { force: true });
    return failed ? 1 : 0;
  } catch (err) {
    console.error(`chaos run failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await cleanUp();
  }
}

main().then((code) => process.exit(code));
