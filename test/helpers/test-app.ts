/**
 * Boots the real server for a test file: on DATABASE_URL's PostgreSQL in a database of its own
 * (created here, dropped after), or on an in-memory PGlite when DATABASE_URL is unset.
 */
import "reflect-metadata";
import pino from "pino";
import { createClient, Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import { App } from "../../src/app";
import { loadConfig } from "../../src/config";
import { openDatabase, OpenDatabase } from "../../src/db/open";
import { createScratchDatabase } from "../../src/db/scratch-database";
import { createServer, RunningServer } from "../../src/server";
import { until } from "./until";

export const ADMIN_KEY = "test-root-key-0123456789abcdef0123456789";

export interface TestApp {
  app: App;
  server: RunningServer;
  database: OpenDatabase;
  /** Moves the app's clock; the write path, recompute and tokens read it. */
  advanceClock(ms: number): void;
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GqlResult<T>>;
  ws(token?: string | null): WsClient;
  stop(): Promise<void>;
}

export interface GqlResult<T> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }>;
}

export async function startTestApp(
  options: {
    poolSize?: number;
    redisUrl?: string;
    writeBatchesInFlight?: number;
    writeWorker?: boolean;
    metricsToken?: string;
    /** More configuration, as environment variables (limits, timeouts). */
    env?: Record<string, string>;
    /** The URL the app connects with, from its scratch database's: a test's proxy in front of the server. */
    connectVia?: (databaseUrl: string) => string;
  } = {},
): Promise<TestApp> {
  const baseUrl = process.env.DATABASE_URL;
  const fresh = baseUrl ? await createScratchDatabase(baseUrl, "loyalty_test") : undefined;
  const config = loadConfig({
    DATABASE_URL: fresh ? (options.connectVia?.(fresh.url) ?? fresh.url) : "",
    LOYALTY_DATA_DIR: "memory://",
    LOYALTY_ADMIN_KEY: ADMIN_KEY,
    DB_POOL_SIZE: String(options.poolSize ?? 8),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    OUTBOX_RELAY_INTERVAL_MS: "500",
    REDIS_URL: options.redisUrl ?? "",
    WRITE_BATCHES_IN_FLIGHT: String(options.writeBatchesInFlight ?? 1),
    WRITE_WORKER: String(options.writeWorker ?? true),
    METRICS_TOKEN: options.metricsToken ?? "",
    // Webhooks retried quickly and given up after three attempts, so tests see both.
    WEBHOOK_INTERVAL_MS: "200",
    WEBHOOK_RETRY_BASE_MS: "200",
    WEBHOOK_MAX_ATTEMPTS: "3",
    WEBHOOK_TIMEOUT_MS: "1000",
    // The tests' endpoints listen on loopback.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
    ...options.env,
  });
  const log = pino({ level: config.logLevel });
  const database = await openDatabase(config, log);
  let offset = 0;
  const app = new App({ config, db: database.db, log, clock: () => new Date(Date.now() + offset) });
  app.start();
  const server = await createServer(app, { port: 0, host: "127.0.0.1" });
  const clients: WsClient[] = [];

  return {
    app,
    server,
    database,
    advanceClock(ms) {
      offset += ms;
    },
    async gql(query, variables, token = ADMIN_KEY) {
      const res = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as any;
      return { status: res.status, data: body.data, errors: body.errors };
    },
    ws(token = ADMIN_KEY) {
      const client = createClient({
        url: server.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
        retryAttempts: 0,
        lazy: true,
      });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const c of clients) await c.dispose();
      await server.stop();
      await app.stop();
      await database.close();
      await fresh?.drop();
    },
  };
}

export interface SecondProcess {
  app: App;
  server: RunningServer;
  stop(): Promise<void>;
}

/**
 * A second API "process" beside `t`: its own App, caches, buckets and Redis connections, on the
 * same database and configuration (so the same Redis), as behind a load balancer.
 */
export async function startSecondProcess(t: TestApp): Promise<SecondProcess> {
  const app = new App({ config: t.app.config, db: t.app.db, log: pino({ level: "silent" }) });
  app.start();
  const server = await createServer(app, { port: 0, host: "127.0.0.1" });
  return {
    app,
    server,
    async stop() {
      await server.stop();
      await app.stop();
    },
  };
}

/** Subscribes and collects what arrives; `next(n)` waits until n items came (or times out). */
export function collect<T = any>(client: WsClient, query: string, variables: Record<string, unknown> = {}) {
  const items: T[] = [];
  const errors: unknown[] = [];
  let waiters: Array<() => void> = [];
  let completed = false;
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) errors.push(...value.errors);
        if (value.data) items.push(value.data as T);
        waiters.forEach((w) => w());
      },
      error: (err: any) => {
        // A closed socket arrives as a CloseEvent, whose fields do not serialize on their own.
        errors.push(Array.isArray(err) || err instanceof Error ? err : { code: err?.code, reason: err?.reason });
        waiters.forEach((w) => w());
      },
      complete: () => {
        completed = true;
        waiters.forEach((w) => w());
      },
    },
  );
  const arrival = (check: () => boolean, ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (check()) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out: ${items.length} items, ${errors.length} errors`)), ms);
      waiters.push(() => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  return {
    items,
    errors,
    get completed() {
      return completed;
    },
    next: (n: number, ms = 5000) => arrival(() => items.length >= n, ms),
    failed: (ms = 5000) => arrival(() => errors.length > 0, ms),
    /**
     * Waits for an item `isMarker` accepts and returns the items that came before it. To show that
     * nothing more came of earlier writes, a test writes a marker after them: events reach a
     * subscriber in sequence order, so what an earlier write had still to send would come first.
     */
    before: async (isMarker: (item: T) => boolean, ms = 5000): Promise<T[]> => {
      await arrival(() => items.some(isMarker), ms);
      return items.slice(0, items.findIndex(isMarker));
    },
    unsubscribe: () => {
      unsubscribe();
      waiters = [];
    },
  };
}

/**
 * Resolves once `app` has `count` subscribers of the program registered and its feed hears the
 * program's events (graphql-ws acks only the connection, not the subscription): from then on,
 * every commit of the program reaches them. `count` includes subscriptions still open from before.
 */
export async function listening(app: App, programId: string, count = 1): Promise<void> {
  await until(() => app.feeds.listenerCount(programId) >= count, { what: `${count} subscriber(s) of program ${programId}` });
  await app.feeds.ready(programId);
}
