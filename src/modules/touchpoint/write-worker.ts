/**
 * The write worker: a thread that runs write batches on its own connections. The main thread is
 * busy with HTTP and GraphQL; a batch's round trips there each wait behind that work. Here
 * they go back to back. Used with a PostgreSQL server (DATABASE_URL), not with PGlite (one
 * connection for the whole process).
 */
import "reflect-metadata";
import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "pg";
import { transientKind } from "../../api/unavailable";
import { Db } from "../../db/db";
import { BatchWriter, CONFIG_CHANGED } from "./batch-writer";
import { ExternalIdCache } from "./external-id.cache";

export interface WriteWorkerData {
  databaseUrl: string;
  poolSize: number;
}

if (parentPort) {
  const port = parentPort;
  const { databaseUrl, poolSize } = workerData as WriteWorkerData;
  const log = (message: string) => port.postMessage({ kind: "log", message });
  const pool = new Pool({
    connectionString: databaseUrl,
    max: poolSize,
    application_name: "loyalty-ladder-writer",
    // Generic plans for every statement of a batch: they look customers, keys and lots up by
    // program and arrays of ids, so one plan fits every batch, and the read (whose window bound is
    // a parameter) was otherwise planned again at each execution (bind 0.55 ms, generic 0.15 ms).
    // A SET rather than a startup option, which connection poolers may refuse; in the pool's
    // onConnect, which it awaits before handing the connection out (a query sent from the
    // "connect" event would overlap the first batch's, which pg 9 will refuse).
    onConnect: async (client) => {
      client.on("error", (err) => log(`connection: ${err.message}`));
      await client.query("SET plan_cache_mode = force_generic_plan").catch((err) => {
        // A connection that broke meanwhile (no SQLSTATE): the pool ends it and reports the error.
        if (!err.code) throw err;
        log(`plan_cache_mode: ${err.message}`);
      });
    },
  });
  // pg-pool listens for errors only on idle clients: a connection lost mid-batch (a restart, a
  // failover) would otherwise be an uncaught error that ends the thread.
  pool.on("error", (err) => log(`pool: ${err.message}`));
  process.on("unhandledRejection", (err) => log(`unhandled: ${String(err)}`));
  const db = new Db(pool, (err) => log(String(err)));
  const writer = new BatchWriter(new ExternalIdCache(100_000));
  const inFlight = new Set<Promise<void>>();
  /** The configuration the main thread last sent per program: it sends one only when it changes. */
  const configs = new Map<string, any>();
  let closing = false;

  port.on("message", async (message: any) => {
    if (message.kind === "close") {
      closing = true;
      await Promise.allSettled([...inFlight]);
      await pool.end();
      port.postMessage({ kind: "closed" });
      return;
    }
    const { id, programId, items, now } = message;
    if (message.config) configs.set(programId, message.config);
    const config = configs.get(programId);
    if (closing) {
      // Never written: the main thread's answer says so, retryable (another process, or this one
      // restarted, takes the retry).
      port.postMessage({ kind: "failed", id, error: { message: "write worker is closing", transient: "interrupted" } });
      return;
    }
    if (!config) {
      // Never expected. CONFIG_CHANGED makes the batcher reload the configuration, which is then sent.
      port.postMessage({ kind: "failed", id, error: { message: "no configuration for the program", code: CONFIG_CHANGED } });
      return;
    }
    const work = writer.write(db, config, items, new Date(now)).then(
      (result) => {
        // Read again under the batch (it changed): the next batches start from it, not from the old one.
        if (result.config) configs.set(programId, result.config);
        // A customer is its row plus fields copied from it: send the row, the main thread rebuilds the rest.
        for (const outcome of result.outcomes) {
          if (outcome.kind === "written") outcome.result.customer = { row: outcome.result.customer.row } as any;
        }
        port.postMessage({ kind: "done", id, result });
      },
      (err: any) => port.postMessage({ kind: "failed", id, error: { message: String(err?.message ?? err), code: err?.code, transient: transientKind(err) } }),
    );
    inFlight.add(work);
    await work;
    inFlight.delete(work);
  });
}
