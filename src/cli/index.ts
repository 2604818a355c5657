/** The command-line tool: `npm run cli -- <command>` (migrate, emit-schema, recompute, points-lifecycle, import). */
import "reflect-metadata";
import { existsSync, writeFileSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { loadConfig } from "../config";
import { createLogger } from "../logger";
import { openDatabase } from "../db/open";
import { App } from "../app";
import { printedSchema } from "../schema";
import { isUuid } from "../api/ids";
import { NotFound } from "../api/errors";
import { runPointsLifecycle } from "../modules/points/lifecycle";
import { reviewTiers } from "../modules/tiers/tier.service";
import { Presets, SingleBar } from "cli-progress";
import { countLines, importFile } from "./import";
import { analyzeTables, WRITE_PATH_TABLES } from "../db/statistics";

const SCHEMA_FILE = resolve(__dirname, "../../../schema/schema.graphql").replace(/dist[\\/]schema/, "schema");

const program = new Command("loyalty").description("Loyalty ladder platform tools");

program
  .command("migrate")
  .description("apply pending migrations to DATABASE_URL (or the embedded database) and exit")
  .action(async () => {
    const config = loadConfig();
    const log = createLogger(config.logLevel);
    const database = await openDatabase(config, log, { migrate: true });
    log.info("migrations up to date");
    await database.close();
  });

program
  .command("emit-schema")
  .description("write schema/schema.graphql from the code (--check: fail if it differs)")
  .option("--check", "compare instead of writing")
  .option("--out <file>", "where to write", SCHEMA_FILE)
  .action(async (opts: { check?: boolean; out: string }) => {
    const sdl = await printedSchema();
    if (opts.check) {
      const current = readFileSync(opts.out, "utf8");
      if (current !== sdl) {
        process.stderr.write(`${opts.out} is out of date: run npm run schema\n`);
        process.exit(1);
      }
      process.stdout.write("schema up to date\n");
      return;
    }
    writeFileSync(opts.out, sdl);
    process.stdout.write(`wrote ${opts.out}\n`);
  });

/**
 * After a command that changed rows in bulk: ANALYZE what it may have changed, as autovacuum would
 * later (if it runs at all), so the API plans on today's tables (src/db/statistics.ts). Said on
 * stderr: stdout is the command's JSON answer.
 */
async function analyzeAfter(app: App, changedRows: number, tables: readonly string[]): Promise<void> {
  if (changedRows === 0) return;
  const { ms } = await analyzeTables(app.db, tables);
  process.stderr.write(`  ANALYZE ${tables.join(", ")} (${ms} ms)\n`);
}

/** Runs `work` with the application on the configured database (migrated), then closes both. */
async function withApp(work: (app: App) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const database = await openDatabase(config, log);
  const app = new App({ config, db: database.db, log });
  try {
    await work(app);
  } finally {
    await app.stop();
    await database.close();
  }
}

program
  .command("recompute")
  .description("re-evaluate every customer's stage of a program as of now (lapse, windows), in set-based batches")
  .argument("<programId>", "the program's id")
  .option("--batch <n>", "customers per batch", "2000")
  .action(async (programId: string, opts: { batch: string }) => {
    if (!isUuid(programId)) throw new Error(`"${programId}" is not a program id`);
    await withApp(async (app) => {
      const programConfig = await app.programs.config(programId);
      const report = await app.stages.recompute(programConfig, "RECOMPUTE", Number(opts.batch), (r) =>
        process.stderr.write(`\r  evaluated ${r.evaluated}, moved ${r.changed}`),
      );
      process.stderr.write("\n");
      await analyzeAfter(app, report.changed + report.lifecycleChanged + report.grantsOwed, WRITE_PATH_TABLES);
      process.stdout.write(JSON.stringify({ programId, ...report }) + "\n");
    });
  });

program
  .command("points-lifecycle")
  .description("activate pending points, expire points and coupons, give owed grants and review tiers of a program, as of now")
  .argument("<programId>", "the program's id")
  .action(async (programId: string) => {
    if (!isUuid(programId)) throw new Error(`"${programId}" is not a program id`);
    await withApp(async (app) => {
      const programConfig = await app.programs.config(programId);
      const { grants, ...points } = await runPointsLifecycle(app, programId);
      const tiers = await reviewTiers(app.db, programConfig, app.clock(), (e) => app.outbox.publishCommitted(e));
      const changed = grants + points.activated + points.expired + points.couponsExpired + tiers.changed;
      await analyzeAfter(app, changed, [...WRITE_PATH_TABLES, "redemptions"]);
      process.stdout.write(JSON.stringify({ programId, grants, ...points, tiersReviewed: tiers.reviewed, tiersChanged: tiers.changed }) + "\n");
    });
  });

program
  .command("import")
  .description(
    "import a program's history from an NDJSON file: one {\"kind\": customer|purchase|refund|review|touchpoint, ...} per line, the rest as the API's input of that kind; idempotent (run again, it replays), bad lines reported by number; exit code 2 when some failed",
  )
  .argument("<programId>", "the program's id")
  .argument("<file>", "the NDJSON file")
  .option("--concurrency <n>", "lines in flight at once", "32")
  .action(async (programId: string, file: string, opts: { concurrency: string }) => {
    if (!isUuid(programId)) throw new Error(`"${programId}" is not a program id`);
    if (!existsSync(file)) throw new Error(`no file ${file}`);
    const concurrency = Number(opts.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) throw new Error("--concurrency is an integer from 1 to 1000");
    await withApp(async (app) => {
      await app.programs.config(programId).catch((err) => {
        throw err instanceof NotFound ? new Error(`no program ${programId}`) : err;
      });
      // A progress bar for a person at a terminal; a script gets the summary alone.
      const bar = process.stderr.isTTY
        ? new SingleBar({ format: "  importing [{bar}] {value}/{total} lines, {eta_formatted} left", stream: process.stderr }, Presets.shades_classic)
        : null;
      bar?.start(await countLines(file), 0);
      const summary = await importFile(app, programId, file, { concurrency, onProgress: (done) => bar?.update(done) });
      bar?.stop();
      process.stdout.write(JSON.stringify({ file, ...summary }) + "\n");
      if (summary.failed > 0) process.exitCode = 2;
    });
  });

program.parseAsync().catch((err) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
