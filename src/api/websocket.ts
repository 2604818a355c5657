/**
 * GraphQL over WebSocket (graphql-ws) on the HTTP server's /graphql path: every operation goes
 * through what an HTTP request does (credential, JSON shape, token limit, validation with the
 * limits, cost charged to the credential's bucket), and a socket lives only while its credential
 * does (docs/limits.md). server.ts hands it the upgrades.
 */
import { randomUUID } from "node:crypto";
import { IncomingMessage } from "node:http";
import { Duplex } from "node:stream";
import {
  DocumentNode,
  ExecutionResult,
  getOperationAST,
  GraphQLError,
  GraphQLSchema,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
} from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocket, WebSocketServer } from "ws";
import type { App } from "../app";
import { createContext, RequestContext } from "../context";
import { formatError, isExposed, REQUEST_ID } from "./error-masking";
import { Unauthenticated } from "./errors";
import { Unavailable, warnIfTransient } from "./unavailable";
import { checkJsonShape } from "./nul";
import { callerOf, Charge, QueryLimitExceeded, RequestLimits, tokenLimitError, withoutSuggestions } from "./limits/request-limits";
import { Actor } from "../modules/auth/actor";
import { KEY_CACHE_MS } from "../modules/auth/auth.service";

export interface WebSocketEndpoint {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes the sockets whose credential no longer works, checked in the database (done every KEY_CACHE_MS anyway). */
  sweepRevokedSockets(): Promise<void>;
  /** Graceful drain, first step: no new operation is taken; resolves once the queries and mutations running are answered. */
  drain(deadline: number): Promise<void>;
  /** Graceful drain, last step: once what was sent has left, every socket closes with 1001 (the client reconnects elsewhere and resumes). */
  closeAll(deadline: number): Promise<void>;
  stop(): Promise<void>;
}

/** A graphql-ws message's type, or undefined when it is not a JSON object with one. */
function messageType(data: unknown): string | undefined {
  try {
    const message = JSON.parse(String(data));
    return message && typeof message === "object" && typeof message.type === "string" ? message.type : undefined;
  } catch {
    return undefined;
  }
}

