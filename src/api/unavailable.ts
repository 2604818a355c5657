/**
 * Failures of the moment, not of the request: the database or the bus could not be reached or went
 * away mid-request, the database asked for the transaction to be run again, or a write was cut off
 * before its outcome was known. The same request sent again a moment later succeeds, and a write
 * sent again with the same idempotency key is applied once (docs/errors.md), so such a failure is
 * answered `UNAVAILABLE` with `retryable: true` (HTTP 503 and Retry-After) rather than masked as
 * INTERNAL_SERVER_ERROR, and logged at warn without a stack: it is the infrastructure's, not a bug.
 */
import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLError } from "graphql";
import type { Logger } from "pino";

export const UNAVAILABLE = "UNAVAILABLE";

/**
 * What Retry-After says. The server is back within a second of the database (issue 17: 0.4 s after
 * PostgreSQL restarted), and a serialization failure or a deadlock clears at once.
 */
export const RETRY_AFTER_SECONDS = 1;

/** What each kind of transient failure tells the client: plain words, never the driver's text. */
const MESSAGES = {
  database: "The database is unavailable; retry the request (a write with the same idempotency key is applied once)",
  contention: "The request met a concurrent one in the database; retry it (a write with the same idempotency key is applied once)",
  interrupted: "The write was interrupted before its outcome was known; retry it with the same idempotency key (it is applied once)",
  bus: "The event bus is unavailable; retry the request",
  restarting: "This server is restarting and takes no new requests; retry the request (another server, or this one once back, answers it)",
} as const;

export type TransientKind = keyof typeof MESSAGES;

/**
 * Thrown by our own code for a transient failure that no driver error describes: a write batch
 * whose worker thread stopped before answering (its outcome unknown, its keys make a retry safe),
 * or a driver's failure that crossed from the worker as its message and kind. `code` keeps the
 * code the batcher reads (CONFIG_CHANGED) of a failure that crossed.
 */
export class TransientFailure extends Error {
  readonly kind: TransientKind;
  readonly code?: string;

  constructor(message: string, options: { kind?: TransientKind; cause?: unknown; code?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = "TransientFailure";
    this.kind = options.kind ?? "interrupted";
    if (options.code !== undefined) this.code = options.code;
  }
}

/** The error the client gets: code UNAVAILABLE, retryable, and when to retry (also for WebSocket clients, which get no headers). */
export class Unavailable extends GraphQLError {
  constructor(kind: TransientKind = "database", http = false) {
    super(MESSAGES[kind], {
      extensions: {
        code: UNAVAILABLE,
        retryable: true,
        retryAfterSeconds: RETRY_AFTER_SECONDS,
        // For an error answered outside Apollo's pipeline (server.ts, the credential).
        ...(http ? { http: unavailableHttp() } : {}),
      },
    });
  }
}

/** The HTTP head of an answer whose every error is UNAVAILABLE. */
export function unavailableHttp(): { status: number; headers: Map<string, string> } {
  return { status: 503, headers: new Map([["retry-after", String(RETRY_AFTER_SECONDS)]]) };
}

/**
 * SQLSTATEs whose statement may succeed if sent again: the connection failed (class 08), the server
 * is shutting down, crashed or is starting (57P01-57P03), it has no connection slot left (53300), or
 * the transaction lost a race (serialization failure, deadlock, a lock not available under NOWAIT or
 * lock_timeout).
 */
const CONNECTION_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);
const CONTENTION_SQLSTATES = new Set(["40001", "40P01", "55P03"]);

/** Node's codes for a socket that could not connect or was cut (DNS too, when it answered "try again"). */
const SOCKET_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/**
 * pg's and pg-pool's own messages for a connection lost or not made (these are the driver's fixed
 * English strings, not the server's localised ones). "Connection terminated" starts each of
 * "…unexpectedly" and "…due to connection timeout". A pool is ended only when this process shuts
 * down (database.close, the write worker's close): a request that meets it is one another process,
 * or this one restarted, will serve.
 */
const PG_CONNECTION_MESSAGES = [
  /^Connection terminated\b/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/,
];

/**
 * ioredis's messages for a connection that is down (the request path uses Redis with no offline
 * queue: it fails at once), and Redis's own replies meaning "not now" (loading, failing over).
 */
