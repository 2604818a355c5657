/**
 * Retryable errors say so (issue 17): the database really goes away under a running server, and
 * the requests that fail meanwhile answer UNAVAILABLE, retryable, HTTP 503 with Retry-After (over
 * WebSocket the same extensions), never INTERNAL_SERVER_ERROR; the same request sent again once
 * the database is back posts once.
 *
 * PGlite (DATABASE_URL unset) runs inside the test's own process, with no connection of its own to
 * refuse or cut while the server keeps running: these tests need a PostgreSQL server. The
 * classifier and the answer's shape are tested on both (test/unit/unavailable.test.ts).
 */
import { Client as PgClient } from "pg";
import { Client as WsClient } from "graphql-ws";
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, griffinProgram, ok } from "../helpers/operations";
import { PgProxy, startPgProxy } from "../helpers/pg-proxy";

const serverUrl = process.env.DATABASE_URL;
const withServer = serverUrl ? describe : describe.skip;

const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { replayed pointsEarned customer { id points { balance } } } }`;
const PROGRAMS = `{ programs { id } }`;
const RESUME = `subscription($p: ID!, $after: ID) { loyaltyEvents(programId: $p, after: $after) { __typename } }`;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

/** A POST as a client sends it: the answer with its status and the header a retry reads. */
async function post(t: TestApp, query: string, variables: Record<string, unknown> = {}, token = ADMIN_KEY): Promise<Answer> {
  const res = await fetch(t.server.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Answer["body"] };
}

/** Errors a client may send again as they are: UNAVAILABLE, retryable, in plain words (no SQL, no driver's text, no stack). */
function expectRetryableErrors(errors: readonly { message: string; extensions?: Record<string, unknown> }[] | undefined): void {
  expect(errors?.length).toBeGreaterThan(0);
  for (const error of errors ?? []) {
    expect(error.extensions).toEqual({ code: "UNAVAILABLE", retryable: true, retryAfterSeconds: 1 });
    expect(error.message).toMatch(/^The (database is unavailable|write was interrupted)/);
  }
  expect(JSON.stringify(errors)).not.toMatch(/INTERNAL_SERVER_ERROR|stacktrace|SELECT|INSERT|terminat|accepting connections|ECONN|\.ts:/);
}

function expectRetryable(answer: Answer): void {
  expect(answer.status).toBe(503);
  expect(answer.retryAfter).toBe("1");
  expectRetryableErrors(answer.body.errors);
}

/** Sends `send` again, as a client told "retryable" does, until the answer is not a 503 (or `ms` ran out). */
async function retryWhileUnavailable(send: () => Promise<Answer>, ms = 20_000): Promise<Answer> {
  const until = Date.now() + ms;
  for (;;) {
    const answer = await send();
    if (answer.status !== 503 || Date.now() > until) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls `check` until it holds (or fails after `ms`). */
async function waitFor(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One operation over a graphql-ws client: its result, the errors it was refused with, or the socket's close code. */
function overWebSocket(
  client: WsClient,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data?: any; errors?: readonly any[]; closed?: number }> {
  return new Promise((resolve) => {
    let result: { data?: any; errors?: readonly any[] } = {};
    client.subscribe(
      { query, variables },
      {
        next: (value) => (result = value),
        error: (err: any) => resolve(Array.isArray(err) ? { errors: err } : { closed: err?.code }),
        complete: () => resolve(result),
      },
    );
  });
}

/** Ledger rows and balance of a customer: a purchase posted twice would show in both. */
async function ledgerOf(t: TestApp, customerId: string): Promise<{ entries: number; ledger: number; balance: number }> {
  const [row] = await t.app.db.query(
    `SELECT (SELECT count(*) FROM ledger_entries l WHERE l.customer_id = c.id)::int AS entries,
            (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.customer_id = c.id)::int AS ledger,
            c.balance::int AS balance
       FROM customers c WHERE c.id = $1`,
    [customerId],
  );
  return row;
}

withServer("while the database refuses connections", () => {
  let t: TestApp;
  let admin: PgClient;
  let database: string;
  beforeAll(async () => {
    t = await startTestApp();
    // The outage is made from the server's maintenance database, not from the app's own.
    admin = new PgClient({ connectionString: serverUrl });
    await admin.connect();
    database = new URL(t.app.config.databaseUrl!).pathname.slice(1);
  });
  afterAll(async () => {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    await admin.end();
    await t.stop();
  });

  it("answers 503 UNAVAILABLE, retryable, over HTTP and WebSocket; the retry with the same key posts once", async () => {
    const programId = await griffinProgram(t);
    const first = ok(
      await post(t, PURCHASE, { input: { programId, customerExternalId: "outage", orderId: "before", amount: 30, currency: "EUR" } }).then((a) => a.body),
    );
    const customerId = first.data.recordPurchase.customer.id;
    // A key the server has not seen: checking it needs the database.
    const partnerKey = await createKey(t, programId, "PARTNER");
    const retried = { programId, customerId, orderId: "during", amount: 12, currency: "EUR" };
    const [oldest] = await t.app.db.query(`SELECT id::text AS sequence FROM outbox WHERE program_id = $1 ORDER BY id LIMIT 1`, [programId]);

    // The database takes no new connection (its name is the scratch database's, [a-z0-9_]), and
    // every connection the app (and its write worker) held is ended by the server.
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
    await waitFor(
      async () => (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [database])).rows[0].n === 0,
      "the app's connections to end",
    );

    expectRetryable(await post(t, PURCHASE, { input: retried }));
    expectRetryable(await post(t, PROGRAMS));
    // The credential itself could not be checked: 503, not 401 (it is a valid key).
    expectRetryable(await post(t, PROGRAMS, {}, partnerKey));

    const socket = t.ws();
    const overSocket = await overWebSocket(socket, PURCHASE, { input: retried });
    expectRetryableErrors(overSocket.errors);
    // A subscription resuming from the outbox cannot read it: the same.
    expectRetryableErrors((await overWebSocket(socket, RESUME, { p: programId, after: oldest.sequence })).errors);
    // A socket whose credential cannot be checked closes with "try again later".
    expect(await overWebSocket(t.ws(partnerKey), PROGRAMS)).toEqual({ closed: 1013 });

    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    const again = await retryWhileUnavailable(() => post(t, PURCHASE, { input: retried }));
    expect(again.status).toBe(200);
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.recordPurchase).toMatchObject({ replayed: false, pointsEarned: 12 });
    const replay = await post(t, PURCHASE, { input: retried });
    expect(replay.body.data.recordPurchase).toMatchObject({ replayed: true, pointsEarned: 12, customer: { points: { balance: 42 } } });
    expect(await ledgerOf(t, customerId)).toEqual({ entries: 2, ledger: 42, balance: 42 });
    // And the server serves as before: the credential, the socket.
    expect((await post(t, PROGRAMS, {}, partnerKey)).status).toBe(200);
    expect((await overWebSocket(t.ws(), PROGRAMS)).data.programs.length).toBeGreaterThan(0);
  });
});

withServer("a commit whose acknowledgement is lost", () => {
  let proxy: PgProxy;
  let t: TestApp;
  beforeAll(async () => {
    proxy = await startPgProxy(serverUrl!);
    // Batches on this thread, where the test can hook the writer between its read and its write.
    t = await startTestApp({ writeWorker: false, connectVia: proxy.route });
  });
  afterAll(async () => {
    await t.stop();
    await proxy.close();
  });
  afterEach(() => {
    t.app.touchpoints.batcher.writer.afterRead = undefined;
  });

  it("answers UNAVAILABLE, retryable, though the purchase was committed; the retry replays it", async () => {
    const programId = await griffinProgram(t);
    // The customer exists: the next purchase is written by one statement outside a transaction,
    // which commits before the server answers it.
    const first = ok(
      await post(t, PURCHASE, { input: { programId, customerExternalId: "unlucky", orderId: "o-1", amount: 30, currency: "EUR" } }).then((a) => a.body),
    );
    const customerId = first.data.recordPurchase.customer.id;
    const input = { programId, customerId, orderId: "answer-lost-o-2", amount: 12, currency: "EUR" };

    let lost: Promise<void> | undefined;
    t.app.touchpoints.batcher.writer.afterRead = async () => {
      lost ??= proxy.loseAnswerTo(input.orderId);
    };
    const answer = await post(t, PURCHASE, { input });
    await lost;
    expectRetryable(answer);
    // It was committed all the same: the client could not know, and the error told it to retry.
    const [row] = await t.app.db.query(`SELECT count(*)::int AS n FROM touchpoints WHERE program_id = $1 AND external_id = $2`, [programId, input.orderId]);
    expect(row.n).toBe(1);

    const retry = await post(t, PURCHASE, { input });
    expect(retry.status).toBe(200);
    expect(retry.body.data.recordPurchase).toMatchObject({ replayed: true, pointsEarned: 12, customer: { points: { balance: 42 } } });
    expect(await ledgerOf(t, customerId)).toEqual({ entries: 2, ledger: 42, balance: 42 });
  });

  it("ends a resuming subscription whose outbox read was cut with UNAVAILABLE over WebSocket", async () => {
    const programId = await griffinProgram(t);
    ok(await post(t, PURCHASE, { input: { programId, customerExternalId: "listener", orderId: "o-1", amount: 5, currency: "EUR" } }).then((a) => a.body));
    const [oldest] = await t.app.db.query(`SELECT id::text AS sequence FROM outbox WHERE program_id = $1 ORDER BY id LIMIT 1`, [programId]);
    // The resume point is found; the replay's first page (its statement's own text) is cut off,
    // after the subscription started: the stream fails, not the subscribe.
    const lost = proxy.loseAnswerTo("ORDER BY id LIMIT $5");
    const outcome = await overWebSocket(t.ws(), RESUME, { p: programId, after: oldest.sequence });
    await lost;
    expectRetryableErrors(outcome.errors);
  });
});
