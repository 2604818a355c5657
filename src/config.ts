/**
 * Environment → typed configuration. Every variable the server reads is here (and in docs/configuration.md),
 * so a wrong value fails at start with a clear message instead of deep inside a request.
 */
import type { StatisticsKeeperOptions } from "./db/statistics";

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
  /** Seed a demo program on first start: by default on the embedded database only (`npm start`). */
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
  /** How long a live event from Redis waits for stragglers with smaller sequences, to deliver in order (docs/events.md). */
  liveEventsReorderMs: number;
  /** How long a graceful drain (SIGTERM, SIGINT) may take before the process exits anyway (docs/operations.md). */
  shutdownGraceMs: number;
  /** Webhook deliveries: how often each process looks for due ones, the first retry's delay (doubling), attempts before FAILED, and each POST's timeout. */
  webhooks: { intervalMs: number; retryBaseMs: number; maxAttempts: number; timeoutMs: number; allowPrivateNetworks: boolean };
  /** What one request and one credential may cost: see docs/limits.md. */
  limits: LimitsConfig;
  /** The statistics keeper: ANALYZE of tables grown by traffic when autovacuum does not (docs/operations.md). */
  statsKeeper: StatisticsKeeperOptions;
}

/** Who a bucket and a cost ceiling belong to: a key's role, a customer token, no credential, LOYALTY_ADMIN_KEY. */
export type CallerClass = "ADMIN" | "PARTNER" | "STOREFRONT" | "CUSTOMER" | "ANONYMOUS" | "ROOT";

/** A leaky bucket: holds `size` cost points, refills `restorePerSecond` a second. */
export interface BucketConfig {
  size: number;
  restorePerSecond: number;
}

export interface LimitsConfig {
  /** Parser: a document of more tokens is refused while it is parsed. */
  maxTokens: number;
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  /** Root fields of one mutation request: each is a write. */
  maxRootMutations: number;
  /** The most one request may cost, by caller. */
  maxCost: Record<CallerClass, number>;
  /** Each credential's bucket, by caller; null: not limited (LOYALTY_ADMIN_KEY unless RATE_LIMIT_ROOT). */
  buckets: Record<CallerClass, BucketConfig | null>;
  introspection: boolean;
  graphiql: boolean;
  fieldSuggestions: boolean;
  /** WebSocket: subscriptions one socket may hold, sockets one credential may hold, time to send connection_init. */
  maxSubscriptionsPerSocket: number;
  maxSocketsPerCredential: number;
  connectionInitTimeoutMs: number;
  /** HTTP: time to send the headers, the whole request, and how long an idle keep-alive connection stays. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

function fraction(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 100) throw new Error(`${name} must be a number from 0 to 100, got "${raw}"`);
  return value;
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

/** `size:restorePerSecond`, e.g. `60000:30000`; "off" for no bucket. */
function bucket(env: NodeJS.ProcessEnv, name: string, fallback: BucketConfig | null): BucketConfig | null {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^off$/i.test(raw)) return null;
  const match = /^(\d+):(\d+)$/.exec(raw.trim());
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) throw new Error(`${name} must be size:restorePerSecond (e.g. 60000:30000) or off, got "${raw}"`);
  return { size: Number(match[1]), restorePerSecond: Number(match[2]) };
}

/**
 * Defaults sized on the 2-core development box (docs/limits.md): a PARTNER key can post purchases
 * faster than the write path takes them (~1,700/s at ~15 a purchase), a STOREFRONT key serves a busy
 * shop's pages, a customer token a person, and no single credential can hold the server alone.
 */
