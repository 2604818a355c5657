/**
 * Scheduled work on pg-boss: jobs live in PostgreSQL (schema pgboss), so several API processes or
 * separate workers (`npm run worker`) share them safely: a cron fires once per slot, and a job is
 * worked by one process. pg-boss talks through our own pool (its `db` option): with the embedded
 * database everything must share one connection.
 */
import PgBoss from "pg-boss";
import type { App } from "../app";
import { sqlState } from "../db/db";
import { runPointsLifecycleForAll } from "../modules/points/lifecycle";
import { reviewTiers } from "../modules/tiers/tier.service";

export const POINTS_LIFECYCLE_QUEUE = "points-lifecycle";
export const RECOMPUTE_QUEUE = "stages-recompute";

/**
 * Creates a queue unless it exists. pg-boss's create_queue, run by two processes at once on a
 * fresh database (API processes starting together), can deadlock one of them (40P01): the loser
 * looks again, and finds the queue the winner made.
 */
async function createQueueOnce(boss: PgBoss, queue: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    if (await boss.getQueue(queue)) return;
    try {
      await boss.createQueue(queue);
      return;
    } catch (err) {
      if (sqlState(err) !== "40P01" || attempt >= 5) throw err;
    }
  }
}

export class Jobs {
  private boss?: PgBoss;

  constructor(private readonly app: App) {}

  /** Creates the queues and schedules; with `work`, this process also runs the jobs. */
  async start(options: { work: boolean }): Promise<void> {
    const { app } = this;
    const boss = new PgBoss({
      db: { executeSql: async (text, values) => ({ rows: await app.db.query(text, values ?? []) }) },
      schema: "pgboss",
      // The cron check runs every 30 s by default; a job not worked in 15 minutes is retried elsewhere.
      expireInSeconds: 900,
      retryLimit: 3,
      retryDelay: 30,
      retryBackoff: true,
    });
    boss.on("error", (err) => app.log.error({ err }, "jobs"));
    await boss.start();
    this.boss = boss;
    for (const queue of [POINTS_LIFECYCLE_QUEUE, RECOMPUTE_QUEUE]) await createQueueOnce(boss, queue);
    await boss.schedule(POINTS_LIFECYCLE_QUEUE, app.config.pointsLifecycleCron, {}, { tz: "UTC" });
    await boss.schedule(RECOMPUTE_QUEUE, app.config.recomputeCron, {}, { tz: "UTC" });
    if (!options.work) return;
    await boss.work(POINTS_LIFECYCLE_QUEUE, { pollingIntervalSeconds: 2 }, async () => {
      const report = await runPointsLifecycleForAll(app);
      app.log.info(report, "points lifecycle done");
      for (const { id } of await app.db.query(`SELECT id FROM programs ORDER BY id`)) {
        const config = await app.programs.config(id);
        if (config.tiers.length === 0) continue;
        const tiers = await reviewTiers(app.db, config, app.clock(), (e) => app.outbox.publishCommitted(e));
        if (tiers.reviewed > 0) app.log.info({ programId: id, ...tiers }, "tiers reviewed");
      }
      return report;
    });
    await boss.work(RECOMPUTE_QUEUE, { pollingIntervalSeconds: 10 }, async () => {
      for (const { id } of await app.db.query(`SELECT id FROM programs ORDER BY id`)) {
        const config = await app.programs.config(id);
        const report = await app.stages.recompute(config, "RECOMPUTE");
        app.log.info({ programId: id, ...report }, "stages recomputed");
      }
    });
  }

  /** Queues a run now (besides the schedule); returns the job id. */
  async runNow(queue: string): Promise<string | null> {
    if (!this.boss) throw new Error("jobs are not started");
    return this.boss.send(queue, {});
  }

  /** The state of a job (created, active, completed, failed, ...). */
  async state(queue: string, id: string): Promise<string | null> {
    const job = await this.boss?.getJobById(queue, id);
    return job?.state ?? null;
  }

  /** Lets the jobs running finish (`timeoutMs` at most), then stops taking new ones. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await this.boss?.stop({ graceful: true, close: false, wait: true, timeout: Math.max(1000, timeoutMs) });
    this.boss = undefined;
  }
}
