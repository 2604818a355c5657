/** Starts the API: configuration, database (embedded when DATABASE_URL is unset), demo seed, server, clean shutdown. */
import "reflect-metadata";
import { loadConfig } from "./config";
import { createLogger } from "./logger";
import { openDatabase } from "./db/open";
import { App } from "./app";
import { createServer } from "./server";
import { seedDemo } from "./demo";

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const database = await openDatabase(config, log);
  const app = new App({ config, db: database.db, log });
  app.start();
  if (config.seedDemo) {
    const demo = await seedDemo(app);
    if (demo) {
      log.info({ programId: demo.programId }, "demo program seeded");
      process.stdout.write(
        `\n  Demo program "Demo Coffee" (griffin-7 ladder): ${demo.programId}\n` +
          `  ADMIN key   (shown once): ${demo.adminKey}\n` +
          `  PARTNER key (shown once): ${demo.partnerKey}\n\n`,
      );
    }
  }
  const server = await createServer(app, { port: config.port, host: config.host });
  log.info({ url: server.url, embedded: !config.databaseUrl }, "loyalty API listening");
  process.stdout.write(`  GraphQL + GraphiQL: http://localhost:${server.port}/graphql   WebSocket: ws://localhost:${server.port}/graphql\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await server.stop();
      await app.stop();
      await database.close();
      clearTimeout(force);
      log.info("stopped");
      process.exit(0);
    } catch (err) {
      log.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err) => {
  // Startup errors (bad configuration, unreachable database) end here, with the reason.
  process.stderr.write(`loyalty API failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