const REDIS_MESSAGES = [/^Connection is closed\.$/, /^Stream isn't writeable/, /^(LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN) /];

/** The kind of transient failure `error` itself is (not its causes), if it is one. */
function ownKind(error: object): TransientKind | undefined {
  if (error instanceof TransientFailure) return error.kind;
  const { code, severity, name, message } = error as { code?: unknown; severity?: unknown; name?: unknown; message?: unknown };
  if (typeof code === "string") {
    if (CONTENTION_SQLSTATES.has(code)) return "contention";
    if (code.startsWith("08") || CONNECTION_SQLSTATES.has(code) || SOCKET_ERRNOS.has(code)) return "database";
    // FATAL at connection time: the database does not take connections now (ALLOW_CONNECTIONS
    // false, as during maintenance). The same SQLSTATE as an ERROR is a statement's fault.
    if (code === "55000" && severity === "FATAL") return "database";
  }
  if (typeof message !== "string") return undefined;
  if (PG_CONNECTION_MESSAGES.some((m) => m.test(message))) return "database";
  if (name === "MaxRetriesPerRequestError" || REDIS_MESSAGES.some((m) => m.test(message))) return "bus";
  return undefined;
}

/**
 * The kind of transient failure behind `error`, or undefined for anything else (a bug, bad input).
 * Looks through what wraps it: GraphQL's `originalError`, `cause` chains, and an AggregateError
 * (node's connect tries each address of a host), transient only when every error in it is.
 */
export function transientKind(error: unknown, depth = 0): TransientKind | undefined {
  if (!error || typeof error !== "object" || depth > 10) return undefined;
  const own = ownKind(error);
  if (own) return own;
  if (error instanceof AggregateError && error.errors.length > 0) {
    const kinds = error.errors.map((e) => transientKind(e, depth + 1));
    if (kinds.every((k) => k !== undefined)) return kinds[0];
  }
  const { originalError, cause } = error as { originalError?: unknown; cause?: unknown };
  return transientKind(originalError, depth + 1) ?? transientKind(cause, depth + 1);
}

/** What the log gets for a transient failure: the innermost error's code and message, no stack. */
export function describeFailure(error: unknown): { code?: string; message: string } {
  let inner: unknown = error;
  for (let depth = 0; depth < 10; depth++) {
    const next = (inner as { originalError?: unknown; cause?: unknown } | null)?.originalError ?? (inner as { cause?: unknown } | null)?.cause;
    if (!next || typeof next !== "object") break;
    inner = next;
  }
  const { code, message } = (inner ?? {}) as { code?: unknown; message?: unknown };
  return { ...(typeof code === "string" ? { code } : {}), message: typeof message === "string" ? message : String(inner) };
}

/**
 * Logs `error` at warn, with its code and message and no stack, when it is a transient failure (an
 * outage would otherwise print a stack per request); false for anything else, for the caller to log.
 */
export function warnIfTransient(log: Logger, error: unknown, fields: Record<string, unknown>): boolean {
  const kind = transientKind(error);
  if (!kind) return false;
  log.warn({ ...fields, failure: describeFailure(error), kind }, "answered UNAVAILABLE: a transient failure");
  return true;
}

/**
 * For background work (outbox marks and relay, webhook sends, live feeds): a transient failure is
 * a warning with its code and message (an outage would otherwise print a stack every few
 * hundred milliseconds); anything else is an error, with its stack.
 */
export function logBackgroundFailure(log: Logger, error: unknown, message: string, fields: Record<string, unknown> = {}): void {
  const kind = transientKind(error);
  if (kind) log.warn({ ...fields, failure: describeFailure(error), kind }, message);
  else log.error({ ...fields, err: error }, message);
}

/**
 * Apollo takes an answer's HTTP status from `extensions.http` of the errors as thrown, before
 * formatError gives a driver's error its code: this sets 503 and Retry-After on an answer whose
 * every error came out UNAVAILABLE (a mix with another error is not a "retry as is").
 */
export function unavailablePlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== "single") return;
          const errors = response.body.singleResult.errors;
          if (!errors?.length || !errors.every((e) => e.extensions?.code === UNAVAILABLE)) return;
          const { status, headers } = unavailableHttp();
          response.http.status = status;
          for (const [name, value] of headers) response.http.headers.set(name, value);
        },
      };
    },
  };
}
