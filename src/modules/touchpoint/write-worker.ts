/**
 * The write worker: a thread that runs write batches on its own connections. The main thread is
 * busy with HTTP and GraphQL; a batch's five round trips there each wait behind that work. Here
 * they go back to back. Used with a PostgreSQL server (DATABASE_URL), not with PGlite (one
 * connection for the whole process).
 */
import "reflect-metadata";
import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "pg";
import { Db } from "../../db/db";
import { BatchWriter } from "./batch-writer";
import { ExternalIdCache } from "./external-id.cache";

export interface WriteWorkerData {
  databaseUrl: string;
  poolSize: number;
}

if (parentPort) {
  const port = parentPort;
  const { databaseUrl, poolSize } = workerData as WriteWorkerData;
  const pool = new Pool({ connectionString: databaseUrl, max: poolSize, application_name: "loyalty-ladder-writer" });
  pool.on("error", (err) => port.postMessage({ kind: "log", message: `pool: ${err.message}` }));
  const db = new Db(pool, (err) => port.postMessage({ kind: "log", message: String(err) }));
  const writer = new BatchWriter(new ExternalIdCache(100_000));

  port.on("message", async (message: any) => {
    if (message.kind === "close") {
      await pool.end();
      port.postMessage({ kind: "closed" });
      return;
    }
    const { id, config, items, now } = message;
    try {
      const result = await db.transaction((tx) => writer.write(tx, config, items, new Date(now)));
      port.postMessage({ kind: "done", id, result });
    } catch (err: any) {
      port.postMessage({ kind: "failed", id, error: { message: String(err?.message ?? err), code: err?.code } });
    }
  });
}
