/**
 * createServer(app): one HTTP server on one port with GraphQL over HTTP (Apollo Server), GraphQL
 * over WebSocket (graphql-ws) on the same /graphql path, GraphiQL, /healthz and /readyz.
 * Tests start it on port 0; main.ts on PORT.
 */
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled } from "@apollo/server/plugin/disabled";
import { GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocket, WebSocketServer } from "ws";
import { App } from "./app";
import { createContext, RequestContext } from "./context";
import { getSchema } from "./schema";
import { formatError, isExposed, REQUEST_ID } from "./api/error-masking";
import { GRAPHIQL_HTML, graphiqlAsset } from "./api/graphiql";
import { checkJsonShape } from "./api/nul";
import { Actor } from "./modules/auth/actor";
import { KEY_CACHE_MS } from "./modules/auth/auth.service";
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error("request body too large"), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Credential → actor; a bad credential is a typed UNAUTHENTICATED with HTTP 401. */
async function actorFor(app: App, authorization: string | undefined, requestId: string): Promise<Actor> {
  try {
    return await app.auth.authenticate(authorization);
  } catch (err) {
    if (err instanceof GraphQLError) {
      throw new GraphQLError(err.message, { extensions: { ...err.extensions, http: { status: 401 } } });
    }
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
      const reason = err.code === "EADDRINUSE" ? "is in use by another process" : err.code === "EACCES" ? "needs privileges this process does not have" : `cannot be listened on (${err.message})`;
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
    return { ok: true, detail: "ready" };
  } catch (err) {
    // The reason (host, user, table) is for the operator's log, not for an anonymous caller.
    app.log.warn({ err }, "readiness check failed");
    return { ok: false, detail: "database unreachable or not migrated" };
  }
}

