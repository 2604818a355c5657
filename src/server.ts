/**
 * createServer(app): one HTTP server on one port with GraphQL over HTTP (Apollo Server), GraphQL
 * over WebSocket (graphql-ws) on the same /graphql path, GraphiQL, /healthz and /readyz.
 * Tests start it on port 0; main.ts on PORT.
 */
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from "node:http";
import cluster from "node:cluster";
import { AddressInfo, Server as NetServer } from "node:net";
import { ApolloServer, HeaderMap } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { GraphQLError, parse } from "graphql";
import { App } from "./app";
import { createContext, RequestContext } from "./context";
import { getSchema } from "./schema";
import { formatError, isExposed, REQUEST_ID } from "./api/error-masking";
import { GRAPHIQL_HTML, graphiqlAsset } from "./api/graphiql";
import { checkJsonShape } from "./api/nul";
import { createWebSocketEndpoint } from "./api/websocket";
import { Unavailable, UNAVAILABLE, unavailablePlugin, warnIfTransient } from "./api/unavailable";
import { MemoryBuckets, RedisBuckets } from "./api/limits/buckets";
import { limitsPlugin } from "./api/limits/limits.plugin";
import { RequestLimits } from "./api/limits/request-limits";
import { Actor } from "./modules/auth/actor";
import { MIGRATIONS } from "./db/data-source";
import { CountingQueryable } from "./db/db";
import { METRICS_CONTENT_TYPE, metricsAccess, metricsText, operationMetricsPlugin, shareWithSupervisor } from "./observability/metrics-endpoint";

const MAX_BODY_BYTES = 1_000_000;
/** What `new URL("/graphql", …)` gives: only its pathname and search are read. */
const GRAPHQL_URL = { pathname: "/graphql", search: "" } as const;

export interface RunningServer {
  url: string;
  wsUrl: string;
  port: number;
  http: Server;
  /** Closes the WebSockets whose API key was revoked, checked in the database (done every KEY_CACHE_MS anyway). */
  sweepRevokedSockets(): Promise<void>;
  /**
   * Graceful drain, first step: /readyz turns 503, the server stops listening, requests that
   * arrive on open connections get UNAVAILABLE (503, retryable), WebSockets take no new operation,
   * and every request already received is answered, each connection closed after its answer.
   * Resolves once they are (or at `deadline`, a Date.now() value).
   */
  drain(deadline: number): Promise<void>;
  /** Graceful drain, last step (once the app delivered its last events): WebSockets close with 1001. */
  closeSockets(deadline: number): Promise<void>;
  stop(): Promise<void>;
}

function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Answers one error raised before Apollo runs: its `extensions.http` gives the status and headers, and stays out of the body. */
function sendError(res: ServerResponse, error: GraphQLError): void {
  const { http, ...extensions } = error.extensions as { http?: { status?: number; headers?: Map<string, string> } };
  for (const [name, value] of http?.headers ?? []) res.setHeader(name, value);
  send(res, http?.status ?? 500, "application/json", JSON.stringify({ errors: [{ message: error.message, extensions }] }));
}

/**
 * The body, up to MAX_BODY_BYTES. Past that the request is refused with 413 and the connection
 * closed after the answer: destroying the socket at once would reset the client before it read
 * the 413, so the rest is read and dropped (for at most a second).
 */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => Object.assign(new Error(`request body too large (at most ${MAX_BODY_BYTES} bytes)`), { status: 413 });
    if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES) {
      discardRest(req);
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.off("data", onData);
        chunks.length = 0;
        discardRest(req);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function discardRest(req: IncomingMessage): void {
  req.resume();
  setTimeout(() => req.destroy(), 1000).unref();
}

/**
 * Whether an HTTP request's document holds a subscription. Apollo would run its resolver as a query
 * (and graphql-js's validation throws on some subscriptions): over HTTP it is refused up front.
 * Only a document that mentions the word is parsed, so other requests pay a substring search.
 */
function subscribesOverHttp(query: string, options: { maxTokens: number }): boolean {
  if (!query.includes("subscription")) return false;
  try {
    return parse(query, options).definitions.some((d) => d.kind === "OperationDefinition" && d.operation === "subscription");
  } catch {
    return false; // Apollo reports the syntax error
  }
}

/** Credential → actor; a bad credential is a typed UNAUTHENTICATED with HTTP 401. */
async function actorFor(app: App, authorization: string | undefined, requestId: string): Promise<Actor> {
  try {
    return await app.auth.authenticate(authorization);
  } catch (err) {
    if (err instanceof GraphQLError) {
      throw new GraphQLError(err.message, { extensions: { ...err.extensions, http: { status: 401 } } });
    }
    // The key could not be looked up (the database is down): the same request will do, later.
    if (warnIfTransient(app.log, err, { requestId })) throw new Unavailable(undefined, true);
    // Errors thrown while building the context never reach the plugin's didEncounterErrors: log here.
    app.log.error({ err, requestId }, "authentication failed unexpectedly");
    throw new GraphQLError(`Internal server error (request ${requestId})`, {
      extensions: { code: "INTERNAL_SERVER_ERROR", requestId, http: { status: 500 } },
    });
  }
}

/**
 * Listens, or fails with a message that names the port (a taken port used to leave the process
 * waiting forever, listening nowhere).
 */
function listen(http: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const reason =
        err.code === "EADDRINUSE"
          ? "is in use by another process"
          : err.code === "EACCES"
            ? "needs privileges this process does not have"
            : `cannot be listened on (${err.message})`;
      reject(Object.assign(new Error(`port ${port} on ${host} ${reason}: set PORT (and HOST) to another`), { code: err.code }));
    };
    http.once("error", failed);
    http.listen(port, host, () => {
      http.off("error", failed);
      resolve();
    });
  });
}