export function createWebSocketEndpoint(app: App, schema: GraphQLSchema, limits: RequestLimits, maxPayload: number): WebSocketEndpoint {
  const limitsConfig = app.config.limits;
  // A WebSocket message is bounded as an HTTP body is (ws closes with 1009 past it).
  const wss = new WebSocketServer({ noServer: true, path: "/graphql", maxPayload });
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit("connection", ws, req);
      // graphql-ws closes with 4500 (internal error, and a stack on stderr) on a message of a type
      // only a server sends: such a client is refused as a bad request (4400) before it sees it.
      const handlers = ws.listeners("message") as Array<(data: unknown, isBinary: boolean) => void>;
      ws.removeAllListeners("message");
      ws.on("message", (data, isBinary) => {
        const type = messageType(data);
        if (type === "next" || type === "error" || type === "connection_ack") return ws.close(4400, `A client does not send messages of type ${type}`);
        for (const handler of handlers) handler.call(ws, data, isBinary);
      });
      // graphql-ws prints a socket's errors to stderr with their stack: one line of stack per
      // stranger's oversized message. ws has already closed such a socket (1009); a debug line will do.
      ws.removeAllListeners("error");
      ws.on("error", (err) => app.log.debug({ err }, "websocket error"));
    });

  // Open WebSockets by credential (the key of its bucket): one credential holds at most
  // maxSocketsPerCredential; a revoked key's sockets close at once (4403); every socket's credential
  // is checked again on each operation and every KEY_CACHE_MS, so an expired customer token, an
  // erased customer or a revocation this process did not hear (Redis down) closes it too (4401).
  const socketsByCredential = new Map<string, Set<WebSocket>>();
  const openSockets = new Map<WebSocket, { authorization: string; actor: Actor }>();
  const closeRevoked = (keyId: string) => {
    for (const socket of socketsByCredential.get(`key:${keyId}`) ?? []) socket.close(4403, "Forbidden: API key revoked");
  };
  app.auth.revokedListeners.add(closeRevoked);
  const closeErased = (customerId: string) => {
    for (const socket of socketsByCredential.get(`customer:${customerId}`) ?? []) socket.close(4401, "Unauthorized: the customer was erased");
  };
  app.auth.erasedListeners.add(closeErased);
  const sweepRevokedSockets = async () => {
    const keys = new Map<string, string>();
    for (const { actor } of openSockets.values()) if (actor.kind === "key") keys.set(actor.keyId, actor.programId);
    for (const keyId of await app.auth.revokedAmong([...keys].map(([keyId, programId]) => ({ programId, keyId })))) closeRevoked(keyId);
    for (const [socket, { authorization, actor }] of openSockets) {
      if (actor.kind === "customer" && !(await stillValid(authorization)))
        socket.close(4401, "Unauthorized: the customer token expired or its customer was erased");
    }
  };
  const stillValid = async (authorization: string): Promise<Actor | null> => {
    try {
      const actor = await app.auth.authenticate(authorization);
      return actor.kind === "anonymous" ? null : actor;
    } catch (err) {
      if (err instanceof GraphQLError) return null;
      throw err;
    }
  };
  /** stillValid, or Unavailable when the credential cannot be checked now (the database is down): the client tries again later. */
  const checkCredential = async (authorization: string): Promise<Actor | null | Unavailable> => {
    try {
      return await stillValid(authorization);
    } catch (err) {
      if (warnIfTransient(app.log, err, { during: "websocket credential check" })) return new Unavailable();
      throw err;
    }
  };
  const sweeper = setInterval(() => void sweepRevokedSockets().catch((err) => app.log.error({ err }, "socket credential sweep failed")), KEY_CACHE_MS);
  sweeper.unref();

  // Draining: operations refused; queries and mutations running, and when a socket last sent.
  let draining = false;
  let running = 0;
  let lastSent = 0;
  const waitUntil = async (done: () => boolean, deadline: number) => {
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };

  type SocketExtra = { actor?: Actor; authorization?: string; admitted?: Set<string>; inFlight?: Map<string, Charge> };
  const wsRules = [...specifiedRules, ...limits.validationRules, ...(limitsConfig.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
  const charges = new WeakMap<object, Charge>();
  const wsCleanup = useServer<Record<string, unknown>, SocketExtra>(
    {
      schema,
      connectionInitWaitTimeout: limitsConfig.connectionInitTimeoutMs,
      onConnect: async (ctx) => {
        const { socket } = ctx.extra;
        const given = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const authorization = typeof given === "string" ? given : "";
        // No operation works without a credential: an anonymous socket would only hold a slot.
        if (!authorization.replace(/^Bearer\s+/i, "").trim()) {
          socket.close(4401, "Unauthorized: send a credential in connection_init ({ authorization: 'Bearer …' })");
          return false;
        }
        const revocationsBefore = app.auth.revocationCount;
        const actor = await checkCredential(authorization);
        if (actor instanceof Unavailable) {
          // 1013 is WebSocket's "try again later": graphql-ws clients reconnect after it.
          socket.close(1013, "Try again later: the credential could not be checked");
          return false;
        }
        if (!actor) return false; // closes with 4403 Forbidden
        // Gone while we authenticated: graphql-ws will not call onDisconnect for it.
        if (socket.readyState !== socket.OPEN) return false;
        const { key } = callerOf(actor, ctx.extra.request.socket.remoteAddress ?? "");
        const sockets = socketsByCredential.get(key) ?? new Set();
        if (sockets.size >= limitsConfig.maxSocketsPerCredential) {
          socket.close(4429, `Too many WebSockets for this credential (at most ${limitsConfig.maxSocketsPerCredential})`);
          return false;
        }
        socketsByCredential.set(key, sockets.add(socket));
        openSockets.set(socket, { authorization, actor });
        ctx.extra.actor = actor;
        ctx.extra.authorization = authorization;
        let expiry: NodeJS.Timeout | undefined;
        if (actor.kind === "customer") {
          expiry = setTimeout(() => socket.close(4401, "Unauthorized: the customer token expired"), Math.max(0, actor.expiresAt - app.clock().getTime()));
          expiry.unref();
        }
        socket.once("close", () => {
          clearTimeout(expiry);
          // Queries and mutations cut off by the close end their turn in flight.
          for (const charge of ctx.extra.inFlight?.values() ?? []) charge.leave?.();
          running -= ctx.extra.inFlight?.size ?? 0;
          ctx.extra.inFlight?.clear();
          openSockets.delete(socket);
          sockets.delete(socket);
          if (sockets.size === 0 && socketsByCredential.get(key) === sockets) socketsByCredential.delete(key);
        });
        // A revocation heard while this key was checked may be its own, closing sockets before
        // this one was listed: check the key again, from the database.
        if (actor.kind === "key" && app.auth.revocationCount !== revocationsBefore && !(await app.auth.isKeyActive(actor.programId, actor.keyId))) return false;
        app.metrics.subscriptions.inc();
        return true;
      },
      // Called only for connections onConnect accepted.
      onDisconnect: () => app.metrics.subscriptions.dec(),
      // An operation ended (or the client ended it): its turn in flight ends too, answered or not
      // (a query the client completes before its answer never reaches onNext).
      onComplete: (ctx, id) => {
        ctx.extra.admitted?.delete(id);
        ctx.extra.inFlight?.get(id)?.leave?.();
        if (ctx.extra.inFlight?.delete(id)) running--;
      },
      /**
       * Each operation goes through what an HTTP request does: the credential checked again, the
       * JSON shape check (nesting, NUL), the parser's token limit, validation with the limits, the cost charged to the
       * credential's bucket; then the subscription count of the socket.
       */
      onSubscribe: async (ctx, id, payload) => {
        const { socket, request } = ctx.extra;
        // The process is going away: the client subscribes again on its next connection (to another process).
        if (draining) return [new Unavailable("restarting")];
        const actor = await checkCredential(ctx.extra.authorization ?? "");
        if (actor instanceof Unavailable) return [actor];
        if (!actor) {
          // The error is sent first; the close frame follows it on the socket.
          setImmediate(() => socket.close(4401, "Unauthorized: the credential expired, was revoked or its customer erased"));
          return [new Unauthenticated("This socket's credential is no longer valid")];
        }
        // An empty bucket, or a Retry-After not waited, as over HTTP (and held back alike).
        const throttled = await limits.throttledBeforeParsing(actor, request.socket.remoteAddress ?? "");
        if (throttled) {
          if (throttled.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, throttled.delayMs));
          return [throttled.error];
        }
        const problem = checkJsonShape(payload);
        if (problem) return [new GraphQLError(problem.error.message, { extensions: problem.error.extensions })];
        let document: DocumentNode;
        try {
          document = parse(payload.query, limits.parseOptions);
        } catch (err) {
          await limits.debit(actor, request.socket.remoteAddress ?? "", Math.ceil(String(payload.query ?? "").length / 10));
          const syntax = err instanceof GraphQLError ? err : new GraphQLError(String(err));
          return [tokenLimitError(syntax, limitsConfig.maxTokens) ?? new GraphQLError(syntax.message, { extensions: { code: "GRAPHQL_PARSE_FAILED" } })];
        }
        let invalid: readonly GraphQLError[];
        try {
          invalid = validate(schema, document, wsRules);
        } catch (err) {
          // graphql-js's one-root-field rule for subscriptions evaluates @include/@skip while it
          // validates, and throws on a variable the operation does not declare.
          return [new GraphQLError(err instanceof Error ? err.message : String(err), { extensions: { code: "GRAPHQL_VALIDATION_FAILED" } })];
        }
        if (invalid.length) {
          // Never priced, but parsing and validating it was work (see limits.plugin.ts).
          await limits.debit(actor, request.socket.remoteAddress ?? "", Math.ceil(String(payload.query ?? "").length / 10));
          return invalid;
        }
        const operation = getOperationAST(document, payload.operationName);
        if (!operation)
          return [new GraphQLError("Unable to identify the operation: name one with operationName", { extensions: { code: "OPERATION_RESOLUTION_FAILURE" } })];
        let charge: Charge;
        try {
          charge = await limits.charge(schema, actor, request.socket.remoteAddress ?? "", document, payload.operationName, payload.variables ?? undefined);
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        // Counted here, after the last await: operations subscribing at once each see the others.
        const admitted = (ctx.extra.admitted ??= new Set());
        for (const other of admitted) if (!(other in ctx.subscriptions)) admitted.delete(other);
        if (admitted.size >= limitsConfig.maxSubscriptionsPerSocket) {
          await limits.refund(charge);
          return [
            new QueryLimitExceeded(
              "subscriptions",
              limitsConfig.maxSubscriptionsPerSocket,
              admitted.size + 1,
              `A socket may hold at most ${limitsConfig.maxSubscriptionsPerSocket} operations at once`,
            ),
          ];
        }
        admitted.add(id);
        // A subscription lives long: it does not hold its credential's in-flight budget.
        if (operation.operation === "subscription") charge.leave?.();
        const contextValue = createContext(app, actor, randomUUID(), undefined, request.socket.remoteAddress ?? "");
        charges.set(contextValue, charge);
        if (operation.operation !== "subscription") {
          (ctx.extra.inFlight ??= new Map()).set(id, charge);
          running++;
        }
        return { schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue };
      },
      onNext: async (_ctx, _id, _payload, args, result) => {
        lastSent = Date.now();
        const contextValue = args.contextValue as RequestContext | undefined;
        let answer = result as ExecutionResult;
        // A query or mutation reports its cost as over HTTP; a subscription's events do not.
        const charge = contextValue && charges.get(contextValue);
        const operation = getOperationAST(args.document, args.operationName);
        if (charge && operation && operation.operation !== "subscription") {
          const cost = await limits.settle(charge, schema, args.document, operation, answer.data, !!answer.errors?.length);
          answer = { ...answer, extensions: { ...answer.extensions, cost } };
        }
        if (!answer.errors) return answer as any;
        const requestId = contextValue?.requestId;
        const errors = answer.errors.map((e) => {
          if (!isExposed(e) && !isExposed(e.originalError) && !warnIfTransient(app.log, e, { requestId, path: e.path })) {
            (e as any)[REQUEST_ID] = requestId;
            app.log.error({ err: e.originalError ?? e, requestId, path: e.path }, "unexpected error in a subscription");
          }
          return formatError(e.toJSON(), e);
        });
        return { ...answer, errors } as any;
      },
      // Errors before execution are the client's: the document does not parse or validate, or a limit
      // refused it. One with an originalError is a subscription's stream failing after it started.
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((e) => {
          if (e.originalError && !isExposed(e.originalError)) {
            if (!warnIfTransient(app.log, e, { path: e.path })) app.log.error({ err: e.originalError }, "a subscription's stream failed");
            return formatError(e.toJSON(), e);
          }
          const json = e.toJSON();
          const message = limitsConfig.fieldSuggestions ? json.message : withoutSuggestions(json.message);
          return formatError({ ...json, message, extensions: { code: "GRAPHQL_VALIDATION_FAILED", ...e.extensions } }, e);
        }) as any,
    },
    wss,
  );

  return {
    handleUpgrade,
    sweepRevokedSockets,
    async drain(deadline) {
      draining = true;
      await waitUntil(() => running === 0, deadline);
    },
    async closeAll(deadline) {
      // An event handed to a subscription is resolved, then sent: wait for the sockets to go quiet
      // (nothing sent for a moment, nothing left in their buffers) before closing them. Events of
      // other processes' writes may keep coming: half a second at most, the client's resume gets
      // what comes after.
      const quiet = () => Date.now() - lastSent > 20 && [...wss.clients].every((socket) => socket.bufferedAmount === 0);
      await waitUntil(quiet, Math.min(deadline, Date.now() + 500));
      for (const socket of wss.clients) socket.close(1001, "Server restarting: reconnect, and resubscribe with after: the last sequence received");
      await waitUntil(() => wss.clients.size === 0, Math.min(deadline, Date.now() + 1000));
    },
    async stop() {
      app.auth.revokedListeners.delete(closeRevoked);
      app.auth.erasedListeners.delete(closeErased);
      clearInterval(sweeper);
      await wsCleanup.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
