/**
 * Request limits (src/api/limits) through HTTP and WebSocket: a refused document never runs and
 * writes nothing; a throttled request gets 429 before it is parsed; every answer reports its cost.
 */
import { connect, Socket } from "node:net";
import WebSocket from "ws";
import { collect, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, griffinProgram, ok, purchase, tableCounts } from "../helpers/operations";

let t: TestApp;
let program: string;
let partner: string;
let customerId: string;

const code = (res: { errors?: Array<{ extensions?: Record<string, any> }> }) => res.errors?.[0]?.extensions?.code;

beforeAll(async () => {
  t = await startTestApp({
    env: {
      // Small enough to reach in a test; the defaults are in docs/limits.md.
      QUERY_MAX_COST_PARTNER: "3000",
      RATE_LIMIT_STOREFRONT: "300:50",
      WS_MAX_SUBSCRIPTIONS_PER_SOCKET: "3",
      WS_MAX_SOCKETS_PER_CREDENTIAL: "2",
      HTTP_HEADERS_TIMEOUT_MS: "1000",
      HTTP_REQUEST_TIMEOUT_MS: "2000",
      HTTP_KEEPALIVE_TIMEOUT_MS: "1000",
    },
  });
  program = await griffinProgram(t);
  partner = await createKey(t, program, "PARTNER");
  customerId = ok(await purchase(t, { programId: program, customerExternalId: "c1", orderId: "o1", amount: 10, currency: "EUR" }, partner)).data.recordPurchase
    .customer.id;
});
afterAll(() => t.stop());

