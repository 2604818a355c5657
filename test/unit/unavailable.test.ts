/**
 * The classifier of transient failures (src/api/unavailable.ts) over the shapes the drivers really
 * throw: pg's DatabaseError with a SQLSTATE and severity, node's socket errors from a refused or cut
 * connection, pg's and pg-pool's own connection errors, ioredis without its offline queue, nested in
 * GraphQL's originalError, `cause` chains and AggregateError. A bug stays a bug.
 */
import { createServer, Server, Socket } from "node:net";
import { AddressInfo } from "node:net";
import { GraphQLError, locatedError } from "graphql";
import { Redis } from "ioredis";
import { Client, DatabaseError, Pool } from "pg";
import { formatError } from "../../src/api/error-masking";
import { BadInput } from "../../src/api/errors";
import { Throttled } from "../../src/api/limits/request-limits";
import { TransientFailure, transientKind, unavailablePlugin, warnIfTransient } from "../../src/api/unavailable";

/** A DatabaseError as pg-protocol's parser builds it from the server's ErrorResponse. */
function serverError(code: string, message: string, severity = "ERROR"): DatabaseError {
  const error = new DatabaseError(message, message.length, "error");
  Object.assign(error, { code, severity });
  return error;
}

/** A TCP server on a free port that does `onConnection` to each connection (never a PostgreSQL). */
async function fakeServer(onConnection: (socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (it was, a moment ago). */
async function closedPort(): Promise<number> {
  const server = await fakeServer(() => undefined);
  await server.close();
  return server.port;
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (err: unknown) => err,
  );

describe("transientKind", () => {
  it("recognises the server's SQLSTATEs of a lost connection, a shutdown, no slot, and a lost race", () => {
    expect(transientKind(serverError("57P01", "terminating connection due to administrator command", "FATAL"))).toBe("database");
    expect(transientKind(serverError("57P02", "terminating connection because of crash of another server process", "FATAL"))).toBe("database");
    expect(transientKind(serverError("57P03", "the database system is starting up", "FATAL"))).toBe("database");
    expect(transientKind(serverError("53300", "sorry, too many clients already", "FATAL"))).toBe("database");
    expect(transientKind(serverError("08006", "connection failure"))).toBe("database");
    expect(transientKind(serverError("08P01", "protocol violation"))).toBe("database");
    expect(transientKind(serverError("40001", "could not serialize access due to concurrent update"))).toBe("contention");
    expect(transientKind(serverError("40P01", "deadlock detected"))).toBe("contention");
    expect(transientKind(serverError("55P03", "could not obtain lock on row"))).toBe("contention");
    // A database that takes no connections now (ALLOW_CONNECTIONS false) refuses at connect, FATAL;
    // the same SQLSTATE as a statement's ERROR is that statement's fault.
    expect(transientKind(serverError("55000", 'database "shop" is not currently accepting connections', "FATAL"))).toBe("database");
    expect(transientKind(serverError("55000", "currval of sequence is not yet defined in this session"))).toBeUndefined();
  });

  it("leaves the database's answers about the statement itself alone", () => {
    expect(transientKind(serverError("42P01", 'relation "programs" does not exist'))).toBeUndefined();
    expect(transientKind(serverError("23505", "duplicate key value violates unique constraint"))).toBeUndefined();
    expect(transientKind(serverError("22P02", "invalid input syntax for type uuid"))).toBeUndefined();
    expect(transientKind(serverError("28P01", "password authentication failed", "FATAL"))).toBeUndefined();
  });

  it("recognises a refused connection, and pg's own errors for a connection cut or never made", async () => {
    const refused = await failureOf(new Client({ host: "127.0.0.1", port: await closedPort() }).connect());
    expect(refused).toMatchObject({ code: "ECONNREFUSED" });
    expect(transientKind(refused)).toBe("database");

    // A server that accepts and hangs up at once, as a crashing PostgreSQL does.
    const hangsUp = await fakeServer((socket) => socket.destroy());
    try {
      const cut = await failureOf(new Client({ host: "127.0.0.1", port: hangsUp.port }).connect());
      expect(String((cut as Error).message)).toMatch(/^Connection terminated|ECONNRESET/);
      expect(transientKind(cut)).toBe("database");
    } finally {
      await hangsUp.close();
    }

    // One that accepts and never answers: pg-pool (or the client it made) gives up after connectionTimeoutMillis.
    const silent = await fakeServer(() => undefined);
    const pool = new Pool({ host: "127.0.0.1", port: silent.port, connectionTimeoutMillis: 50 });
    try {
      const timedOut = await failureOf(pool.query("SELECT 1"));
      expect((timedOut as Error).message).toMatch(/^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)$/);
      expect(transientKind(timedOut)).toBe("database");
    } finally {
      await pool.end();
      await silent.close();
    }
    // A pool ended by a shutdown: another process (or this one restarted) serves the retry.
    const ended = await failureOf(pool.query("SELECT 1"));
    expect((ended as Error).message).toBe("Cannot use a pool after calling end on the pool");
    expect(transientKind(ended)).toBe("database");
  });

  it("recognises Redis away (no offline queue: the command fails at once)", async () => {
    const redis = new Redis(await closedPort(), "127.0.0.1", {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    redis.on("error", () => undefined);
    try {
      const failure = await failureOf(redis.get("key"));
      expect(transientKind(failure)).toBe("bus");
    } finally {
      redis.disconnect();
    }
  });

  it("looks through originalError, cause chains and AggregateError", () => {
    const lost = serverError("57P01", "terminating connection due to administrator command", "FATAL");
    expect(transientKind(locatedError(lost, undefined, ["recordPurchase"]))).toBe("database");
    expect(transientKind(new Error("loading the program failed", { cause: new Error("query failed", { cause: lost }) }))).toBe("database");
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}:5432`), { code: "ECONNREFUSED", errno: -111, syscall: "connect", address });
    // node's connect to a host with several addresses fails with all of them.
    expect(transientKind(new AggregateError([refused("::1"), refused("127.0.0.1")]))).toBe("database");
    expect(transientKind(new AggregateError([refused("::1"), new TypeError("x is not a function")]))).toBeUndefined();
    expect(transientKind(new AggregateError([]))).toBeUndefined();
  });

  it("takes our write path's failures, and the kind a failure had in the write worker", () => {
    expect(transientKind(new TransientFailure("the write worker stopped before answering the batch", { cause: new Error("write worker exited (1)") }))).toBe(
      "interrupted",
    );
    expect(transientKind(new TransientFailure("Connection terminated unexpectedly", { kind: "database" }))).toBe("database");
  });

  it("keeps a bug a bug", () => {
    expect(transientKind(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBeUndefined();
    expect(transientKind(new Error("program 42 is gone"))).toBeUndefined();
    expect(transientKind(locatedError(new RangeError("Invalid time value"), undefined, ["customer"]))).toBeUndefined();
    expect(transientKind(null)).toBeUndefined();
    expect(transientKind("Connection terminated")).toBeUndefined();
    // A cause chain that loops ends.
    const loop: Error & { cause?: unknown } = new Error("loop");
    loop.cause = loop;
    expect(transientKind(loop)).toBeUndefined();
  });
});

describe("the answer", () => {
  const asResolverError = (err: Error) => locatedError(err, undefined, ["recordPurchase"]);
  // What Apollo hands formatError: the error's extensions, INTERNAL_SERVER_ERROR when it has no code.
  const formatted = (err: GraphQLError) =>
    formatError({ ...err.toJSON(), extensions: { ...err.extensions, code: err.extensions.code ?? "INTERNAL_SERVER_ERROR" } }, err);

  it("is UNAVAILABLE, retryable, in plain words, for a transient failure", () => {
    const error = asResolverError(serverError("57P01", "terminating connection due to administrator command", "FATAL"));
    const answer = formatted(error);
    expect(answer).toEqual({
      message: expect.stringMatching(/^The database is unavailable; retry/),
      path: ["recordPurchase"],
      extensions: { code: "UNAVAILABLE", retryable: true, retryAfterSeconds: 1 },
    });
    expect(answer.message).not.toMatch(/terminating|administrator/);
    expect(formatted(asResolverError(serverError("40001", "could not serialize access"))).message).toMatch(/^The request met a concurrent one/);
  });

  it("stays INTERNAL_SERVER_ERROR, with no retryable flag, for a bug", () => {
    const answer = formatted(asResolverError(new TypeError("Cannot read properties of undefined (reading 'id')")));
    expect(answer.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR" });
    expect(formatted(asResolverError(serverError("42P01", 'relation "programs" does not exist'))).extensions).toEqual({ code: "INTERNAL_SERVER_ERROR" });
  });

  it("says retryable for THROTTLED, and nothing for the client's own mistakes", () => {
    const throttled = new Throttled(
      { requestedQueryCost: 10, actualQueryCost: null, throttleStatus: { maximumAvailable: 100, currentlyAvailable: 0, restoreRate: 10 } } as any,
      2,
    );
    expect(formatted(throttled).extensions).toMatchObject({ code: "THROTTLED", retryable: true, retryAfterSeconds: 2 });
    expect(formatted(throttled).extensions).not.toHaveProperty("http");
    expect(formatted(new BadInput("amount", "amount must be positive")).extensions).toEqual({ code: "BAD_USER_INPUT", field: "amount" });
  });

  it("is logged at warn with its code and message, without a stack; a bug is left to the caller", () => {
    const log = { warn: jest.fn() } as any;
    const lost = asResolverError(new Error("outer", { cause: serverError("57P01", "terminating connection due to administrator command", "FATAL") }));
    expect(warnIfTransient(log, lost, { requestId: "r-1" })).toBe(true);
    expect(log.warn).toHaveBeenCalledWith(
      { requestId: "r-1", kind: "database", failure: { code: "57P01", message: "terminating connection due to administrator command" } },
      expect.any(String),
    );
    expect(warnIfTransient(log, new TypeError("bug"), {})).toBe(false);
    expect(log.warn).toHaveBeenCalledTimes(1);
  });

  it("goes out over HTTP as 503 with Retry-After when every error is UNAVAILABLE", async () => {
    const hooks = (await unavailablePlugin().requestDidStart!({} as any))!;
    const answer = (codes: string[]) => {
      const response = {
        http: { status: undefined as number | undefined, headers: new Map<string, string>() },
        body: { kind: "single", singleResult: { errors: codes.map((code) => ({ message: "m", extensions: { code } })) } },
      };
      return hooks.willSendResponse!({ response } as any).then(() => response.http);
    };
    expect(await answer(["UNAVAILABLE", "UNAVAILABLE"])).toEqual({ status: 503, headers: new Map([["retry-after", "1"]]) });
    expect(await answer(["UNAVAILABLE", "INTERNAL_SERVER_ERROR"])).toEqual({ status: undefined, headers: new Map() });
    expect(await answer([])).toEqual({ status: undefined, headers: new Map() });
  });
});
