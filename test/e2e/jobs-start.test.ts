/**
 * Processes starting together on a fresh database (API processes, `npm run worker`) each create the
 * job queues: pg-boss's create_queue can deadlock one of them, which must not keep it from starting.
 * PostgreSQL only: the embedded database is one process's.
 */
import pino from "pino";
import { App } from "../../src/app";
import { loadConfig } from "../../src/config";
import { openDatabase } from "../../src/db/open";
import { createScratchDatabase } from "../../src/db/scratch-database";
import { POINTS_LIFECYCLE_QUEUE, RECOMPUTE_QUEUE } from "../../src/jobs/jobs";

const withServer = process.env.DATABASE_URL ? it : it.skip;

withServer(
  "several processes starting their jobs at once on a fresh database all start, and the queues exist once",
  async () => {
    // A few fresh databases: the deadlock needs the two create_queue calls to interleave.
    for (let round = 0; round < 3; round++) {
      const scratch = await createScratchDatabase(process.env.DATABASE_URL!, "loyalty_jobs");
      const config = loadConfig({ DATABASE_URL: scratch.url, DB_POOL_SIZE: "8", LOG_LEVEL: "silent" });
      const log = pino({ level: "silent" });
      const database = await openDatabase(config, log);
      const apps = Array.from({ length: 3 }, () => new App({ config, db: database.db, log }));
      try {
        await Promise.all(apps.map((app) => app.jobs.start({ work: false })));
        const queues = await database.db.query(`SELECT name FROM pgboss.queue WHERE name = ANY($1) ORDER BY name`, [[POINTS_LIFECYCLE_QUEUE, RECOMPUTE_QUEUE]]);
        expect(queues.map((q) => q.name)).toEqual([POINTS_LIFECYCLE_QUEUE, RECOMPUTE_QUEUE]);
      } finally {
        for (const app of apps) await app.stop();
        await database.close();
        await scratch.drop();
      }
    }
  },
  60_000,
);