describe("refused before execution", () => {
  it("refuses too many aliases, too deep a document, too many directives, with the limit named and nothing run", async () => {
    const aliases = await t.gql(`{ ${Array.from({ length: 31 }, (_, i) => `a${i}: programs { id }`).join(" ")} }`, {}, partner);
    expect(aliases.status).toBe(400);
    expect(aliases.errors?.[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "aliases", max: 30 });
    expect(aliases.data).toBeUndefined();

    const directives = await t.gql(`{ programs { id ${Array.from({ length: 21 }, () => "@include(if: true)").join(" ")} } }`, {}, partner);
    expect(directives.errors?.[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "directives" });
  });

  it("refuses depth past QUERY_MAX_DEPTH", async () => {
    // The loyalty types nest only a few levels; introspection's type references nest without end.
    const chain = (depth: number) => `{ __type(name: "Customer") { ${"ofType { ".repeat(depth - 2)}name${" }".repeat(depth - 2)} } }`;
    expect(code(await t.gql(chain(12), {}, partner))).toBeUndefined();
    const deep = await t.gql(chain(13), {}, partner);
    expect(deep.status).toBe(400);
    expect(deep.errors?.[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "depth", max: 12, found: 13 });
    expect(deep.data).toBeUndefined();
  });

  it("stops parsing at the token limit: a 20,000-field document is refused in a few ms, not executed", async () => {
    const huge = `{ ${"programs { id } ".repeat(20_000)} }`;
    const started = performance.now();
    const res = await t.gql(huge, {}, partner);
    const ms = performance.now() - started;
    expect(res.status).toBe(400);
    expect(res.errors?.[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "tokens", max: 1000 });
    // A budget, not a benchmark: before the limit this took 400-700 ms of parsing and validation.
    expect(ms).toBeLessThan(300);
  });

  it("prices a request before it runs and refuses one over the caller's ceiling", async () => {
    const heavy = `query($p: ID!) { customers(programId: $p, first: 200) { nodes { id rfm { recency } touchpoints(first: 200) { nodes { id } } } } }`;
    const res = await t.gql(heavy, { p: program }, partner);
    expect(res.status).toBe(400);
    expect(res.errors?.[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost", max: 3000 });
    expect(res.errors?.[0].extensions?.found).toBeGreaterThan(3000);
    expect(res.data).toBeUndefined();
  });

  it("refuses a request an argument of which does not coerce, rather than run the rest unpriced", async () => {
    // A null for a required id, through a variable with a default: execution would null that one
    // field and run the heavy rest; pricing cannot price it, so nothing runs.
    const heavy = `query($p: ID!, $bad: ID = "x") { customers(programId: $p, first: 200) { nodes { id rfm { frequency } touchpoints(first: 200) { nodes { id } } } } other: program(id: $bad) { id } }`;
    const res = await t.gql(heavy, { p: program, bad: null }, partner);
    expect(res.status).toBe(400);
    expect(res.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.data).toBeUndefined();
  });

  it("gives nothing back for an answer with errors, and prices a key selected twice by both selections", async () => {
    const post = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(t.server.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${partner}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as any;
    };
    // A page with a bad `first` inside: the error nulls the answer, the work beside it was done.
    const failed = await post(
      `query($p: ID!) { customers(programId: $p, first: 20) { nodes { id rfm { frequency } touchpoints(first: -1) { nodes { id } } } } }`,
      { p: program },
    );
    expect(failed.errors?.[0].extensions.code).toBe("BAD_USER_INPUT");
    expect(failed.extensions.cost.actualQueryCost).toBe(failed.extensions.cost.requestedQueryCost);
    // The same answer, asked for once or split over two selections of one key, costs the same.
    const once = await post(`query($p: ID!) { customers(programId: $p, first: 5) { nodes { id rfm { frequency } } } }`, { p: program });
    const split = await post(
      `query($p: ID!) { customers(programId: $p, first: 5) { nodes { id } } customers(programId: $p, first: 5) { nodes { rfm { frequency } } } }`,
      { p: program },
    );
    expect(split.data).toEqual(once.data);
    expect(split.extensions.cost.actualQueryCost).toBeGreaterThanOrEqual(once.extensions.cost.actualQueryCost);
  });

  it("charges a document that does not validate by its length, so invalid documents cannot be sent for free", async () => {
    const key = await createKey(t, program, "STOREFRONT");
    const before = await fetch(t.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `{ __typename }` }),
    });
    const available = ((await before.json()) as any).extensions.cost.throttleStatus.currentlyAvailable;
    const invalid = `{ ${"nope { id } ".repeat(40)} }`;
    expect((await t.gql(invalid, {}, key)).errors?.[0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const after = await fetch(t.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `{ __typename }` }),
    });
    // 300 points, refilling 50 a second: the invalid document's ~48 points show, give or take the refill.
    expect(((await after.json()) as any).extensions.cost.throttleStatus.currentlyAvailable).toBeLessThan(available - 30);
  });

  it("answers a credential that names no one before reading its body, from its address's bucket", async () => {
    const res = await fetch(t.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer lk_00000000000000000000000000000000_aaaaaaaaaaaaaaaaaaaaaaaa" },
      body: "{ not json",
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe("UNAUTHENTICATED");
  });

  it("refuses more writes in one request than QUERY_MAX_ROOT_MUTATIONS, writing none of them", async () => {
    const before = await tableCounts(t);
    const writes = Array.from(
      { length: 11 },
      (_, i) => `w${i}: recordTouchpoint(input: { programId: "${program}", customerExternalId: "c1", type: VISIT, externalId: "v${i}" }) { pointsEarned }`,
    );
    const res = await t.gql(`mutation { ${writes.join(" ")} }`, {}, partner);
    expect(res.errors?.[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "rootMutations", max: 10, found: 11 });
    expect(await tableCounts(t)).toEqual(before);
  });

  it("reports the requested and the actual cost, and gives the difference back", async () => {
    const res = await fetch(t.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${partner}` },
      body: JSON.stringify({ query: `query($p: ID!) { customers(programId: $p, first: 50) { nodes { id stage { key } } } }`, variables: { p: program } }),
    });
    const body = (await res.json()) as any;
    const cost = body.extensions.cost;
    // 1 for the connection, 50 × (1 + stage 1); one customer came back.
    expect(cost.requestedQueryCost).toBe(101);
    expect(cost.actualQueryCost).toBe(3);
    expect(cost.throttleStatus).toMatchObject({ maximumAvailable: 60_000, restoreRate: 30_000 });
  });
});

describe("rate limits", () => {
  it("throttles a credential past its bucket with 429, Retry-After and THROTTLED, running nothing, and serves it again after", async () => {
    const storefront = await createKey(t, program, "STOREFRONT");
    const read = () =>
      fetch(t.server.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${storefront}` },
        body: JSON.stringify({ query: `query($p: ID!) { program(id: $p) { id stages { key } } }`, variables: { p: program } }),
      });
    // Allowed, so it costs what it reads: the program 1 and 8 stages (requested), its own stages (actual).
    const first = (await (await read()).json()) as any;
    expect(first.errors).toBeUndefined();
    expect(first.extensions.cost).toMatchObject({ requestedQueryCost: 9, actualQueryCost: 1 + first.data.program.stages.length });
    let throttled: Response | undefined;
    const statuses: number[] = [];
    for (let i = 0; i < 200 && !throttled; i++) {
      const res = await read();
      statuses.push(res.status);
      if (res.status === 429) throttled = res;
      else await res.json();
    }
    expect(throttled).toBeDefined();
    expect(Number(throttled!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const body = (await throttled!.json()) as any;
    expect(body.errors[0].extensions.code).toBe("THROTTLED");
    expect(body.data).toBeUndefined();
    expect(body.extensions.cost.throttleStatus).toMatchObject({ maximumAvailable: 300, restoreRate: 50 });
    expect(body.extensions.cost.throttleStatus.currentlyAvailable).toBeLessThan(10);
    // Another credential is not affected.
    expect((await t.gql(`{ programs { id } }`, {}, partner)).status).toBe(200);
    // The bucket refills (50 a second): wait for it, then the same request passes.
    const deadline = Date.now() + 5000;
    let again = 429;
    while (again === 429 && Date.now() < deadline) {
      const res = await read();
      again = res.status;
      await res.text();
      if (again === 429) await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after")) * 100));
    }
    expect(again).toBe(200);
  });

  it("holds back the 429s of a client that does not wait its Retry-After", async () => {
    const storefront = await createKey(t, program, "STOREFRONT");
    const post = () => t.gql(`query($p: ID!) { program(id: $p) { stages { key paths { metric } } } }`, { p: program }, storefront);
    // Drain it: a program's stages cost ~40, the bucket holds 300 and refills 50 a second.
    for (let i = 0; i < 100; i++) if ((await post()).status === 429) break;
    // Now a loop that ignores 429s: without holding them back it would get hundreds in a second.
    let throttled = 0;
    const until = Date.now() + 1500;
    while (Date.now() < until) if ((await post()).status === 429) throttled++;
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThanOrEqual(4);
  });

  it("throttles writes without writing: the throttled mutation leaves no row", async () => {
    const storefront = await createKey(t, program, "STOREFRONT");
    // Drain the bucket to the last point: the cheapest request costs 1.
    for (let i = 0; i < 2000; i++) if ((await t.gql(`{ __typename }`, {}, storefront)).status === 429) break;
    const token = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: customerId }, partner)).data.issueCustomerToken
      .token;
    const before = await tableCounts(t);
    const res = await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: customerId }, storefront);
    expect(res.status).toBe(429);
    expect(await tableCounts(t)).toEqual(before);
    expect(token).toMatch(/^ct_/);
  });
});

