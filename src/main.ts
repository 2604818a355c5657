/** Starts the API: configuration, database (embedded when DATABASE_URL is unset), demo seed, server, clean shutdown. */
import "reflect-metadata";
import cluster from "node:cluster";
import { Config, loadConfig } from "./config";
import { createLogger } from "./logger";
import { openDatabase } from "./db/open";
import { App } from "./app";
import { createServer } from "./server";
import { seedDemo } from "./demo";
import { demoSeedPlan } from "./demo-plan";
import { aggregateForWorkers, joinClusterMetrics } from "./observability/metrics-endpoint";

/**
 * With API_PROCESSES > 1 this process migrates and seeds, then forks the API processes, which
 * share the port (node:cluster) and talk through PostgreSQL and Redis; it restarts one that dies
 * and passes SIGTERM on.
 */
async function supervise(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const database = await openDatabase(config, log);
  const seeder = new App({ config, db: database.db, log });
  await seedAndPrint(seeder, config, log);
  // The job queues and schedules once, here, rather than by every forked process at once.
  await seeder.jobs.start({ work: false });
  await seeder.stop();
  await database.close();
  let stopping = false;
  aggregateForWorkers((err) => log.warn({ err }, "metrics reply"));
  // Each process has a slot (0..n-1) that its replacement takes over: it labels its metrics.
  const slots = new Map<number, number>();
  const fork = (slot: number) => slots.set(cluster.fork({ LOYALTY_WORKER: "1", LOYALTY_PROCESS_SLOT: String(slot) }).id, slot);
  for (let i = 0; i < config.workers; i++) fork(i);
  // A process that dies is replaced after a second; one that keeps dying (the database or Redis
  // unreachable) ends the supervisor instead of a fork storm.
  const deaths: number[] = [];
  let failedStops = 0;
  cluster.on("exit", (worker, code) => {
    if (stopping) {
      if (code !== 0) failedStops++;
      return;
    }
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && deaths[0] < now - 60_000) deaths.shift();
    if (deaths.length > 5) {
      log.fatal({ deaths: deaths.length }, "API processes keep dying: stopping");
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill("SIGTERM");
      process.exitCode = 1;
      return;
    }
    // A process drained on its own SIGTERM exits 0 (a deploy tool's doing); anything else is a crash.
    if (code === 0) log.info({ pid: worker.process.pid, code }, "API process exited: starting another");
    else log.error({ pid: worker.process.pid, code }, "API process exited: starting another");
    const slot = slots.get(worker.id) ?? 0;
    slots.delete(worker.id);
    setTimeout(() => fork(slot), 1000).unref();
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    // Each API process drains (SHUTDOWN_GRACE_MS); the supervisor exits once all have, with 1 if any failed to.
    const check = setInterval(() => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(failedStops > 0 ? 1 : 0), 100);
    setTimeout(() => process.exit(1), config.shutdownGraceMs + 10_000).unref();
    check.unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function seedAndPrint(app: App, config: Config, log: ReturnType<typeof createLogger>): Promise<void> {
  const plan = demoSeedPlan({ seedDemo: config.seedDemo, embedded: !config.databaseUrl, terminal: !!process.stdout.isTTY });
  if (!plan.seed) return;
  const demo = await seedDemo(app);
  if (!demo) return;
  // The log gets the program, never its keys (see demoSeedPlan).
  log.info({ programId: demo.programId }, "demo program seeded");
  if (!plan.printKeys) {
    log.warn({ programId: demo.programId }, "demo keys not printed (output is not a terminal): create keys with createApiKey and LOYALTY_ADMIN_KEY");
    return;
  }
  process.stdout.write(
    `\n  Demo program "Demo Coffee" (griffin-7 ladder): ${demo.programId}\n` +
      `  ADMIN key   (shown once): ${demo.adminKey}\n` +
      `  PARTNER key (shown once): ${demo.partnerKey}\n\n`,
  );
}

async function main(): Promise<void> {
  const config = loadConfig();
  const isWorker = process.env.LOYALTY_WORKER === "1";
  // Answer the supervisor's metrics requests from the start, not once everything is up.
  if (isWorker) joinClusterMetrics();
  if (config.workers > 1 && !isWorker) return supervise(config);
  const log = createLogger(config.logLevel);
  // Forked API processes leave migrations and the demo seed to the process that forked them.
  const database = await openDatabase(config, log, { migrate: !isWorker });
  const app = new App({ config, db: database.db, log });
  app.start();
  if (!isWorker) await seedAndPrint(app, config, log);
  // Schedules exist either way; RUN_JOBS=false leaves the work to `npm run worker`.
  await app.jobs.start({ work: config.runJobs });
  const server = await createServer(app, { port: config.port, host: config.host });
  log.info({ url: server.url, embedded: !config.databaseUrl, pid: process.pid }, "loyalty API listening");
  if (!isWorker) process.stdout.write(`  GraphQL + GraphiQL: http://localhost:${server.port}/graphql   WebSocket: ws://localhost:${server.port}/graphql\n`);

  process.on("SIGTERM", () => void drainAndExit("SIGTERM"));
  process.on("SIGINT", () => void drainAndExit("SIGINT"));

  let stopping = false;
  /**
   * Graceful drain (docs/operations.md): not ready, no new request, the requests received
   * answered, the write batches and jobs finished, their events delivered, WebSockets closed with
   * 1001, then the pools; exit 0. SHUTDOWN_GRACE_MS bounds it: past it, what is left is cut off and
   * the exit code is 1.
   */
  async function drainAndExit(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    const deadline = started + config.shutdownGraceMs;
    log.info({ signal, graceMs: config.shutdownGraceMs }, "draining");
    // Closing the pools and the worker must not wait forever either.
    setTimeout(() => {
      log.error("drain did not finish: exiting");
      process.exit(1);
    }, config.shutdownGraceMs + 5_000).unref();
    try {
      const steps: Record<string, number> = {};
      const step = async (name: string, work: Promise<void>) => {
        const from = Date.now();
        await work;
        steps[name] = Date.now() - from;
      };
      await step("requestsMs", server.drain(deadline));
      Object.assign(steps, await app.drain(deadline));
      await step("socketsMs", server.closeSockets(deadline));
      const inTime = Date.now() <= deadline;
      log.info({ ...steps, inTime }, "drained");
      await server.stop();
      await app.stop();
      await database.close();
      log.info({ ms: Date.now() - started, inTime }, "stopped");
      process.exit(inTime ? 0 : 1);
    } catch (err) {
      log.error({ err }, "shutdown failed");
      process.exit(1);
    }
  }
}

// A rejection nobody handled is a bug to log, not a reason to drop every connection of the process.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
});

main().catch((err) => {
  // Startup errors (bad configuration, unreachable database) end here, with the reason.
  process.stderr.write(`loyalty API failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
