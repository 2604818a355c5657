/** Opens the database the configuration names (or the embedded one), runs migrations, and wraps the pool. */
import type { Logger } from "pino";
import type { PostgresDriver } from "typeorm/driver/postgres/PostgresDriver";
import { DataSource } from "typeorm";
import { Config } from "../config";
import { createDataSource } from "./data-source";
import { Db } from "./db";
import { EmbeddedDatabase, startEmbeddedDatabase } from "./embedded";

export interface OpenDatabase {
  dataSource: DataSource;
  db: Db;
  embedded?: EmbeddedDatabase;
  close(): Promise<void>;
}

export async function openDatabase(config: Config, log: Logger, options: { migrate?: boolean } = {}): Promise<OpenDatabase> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  let poolSize = config.dbPoolSize;
  if (!url) {
    // PGlite is one backend: it runs one statement at a time whatever the number of connections,
    // and its socket server interleaves the extended-protocol messages (Parse/Bind) of connections
    // outside a transaction, so one statement's Bind can meet another's Parse. One connection makes
    // that impossible and costs nothing. The spare slots are for a psql session.
    poolSize = 1;
    embedded = await startEmbeddedDatabase(config.dataDir, poolSize + 2);
    url = embedded.url;
    log.info({ dataDir: config.dataDir }, "embedded PostgreSQL (PGlite) started");
  }
  const dataSource = createDataSource(url, poolSize);
  await dataSource.initialize();
  if (options.migrate !== false) {
    const ran = await dataSource.runMigrations({ transaction: "each" });
    if (ran.length > 0) log.info({ migrations: ran.map((m) => m.name) }, "migrations applied");
  }
  const pool = (dataSource.driver as PostgresDriver).master;
  const db = new Db(pool, (err) => log.error({ err }, "after-commit hook failed"), !embedded);
  return {
    dataSource,
    db,
    embedded,
    async close() {
      await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