export async function createServer(app: App, options: { port?: number; host?: string } = {}): Promise<RunningServer> {
  const schema = await getSchema();
  const http = createHttpServer();
  // Upgrades are handed over here rather than with `server: http`, with which ws would also take
  // the HTTP server's errors (a taken port) and graphql-ws would only log them: listen() reports them.
  const wss = new WebSocketServer({ noServer: true, path: "/graphql" });
  http.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)));

  const apollo = new ApolloServer<RequestContext>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    plugins: [
      // HTTP caching of loyalty data is never right; the default plugin would cost a hook per field.
      ApolloServerPluginCacheControlDisabled(),
      operationMetricsPlugin(app.metrics),
      {
        async requestDidStart() {
          return {
            async didEncounterErrors({ errors, contextValue }) {
              for (const error of errors) {
                if (isExposed(error) || (error.originalError && isExposed(error.originalError))) continue;
                if ((error as any).extensions?.validationErrors || (error.originalError as any)?.extensions?.validationErrors) continue;
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

  // WebSockets opened with an API key, by key: a revoked key's connections close (its subscriptions
  // would otherwise go on receiving events).
  const socketsByKey = new Map<string, Set<WebSocket>>();
  const programOfKey = new Map<string, string>();
  const closeRevoked = (keyId: string) => {
    for (const socket of socketsByKey.get(keyId) ?? []) socket.close(4403, "Forbidden: API key revoked");
    socketsByKey.delete(keyId);
    programOfKey.delete(keyId);
  };
  app.auth.revokedListeners.add(closeRevoked);
  // A revocation this process did not hear (its message lost with Redis down) still closes the
  // sockets: their keys are checked in the database as often as the key cache forgets.
  const sweepRevokedSockets = async () => {
    const keys = [...socketsByKey.keys()].map((keyId) => ({ programId: programOfKey.get(keyId)!, keyId }));
    for (const keyId of await app.auth.revokedAmong(keys)) closeRevoked(keyId);
  };
  const sweeper = setInterval(() => void sweepRevokedSockets().catch((err) => app.log.error({ err }, "revoked-key sweep failed")), KEY_CACHE_MS);
  sweeper.unref();

  const wsCleanup = useServer<Record<string, unknown>, { actor?: Actor }>(
    {
      schema,
      onConnect: async (ctx) => {
        const auth = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const revocationsBefore = app.auth.revocationCount;
        try {
          ctx.extra.actor = await app.auth.authenticate(typeof auth === "string" ? auth : undefined);
        } catch {
          return false; // closes with 4403 Forbidden
        }
        // Gone while we authenticated: graphql-ws will not call onDisconnect for it.
        if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
        const actor = ctx.extra.actor;
        if (actor.kind === "key") {
          const { socket } = ctx.extra;
          const sockets = socketsByKey.get(actor.keyId) ?? new Set();
          socketsByKey.set(actor.keyId, sockets.add(socket));
          programOfKey.set(actor.keyId, actor.programId);
          socket.once("close", () => {
            sockets.delete(socket);
            if (sockets.size === 0 && socketsByKey.get(actor.keyId) === sockets) {
              socketsByKey.delete(actor.keyId);
              programOfKey.delete(actor.keyId);
            }
          });
          // A revocation heard while this key was checked may be its own, closing sockets before
          // this one was listed: check the key again, from the database.
          if (app.auth.revocationCount !== revocationsBefore && !(await app.auth.isKeyActive(actor.programId, actor.keyId))) return false;
        }
        app.metrics.subscriptions.inc();
        return true;
      },
      // Called only for connections onConnect accepted.
      onDisconnect: () => app.metrics.subscriptions.dec(),
      onSubscribe: (_ctx, _id, payload) => {
        const problem = checkJsonShape(payload);
        if (problem) return [new GraphQLError(problem.error.message, { extensions: problem.error.extensions })];
        return undefined;
      },
      context: (ctx) => createContext(app, ctx.extra.actor ?? { kind: "anonymous" }, randomUUID()),
      onNext: (_ctx, _id, _payload, args, result) => {
        if (!result.errors) return result as any;
        const requestId = (args.contextValue as RequestContext | undefined)?.requestId;
        const errors = result.errors.map((e) => {
          if (!isExposed(e) && !isExposed(e.originalError)) {
            (e as any)[REQUEST_ID] = requestId;
            app.log.error({ err: e.originalError ?? e, requestId, path: e.path }, "unexpected error in a subscription");
          }
          return formatError(e.toJSON(), e);
        });
        return { ...result, errors } as any;
      },
      // Errors before execution are the client's: the document does not parse or validate.
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((e) => formatError({ ...e.toJSON(), extensions: { code: "GRAPHQL_VALIDATION_FAILED", ...e.extensions } }, e)) as any,
    },
    wss,
  );

  http.on("request", (req, res) => {
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
      const ready = await readiness(app);
      return send(res, ready.ok ? 200 : 503, "application/json", JSON.stringify({ status: ready.ok ? "ready" : "not ready", detail: ready.detail }));
    }
    const asset = graphiqlAsset(url.pathname);
    if (asset) {
      res.setHeader("cache-control", "public, max-age=3600");
      return send(res, 200, asset.type, asset.body);
    }
    if (url.pathname !== "/graphql") return send(res, 404, "application/json", JSON.stringify({ error: "not found" }));
    if (req.method === "GET" && (req.headers.accept ?? "").includes("text/html") && !url.search) {
      return send(res, 200, "text/html; charset=utf-8", GRAPHIQL_HTML);
    }

    let body: unknown = undefined;
    if (req.method === "POST") {
      let raw: string;
      try {
        raw = await readBody(req);
      } catch (err) {
        return send(res, (err as any).status ?? 400, "application/json", JSON.stringify({ errors: [{ message: (err as Error).message, extensions: { code: "BAD_REQUEST" } }] }));
      }
      try {
        body = raw.length ? JSON.parse(raw) : {};
      } catch {
        return send(res, 400, "application/json", JSON.stringify({ errors: [{ message: "request body is not valid JSON", extensions: { code: "BAD_REQUEST" } }] }));
      }
      const problem = checkJsonShape(body);
      if (problem) return send(res, problem.status, "application/json", JSON.stringify({ errors: [problem.error] }));
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const sql = new CountingQueryable(app.db);
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? "GET", headers, search: url.search, body },
      context: async () => createContext(app, await actorFor(app, req.headers.authorization, requestId), requestId, sql),
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

  const stop = async () => {
    app.auth.revokedListeners.delete(closeRevoked);
    clearInterval(sweeper);
    await wsCleanup.dispose();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
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
    sweepRevokedSockets,
    stop,
  };
}