function readLimits(env: NodeJS.ProcessEnv): LimitsConfig {
  const production = env.NODE_ENV === "production";
  const classes: Array<[CallerClass, number, BucketConfig | null]> = [
    ["ADMIN", 10_000, { size: 20_000, restorePerSecond: 2_000 }],
    ["PARTNER", 5_000, { size: 60_000, restorePerSecond: 30_000 }],
    ["STOREFRONT", 2_000, { size: 40_000, restorePerSecond: 10_000 }],
    ["CUSTOMER", 1_000, { size: 2_000, restorePerSecond: 100 }],
    ["ANONYMOUS", 200, { size: 400, restorePerSecond: 20 }],
    ["ROOT", 20_000, null],
  ];
  return {
    // GraphiQL's introspection query is 183 tokens; graphql's overlapping-fields check is
    // quadratic in a document's fields, so a few thousand tokens of them cost 100 ms to validate.
    maxTokens: int(env, "QUERY_MAX_TOKENS", 1_000, 100),
    maxDepth: int(env, "QUERY_MAX_DEPTH", 12, 2),
    maxAliases: int(env, "QUERY_MAX_ALIASES", 30, 0),
    maxDirectives: int(env, "QUERY_MAX_DIRECTIVES", 20, 0),
    maxRootMutations: int(env, "QUERY_MAX_ROOT_MUTATIONS", 10, 1),
    maxCost: Object.fromEntries(classes.map(([c, max]) => [c, int(env, `QUERY_MAX_COST_${c}`, max, 1)])) as Record<CallerClass, number>,
    buckets: Object.fromEntries(classes.map(([c, , b]) => [c, bucket(env, `RATE_LIMIT_${c}`, b)])) as Record<CallerClass, BucketConfig | null>,
    introspection: bool(env, "GRAPHQL_INTROSPECTION", !production),
    graphiql: bool(env, "GRAPHIQL", !production),
    fieldSuggestions: bool(env, "GRAPHQL_FIELD_SUGGESTIONS", !production),
    maxSubscriptionsPerSocket: int(env, "WS_MAX_SUBSCRIPTIONS_PER_SOCKET", 50, 1),
    maxSocketsPerCredential: int(env, "WS_MAX_SOCKETS_PER_CREDENTIAL", 50, 1),
    connectionInitTimeoutMs: int(env, "WS_CONNECTION_INIT_TIMEOUT_MS", 5_000, 100),
    headersTimeoutMs: int(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 100),
    requestTimeoutMs: int(env, "HTTP_REQUEST_TIMEOUT_MS", 30_000, 100),
    keepAliveTimeoutMs: int(env, "HTTP_KEEPALIVE_TIMEOUT_MS", 5_000, 100),
  };
}

/**
 * The keeper's limit mirrors autovacuum's analyze limit (threshold + scale factor × rows), with a
 * larger base than autovacuum's 50 so small tables, whose plans a few hundred rows do not change, are
 * left alone, and the same 10% growth: statistics stay within 10% of the row counts.
 */
function readStatsKeeper(env: NodeJS.ProcessEnv): StatisticsKeeperOptions {
  const mode = (env.STATS_KEEPER || "auto").toLowerCase();
  if (mode !== "auto" && mode !== "off") throw new Error(`STATS_KEEPER must be auto or off, got "${env.STATS_KEEPER}"`);
  return {
    mode,
    intervalMs: int(env, "STATS_KEEPER_INTERVAL_MS", 10_000, 100),
    threshold: int(env, "STATS_KEEPER_ANALYZE_THRESHOLD", 500, 0),
    scaleFactor: fraction(env, "STATS_KEEPER_ANALYZE_SCALE_FACTOR", 0.1),
  };
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
    // The demo is for `npm start` on the embedded database; a server database gets it only when asked.
    seedDemo: bool(env, "LOYALTY_SEED_DEMO", !databaseUrl),
    logLevel: env.LOG_LEVEL || "info",
    outboxRelayIntervalMs: int(env, "OUTBOX_RELAY_INTERVAL_MS", 2000, 10),
    outboxRetentionDays: int(env, "OUTBOX_RETENTION_DAYS", 7, 1),
    redisUrl: redisUrl(env.REDIS_URL),
    workers: int(env, "API_PROCESSES", 1, 1),
    shutdownGraceMs: int(env, "SHUTDOWN_GRACE_MS", 10_000, 0),
    liveEventsReorderMs: int(env, "LIVE_EVENTS_REORDER_MS", 50, 0),
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
    limits: readLimits(env),
    statsKeeper: readStatsKeeper(env),
  };
}
