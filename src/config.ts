/**
 * Environment → typed configuration. Every variable the server reads is here (and in the README),
 * so a wrong value fails at start with a clear message instead of deep inside a request.
 */
export interface Config {
  /** HTTP and WebSocket port; 0 picks a free one (tests). */
  port: number;
  host: string;
  /** A PostgreSQL URL; undefined means the embedded PGlite database in `dataDir`. */
  databaseUrl?: string;
  /** Where the embedded database keeps its files; "memory://" keeps nothing (tests). */
  dataDir: string;
  /** Connections in the API's pool. */
  dbPoolSize: number;
  /** When set, this string is an ADMIN credential over every program. */
  adminKey?: string;
  /** Secret for signing customer tokens; when unset each program gets its own random secret in the database. */
  tokenSecret?: string;
  /** Lifetime of customer tokens in seconds. */
  customerTokenTtlSeconds: number;
  /** Seed a demo program on first start (on by default for `npm start`). */
  seedDemo: boolean;
  logLevel: string;
  /** Milliseconds between sweeps of outbox rows that were committed but not published. */
  outboxRelayIntervalMs: number;
  /** Days published events stay in the outbox (a replay window), then the relay deletes them. */
  outboxRetentionDays: number;
  /** Redis carrying events and cache invalidations between API processes; unset: in-process only. */
  redisUrl?: string;
  /** Run write batches in a worker thread (PostgreSQL only; PGlite keeps one connection). */
  writeWorker: boolean;
  /** Write batches of one program in flight at once (PostgreSQL server only). */
  writeBatchesInFlight: number;
  /** Work scheduled jobs (points lifecycle, stage recompute) in this process; `npm run worker` runs them alone. */
  runJobs: boolean;
  /** Cron of the points lifecycle job (activate pending, expire points and coupons). */
  pointsLifecycleCron: string;
  /** Cron of the stage recompute job (lapse and windows move customers as time passes). */
  recomputeCron: string;
  /** Bearer token a scraper of /metrics sends; unset: /metrics answers this machine (loopback) only. */
  metricsToken?: string;
  /** API processes to run on this machine (node:cluster, one port); more than one needs DATABASE_URL and REDIS_URL. */
  workers: number;
  /** Webhook deliveries: how often each process looks for due ones, the first retry's delay (doubling), attempts before FAILED, and each POST's timeout. */
  webhooks: { intervalMs: number; retryBaseMs: number; maxAttempts: number; timeoutMs: number; allowPrivateNetworks: boolean };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

function cron(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name] || fallback;
  if (!/^(\S+\s+){4}\S+$/.test(raw.trim())) throw new Error(`${name} must be a 5-field cron expression, got "${raw}"`);
  return raw.trim();
}

function redisUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (!/^rediss?:\/\//.test(raw)) throw new Error(`REDIS_URL must be a redis:// URL, got "${raw}"`);
  return raw;
}

function metricsToken(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (raw.length < 16) throw new Error("METRICS_TOKEN must be at least 16 characters");
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = readConfig(env);
  if (config.workers > 1 && (!config.databaseUrl || !config.redisUrl)) {
    // The embedded database belongs to one process, and events must cross processes.
    throw new Error("API_PROCESSES > 1 needs DATABASE_URL and REDIS_URL");
  }
  return config;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error(`DATABASE_URL must be a postgres:// URL, got "${databaseUrl}"`);
  }
  if (env.LOYALTY_TOKEN_SECRET !== undefined && env.LOYALTY_TOKEN_SECRET.length > 0 && env.LOYALTY_TOKEN_SECRET.length < 32) {
    throw new Error("LOYALTY_TOKEN_SECRET must be at least 32 characters");
  }
  return {
    port: int(env, "PORT", 4000),
    host: env.HOST || "0.0.0.0",
    databaseUrl,
    dataDir: env.LOYALTY_DATA_DIR || "./data",
    dbPoolSize: int(env, "DB_POOL_SIZE", 10, 1),
    adminKey: env.LOYALTY_ADMIN_KEY || undefined,
    tokenSecret: env.LOYALTY_TOKEN_SECRET || undefined,
    customerTokenTtlSeconds: int(env, "CUSTOMER_TOKEN_TTL_SECONDS", 3600, 1),
    seedDemo: bool(env, "LOYALTY_SEED_DEMO", true),
    logLevel: env.LOG_LEVEL || "info",
    outboxRelayIntervalMs: int(env, "OUTBOX_RELAY_INTERVAL_MS", 2000, 10),
    outboxRetentionDays: int(env, "OUTBOX_RETENTION_DAYS", 7, 1),
    redisUrl: redisUrl(env.REDIS_URL),
    workers: int(env, "API_PROCESSES", 1, 1),
    metricsToken: metricsToken(env.METRICS_TOKEN),
    writeWorker: bool(env, "WRITE_WORKER", true),
    runJobs: bool(env, "RUN_JOBS", true),
    writeBatchesInFlight: int(env, "WRITE_BATCHES_IN_FLIGHT", 1, 1),
    pointsLifecycleCron: cron(env, "POINTS_LIFECYCLE_CRON", "*/5 * * * *"),
    recomputeCron: cron(env, "RECOMPUTE_CRON", "17 3 * * *"),
    webhooks: {
      intervalMs: int(env, "WEBHOOK_INTERVAL_MS", 1000, 10),
      retryBaseMs: int(env, "WEBHOOK_RETRY_BASE_MS", 30_000, 1),
      maxAttempts: Math.min(int(env, "WEBHOOK_MAX_ATTEMPTS", 10, 1), 100),
      timeoutMs: int(env, "WEBHOOK_TIMEOUT_MS", 10_000, 100),
      allowPrivateNetworks: bool(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", false),
    },
  };
}
