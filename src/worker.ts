/**
 * `npm run worker`: works the scheduled jobs (points lifecycle, stage recompute) without serving
 * the API. Run it next to API processes started with RUN_JOBS=false, or as many as you like: pg-boss
 * hands each job to one of them. Needs DATABASE_URL (the embedded database belongs to `npm start`).
 */
import "reflect-metadata";
import { loadConfig } from "./config";
import { createLogger } from "./logger";
import { openDatabase } from "./db/open";
import { App } from "./app";

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new Error("the worker needs DATABASE_URL (the embedded database is served by npm start, which works the jobs itself)");
  const log = createLogger(config.logLevel);
  const database = await openDatabase(config, log);
  const app = new App({ config, db: database.db, log });
  app.start();
  await app.jobs.start({ work: true });
  log.info("job worker started");
  const stop = async () => {
    await app.stop();
    await database.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((err) => {
  process.stderr.write(`loyalty worker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