describe("WebSocket limits", () => {
  const STAGE_CHANGED = `subscription($p: ID!) { stageChanged(programId: $p) { customerId } }`;

  /** A graphql-ws socket by hand: `acked` resolves on connection_ack, `closed` with the close code. */
  function rawSocket(params: Record<string, unknown> | null) {
    return new Promise<{ ws: WebSocket; acked: Promise<void>; closed: Promise<{ code: number; reason: string }> }>((resolve, reject) => {
      const ws = new WebSocket(t.server.wsUrl, "graphql-transport-ws");
      const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
      const acked = new Promise<void>((r) => ws.on("message", (m) => JSON.parse(m.toString()).type === "connection_ack" && r()));
      ws.on("open", () => {
        if (params) ws.send(JSON.stringify({ type: "connection_init", payload: params }));
        resolve({ ws, acked, closed });
      });
      ws.on("error", reject);
    });
  }

  it("closes a socket without a credential at once (4401)", async () => {
    const { closed } = await rawSocket({});
    expect((await closed).code).toBe(4401);
  });

  it("closes a socket whose message is larger than an HTTP body may be (1009), and the server goes on", async () => {
    const { ws, acked, closed } = await rawSocket({ authorization: `Bearer ${partner}` });
    await acked;
    ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: `{ ${"__typename ".repeat(400_000)} }` } }));
    expect((await closed).code).toBe(1009);
    expect((await t.gql(`{ programs { id } }`, {}, partner)).status).toBe(200);
  });

  it("applies the document limits to WebSocket operations", async () => {
    const client = t.ws(partner);
    const aliases = collect(client, `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: programs { id }`).join(" ")} }`);
    await aliases.failed();
    expect((aliases.errors[0] as any)[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "aliases" });
    const tokens = collect(client, `{ ${"programs { id } ".repeat(2000)} }`);
    await tokens.failed();
    expect((tokens.errors[0] as any)[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "tokens" });
    // A query over the socket reports its cost as over HTTP.
    const query = collect(client, `query($p: ID!) { program(id: $p) { id } }`, { p: program });
    await query.next(1);
    expect(query.items[0]).toMatchObject({ program: { id: program } });
  });

  it("draws WebSocket operations from the same bucket as HTTP requests", async () => {
    const storefront = await createKey(t, program, "STOREFRONT");
    for (let i = 0; i < 2000; i++) if ((await t.gql(`{ __typename }`, {}, storefront)).status === 429) break;
    const read = collect(t.ws(storefront), `query($p: ID!) { program(id: $p) { id } }`, { p: program });
    await read.failed();
    expect((read.errors[0] as any)[0].extensions).toMatchObject({ code: "THROTTLED" });
    expect(read.items).toEqual([]);
  });

  it("holds at most WS_MAX_SUBSCRIPTIONS_PER_SOCKET operations on a socket", async () => {
    const client = t.ws(partner);
    const subs = [
      collect(client, STAGE_CHANGED, { p: program }),
      collect(client, STAGE_CHANGED, { p: program }),
      collect(client, STAGE_CHANGED, { p: program }),
    ];
    const fourth = collect(client, STAGE_CHANGED, { p: program });
    await fourth.failed();
    expect((fourth.errors[0] as any)[0].extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "subscriptions", max: 3 });
    expect(subs.every((s) => s.errors.length === 0)).toBe(true);
    // One ends: a new one fits.
    subs[0].unsubscribe();
    const waitUntil = Date.now() + 3000;
    let replacement = collect(client, STAGE_CHANGED, { p: program });
    while (Date.now() < waitUntil) {
      const failed = await replacement.failed(200).then(
        () => true,
        () => false,
      );
      if (!failed) break;
      replacement = collect(client, STAGE_CHANGED, { p: program });
    }
    expect(replacement.errors).toEqual([]);
    for (const s of [...subs, replacement]) s.unsubscribe();
  });

  it("holds at most WS_MAX_SOCKETS_PER_CREDENTIAL sockets per credential (4429)", async () => {
    const key = await createKey(t, program, "PARTNER");
    const first = await rawSocket({ authorization: `Bearer ${key}` });
    const second = await rawSocket({ authorization: `Bearer ${key}` });
    await Promise.all([first.acked, second.acked]);
    const third = await rawSocket({ authorization: `Bearer ${key}` });
    expect((await third.closed).code).toBe(4429);
    first.ws.close();
    await first.closed;
    // A slot freed: the next one is accepted.
    const fourth = await rawSocket({ authorization: `Bearer ${key}` });
    await fourth.acked;
    second.ws.close();
    fourth.ws.close();
  });

  it("checks a customer token on every operation and closes the socket when it has expired", async () => {
    const token = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: customerId }, partner)).data.issueCustomerToken
      .token;
    const { ws, closed } = await rawSocket({ authorization: `Bearer ${token}` });
    const messages: any[] = [];
    ws.on("message", (m) => messages.push(JSON.parse(m.toString())));
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setImmediate(r));
      const deadline = Date.now() + 5000;
      while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => messages.some((m) => m.type === "connection_ack"));
    ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: `{ me { id } }` } }));
    await until(() => messages.some((m) => m.id === "1" && m.type === "next"));
    expect(messages.find((m) => m.id === "1" && m.type === "next").payload.data.me.id).toBe(customerId);

    t.advanceClock(2 * 3600 * 1000);
    try {
      ws.send(
        JSON.stringify({
          id: "2",
          type: "subscribe",
          payload: { query: `mutation { transferPoints(input: { toCustomerId: "${customerId}", points: 1, idempotencyKey: "x" }) { __typename } }` },
        }),
      );
      await until(() => messages.some((m) => m.id === "2"));
      expect(messages.find((m) => m.id === "2")).toMatchObject({ type: "error", payload: [{ extensions: { code: "UNAUTHENTICATED" } }] });
      expect((await closed).code).toBe(4401);
    } finally {
      t.advanceClock(-2 * 3600 * 1000);
    }
  });
});

describe("closing sockets whose credential is gone", () => {
  it("closes an erased customer's socket at once (4401)", async () => {
    const id = ok(await purchase(t, { programId: program, customerExternalId: "to-erase", orderId: "e1", amount: 5, currency: "EUR" }, partner)).data
      .recordPurchase.customer.id;
    const token = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: id }, partner)).data.issueCustomerToken.token;
    const socket = new WebSocket(t.server.wsUrl, "graphql-transport-ws");
    const closed = new Promise<number>((r) => socket.on("close", (code) => r(code)));
    const acked = new Promise<void>((r) => socket.on("message", (m) => JSON.parse(m.toString()).type === "connection_ack" && r()));
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } })));
    await acked;
    ok(await t.gql(`mutation($c: ID!) { eraseCustomer(customerId: $c) { id } }`, { c: id }));
    expect(await closed).toBe(4401);
  });
});

describe("HTTP hygiene", () => {
  it("answers an oversized body with 413 instead of a reset", async () => {
    const res = await fetch(t.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${partner}` },
      body: JSON.stringify({ query: "{ programs { id } }", variables: { pad: "x".repeat(2_000_000) } }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("closes a silent connection after the headers timeout", async () => {
    const socket: Socket = connect(t.server.port, "127.0.0.1");
    const started = Date.now();
    await new Promise<void>((resolve) => socket.on("close", () => resolve()));
    // HTTP_HEADERS_TIMEOUT_MS is 1 s here, checked every second.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