export async function readiness(app: App): Promise<{ ok: boolean; detail: string }> {
  try {
    const [row] = await app.db.query(`SELECT count(*)::int AS n FROM migrations`);
    if (row.n < MIGRATIONS.length) return { ok: false, detail: `migrations pending (${row.n}/${MIGRATIONS.length})` };
    // The event bus does not decide readiness: without it, subscribers are served from the outbox.
    const events = app.feeds.status();
    return {
      ok: true,
      detail:
        events === "live"
          ? "ready"
          : `ready; events: ${events === "bus down" ? "event bus down, subscribers served from the outbox" : "catching up from the outbox"}`,
    };
  } catch (err) {
    // The reason (host, user, table) is for the operator's log, not for an anonymous caller.
    app.log.warn({ err }, "readiness check failed");
    return { ok: false, detail: "database unreachable or not migrated" };
  }
}

export async function createServer(app: App, options: { port?: number; host?: string } = {}): Promise<RunningServer> {
  const schema = await getSchema();
  const limitsConfig = app.config.limits;
  const limits = new RequestLimits(
    limitsConfig,
    app.config.redisUrl
      ? new RedisBuckets(app.config.redisUrl, (err) => app.log.warn({ err }, "rate-limit buckets: Redis unavailable, using this process's"))
      : new MemoryBuckets(),
  );
  // Slow and silent clients let go: headers within headersTimeout, the whole request within
  // requestTimeout, an idle keep-alive connection after keepAliveTimeout (checked every second).
  const http = createHttpServer({
    headersTimeout: limitsConfig.headersTimeoutMs,
    requestTimeout: Math.max(limitsConfig.requestTimeoutMs, limitsConfig.headersTimeoutMs),
    keepAliveTimeout: limitsConfig.keepAliveTimeoutMs,
    connectionsCheckingInterval: 1000,
  });
  // A connection that never sends a request is closed after headersTimeout too: Node's own timer
  // starts only with a request's first bytes.
  const silent = new WeakMap<object, NodeJS.Timeout>();
  let draining = false;
  // Connections opened once the drain started: their requests get a retryable 503 (see drain).
  const openedDraining = new WeakSet<object>();
  http.on("connection", (socket) => {
    // (One of several processes has stopped listening: a connection still handed over is served.)
    if (draining && !cluster.isWorker) openedDraining.add(socket);
    const timer = setTimeout(() => socket.destroy(), limitsConfig.headersTimeoutMs);
    timer.unref();
    silent.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
  });
  const spoke = (socket: object) => clearTimeout(silent.get(socket));

  // Upgrades are handed over here rather than with `server: http`, with which ws would also take
  // the HTTP server's errors (a taken port) and graphql-ws would only log them: listen() reports them.
  const sockets = createWebSocketEndpoint(app, schema, limits, MAX_BODY_BYTES);
  http.on("upgrade", (req, socket, head) => {
    spoke(socket);
    if (draining) {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    sockets.handleUpgrade(req, socket, head);
  });

  const apollo = new ApolloServer<RequestContext>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    // Our drain (main.ts) decides when Apollo stops: on its own it would stop at SIGTERM, failing
    // the requests in flight (outside tests, where NODE_ENV=test hides it).
    stopOnTerminationSignals: false,
    introspection: limitsConfig.introspection,
    parseOptions: limits.parseOptions,
    validationRules: limits.validationRules,
    plugins: [
      limitsPlugin(limits, schema),
      // HTTP caching of loyalty data is never right; the default plugin would cost a hook per field.
      ApolloServerPluginCacheControlDisabled(),
      // GraphiQL is ours (served from local files, switched by GRAPHIQL); Apollo's landing page
      // would load Apollo's from a CDN, in production too.
      ApolloServerPluginLandingPageDisabled(),
      operationMetricsPlugin(app.metrics),
      unavailablePlugin(),
      {
        async requestDidStart() {
          return {
            async didEncounterErrors({ errors, contextValue }) {
              for (const error of errors) {
                if (isExposed(error) || (error.originalError && isExposed(error.originalError))) continue;
                if ((error as any).extensions?.validationErrors || (error.originalError as any)?.extensions?.validationErrors) continue;
                if (warnIfTransient(contextValue?.log ?? app.log, error, { path: error.path })) continue;
                const target: any = error.originalError ?? error;
                target[REQUEST_ID] = contextValue?.requestId;
                (error as any)[REQUEST_ID] = contextValue?.requestId;
                (contextValue?.log ?? app.log).error({ err: target, path: error.path }, "unexpected error");
              }
            },
          };
        },
      },
    ],
  });
  await apollo.start();
  shareWithSupervisor(app.metrics);
  // Buckets shared through Redis: the first requests should not fall back to this process's.
  await limits.ready(2000);

  // Requests being answered, for the drain.
  // Once the requests of the drain are answered: anything later gets a retryable 503.
  let refusing = false;
  const answering = new Set<ServerResponse>();
  http.on("request", (req, res) => {
    spoke(req.socket);
    answering.add(res);
    res.once("close", () => answering.delete(res));
    // Each connection closes after its answer once draining (the client's next request goes elsewhere).
    if (draining) res.shouldKeepAlive = false;
    void handle(req, res).catch((err) => {
      app.log.error({ err }, "http handler failed");
      if (!res.headersSent) send(res, 500, "application/json", JSON.stringify({ error: "internal error" }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Nearly every request is a POST to exactly /graphql: no URL to parse for that one.
    const url = req.url === "/graphql" ? GRAPHQL_URL : new URL(req.url ?? "/", "http://localhost");
    const requestId = requestIdOf(req);
    res.setHeader("x-request-id", requestId);
    if (app.log.isLevelEnabled("debug")) {
      const started = performance.now();
      res.on("finish", () =>
        app.log.debug({ requestId, method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(performance.now() - started) }, "request"),
      );
    }
    if (url.pathname === "/healthz") return send(res, 200, "application/json", JSON.stringify({ status: "ok" }));
    if (url.pathname === "/metrics") return serveMetrics(req, res);
    if (url.pathname === "/readyz") {
      // A load balancer stops sending here as soon as the drain starts.
      if (draining)
        return send(res, 503, "application/json", JSON.stringify({ status: "draining", detail: "shutting down: answering the requests already received" }));
      const ready = await readiness(app);
      return send(res, ready.ok ? 200 : 503, "application/json", JSON.stringify({ status: ready.ok ? "ready" : "not ready", detail: ready.detail }));
    }
    if (refusing || openedDraining.has(req.socket)) return sendError(res, new Unavailable("restarting", true));
    const asset = limitsConfig.graphiql ? graphiqlAsset(url.pathname) : undefined;
    if (asset) {
      res.setHeader("cache-control", "public, max-age=3600");
      return send(res, 200, asset.type, asset.body);
    }
    if (url.pathname !== "/graphql") return send(res, 404, "application/json", JSON.stringify({ error: "not found" }));
    if (limitsConfig.graphiql && req.method === "GET" && (req.headers.accept ?? "").includes("text/html") && !url.search) {
      return send(res, 200, "text/html; charset=utf-8", GRAPHIQL_HTML);
    }

    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const clientAddress = req.socket.remoteAddress ?? "";
    // The credential first, from the headers: a bad one is UNAUTHENTICATED (in Apollo's answer,
    // below) before anything is parsed, and an empty bucket is THROTTLED before the body is even
    // read (Node discards a body left unread), so a flood costs a header parse and a bucket read.
    const actor = await actorFor(app, req.headers.authorization, requestId).catch((err: GraphQLError) => err);
    if (actor instanceof GraphQLError && actor.extensions.code === UNAVAILABLE) {
      // Not a credential naming no one: nothing is drawn from the address's bucket.
      return sendError(res, actor);
    }
    if (actor instanceof GraphQLError) {
      // A credential that names no one is answered before its body is read, and draws from its
      // address's bucket as a caller without one does: guessing keys is throttled, and random
      // keys cannot buy a megabyte's parse each.
      const anonymous: Actor = { kind: "anonymous" };
      const throttled = await limits.throttledBeforeParsing(anonymous, clientAddress);
      if (throttled && throttled.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, throttled.delayMs));
      if (!throttled) await limits.debit(anonymous, clientAddress, 1);
      const error = throttled?.error ?? actor;
      const status = throttled ? 429 : ((error.extensions.http as { status?: number } | undefined)?.status ?? 401);
      if (throttled) res.setHeader("retry-after", String(throttled.error.extensions.retryAfterSeconds));
      const { http: _http, ...extensions } = error.extensions;
      return send(res, status, "application/json", JSON.stringify({ errors: [{ message: error.message, extensions }] }));
    }
    const throttled = await limits.throttledBeforeParsing(actor, clientAddress);
    if (throttled) {
      const { error, delayMs } = throttled;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      res.setHeader("retry-after", String(error.extensions.retryAfterSeconds));
      const { http: _http, ...extensions } = error.extensions;
      return send(res, 429, "application/json", JSON.stringify({ errors: [{ message: error.message, extensions }], extensions: { cost: extensions.cost } }));
    }
    let body: unknown = undefined;
    if (req.method === "POST") {
      let raw: string;
      try {
        raw = await readBody(req);
      } catch (err) {
        const status = (err as any).status ?? 400;
        if (status === 413) res.setHeader("connection", "close");
        return send(
          res,
          status,
          "application/json",
          JSON.stringify({ errors: [{ message: (err as Error).message, extensions: { code: status === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST" } }] }),
        );
      }
      try {
        body = raw.length ? JSON.parse(raw) : {};
      } catch {
        return send(
          res,
          400,
          "application/json",
          JSON.stringify({ errors: [{ message: "request body is not valid JSON", extensions: { code: "BAD_REQUEST" } }] }),
        );
      }
      const problem = checkJsonShape(body);
      if (problem) return send(res, problem.status, "application/json", JSON.stringify({ errors: [problem.error] }));
    }
    const query = req.method === "POST" ? (body as { query?: unknown } | null)?.query : url.search ? new URLSearchParams(url.search).get("query") : undefined;
    if (typeof query === "string" && subscribesOverHttp(query, limits.parseOptions)) {
      const error = { message: "Subscriptions are served over WebSocket (graphql-ws) on this same path, not over HTTP", extensions: { code: "BAD_REQUEST" } };
      return send(res, 400, "application/json", JSON.stringify({ errors: [error] }));
    }
    const sql = new CountingQueryable(app.db);
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? "GET", headers, search: url.search, body },
      context: async () => createContext(app, actor, requestId, sql, clientAddress),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    // SQL statements this request's reads sent (writes go in shared batches and are not counted).
    res.setHeader("x-sql-statements", String(sql.statements));
    res.statusCode = response.status ?? 200;
    if (response.body.kind === "complete") {
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  }

  async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "application/json", JSON.stringify({ error: "GET /metrics" }));
    const access = metricsAccess(req.socket.remoteAddress, req.headers, app.config.metricsToken);
    if (!access.ok) return send(res, access.status, "application/json", JSON.stringify({ error: access.message }));
    try {
      send(res, 200, METRICS_CONTENT_TYPE, await metricsText(app.metrics));
    } catch (err) {
      app.log.error({ err }, "metrics could not be collected");
      send(res, 503, "application/json", JSON.stringify({ error: "metrics could not be collected" }));
    }
  }

  const waitUntil = async (done: () => boolean, deadline: number) => {
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const drain = async (deadline: number) => {
    draining = true;
    // One of several API processes stops listening at once: the supervisor's socket, which keeps
    // its queue of connections, deals new ones to the others. Alone, a process keeps listening
    // until it stops: closing the socket would reset the connections queued in it, requests
    // clients have sent; they are accepted and answered 503 instead (retryable, nothing done).
    // Either way open connections are left be (http.close() would also close those with no
    // request parsed yet): each gets its request answered, with "Connection: close".
    if (cluster.isWorker) NetServer.prototype.close.call(http);
    for (const res of answering) if (!res.headersSent) res.shouldKeepAlive = false;
    await sockets.drain(deadline);
    await waitUntil(() => answering.size === 0, deadline);
    // Connections that stayed idle all along: closed now (a request that comes after all gets a 503).
    refusing = true;
    http.closeIdleConnections();
  };

  const stop = async () => {
    await limits.close();
    await sockets.stop();
    http.closeAllConnections?.();
    // Resolves also for a server that never listened (its callback then gets an error).
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await apollo.stop();
  };
  try {
    await listen(http, options.port ?? 0, options.host ?? "127.0.0.1");
  } catch (err) {
    // Nothing listens: undo what was started, so the caller can end cleanly (main exits with the reason).
    await stop();
    throw err;
  }
  // Later errors of the listening socket (accept failing with EMFILE under load) are logged: an
  // 'error' event without a listener would end the process and every request in flight.
  http.on("error", (err) => app.log.error({ err }, "HTTP server error"));
  const { port } = http.address() as AddressInfo;
  const host = options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1";
  return {
    url: `http://${host}:${port}/graphql`,
    wsUrl: `ws://${host}:${port}/graphql`,
    port,
    http,
    sweepRevokedSockets: sockets.sweepRevokedSockets,
    drain,
    closeSockets: (deadline) => sockets.closeAll(deadline),
    stop,
  };
}
