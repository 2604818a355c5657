/**
 * Fuzzing the public surface (fast-check): hostile HTTP requests and graphql-ws messages, against
 * one real server. For every request:
 *   - no 5xx, and no error with extensions.code INTERNAL_SERVER_ERROR;
 *   - no stack trace, source position or SQL / PostgreSQL text in what comes back;
 *   - a WebSocket is never closed with 4500 (internal error) or 1011;
 * and, over the whole run:
 *   - no row written by a request that is rejected by construction (bad bodies, bad credentials,
 *     documents that cannot validate, writes with one invalid field);
 *   - the server healthy after: /healthz and /readyz 200, a PARTNER query answered.
 *
 * The number of generated requests is FUZZ_RUNS (600 by default, for CI), split between the
 * properties below by weight. The full run, about ten thousand requests:
 *
 *   FUZZ_RUNS=10000 npm test -- test/e2e/fuzz.test.ts
 *
 * A failure prints fast-check's seed and path; replay it with FUZZ_SEED=<seed> FUZZ_PATH=<path>.
 * FUZZ_DEBUG=1 prints requests slower than 500 ms.
 * The rate limits are raised so the fuzzer reaches the parser and the resolvers rather than only
 * the buckets; the query limits (tokens, depth, aliases, cost) stay at their defaults.
 *
 * Generated strings never spell SQL ("SELECT … FROM") or a stack frame themselves, so an error
 * message that quotes the input back cannot be mistaken for a leak.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import WebSocket from "ws";
import {
  buildSchema,
  getNamedType,
  GraphQLField,
  GraphQLInputType,
  GraphQLNamedType,
  GraphQLObjectType,
  GraphQLOutputType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
} from "graphql";
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, griffinProgram, ok, purchase, tableCounts } from "../helpers/operations";

const RUNS = Math.max(6, Number(process.env.FUZZ_RUNS ?? 600));
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const PATH = process.env.FUZZ_PATH || undefined;
/** The share of FUZZ_RUNS each property gets. */
const WEIGHTS = { raw: 0.2, credentials: 0.1, invalidDocuments: 0.17, invalidWrites: 0.15, documents: 0.23, websocket: 0.15 };
const runsOf = (name: keyof typeof WEIGHTS) => Math.max(1, Math.round(RUNS * WEIGHTS[name]));
/**
 * Time for one property: a run takes a few ms (up to ~15 on PGlite), so 60 ms a run and 30 s more
 * leave room for a slow box. fast-check stops there, before jest's timeout: a failure is reported
 * with the smallest case its shrinking reached, and a count not finished in time fails rather than
 * pass on fewer requests.
 */
const budget = (name: keyof typeof WEIGHTS) => 30_000 + runsOf(name) * 60;
const timeout = (name: keyof typeof WEIGHTS) => budget(name) + 30_000;
const params = (name: keyof typeof WEIGHTS): fc.Parameters<any> => ({
  numRuns: runsOf(name),
  seed: SEED,
  path: PATH,
  interruptAfterTimeLimit: budget(name),
  markInterruptAsFailure: true,
});

const MAX_BODY = 1_000_000;
const GENEROUS = "1000000000:1000000000";

let t: TestApp;
let url: string;
let program: string;
let partner: string;
let adminRole: string;
let storefront: string;
let customerId: string;
let customerToken: string;
let rejectedBefore: Record<string, number>;

beforeAll(async () => {
  t = await startTestApp({
    env: {
      RATE_LIMIT_PARTNER: GENEROUS,
      RATE_LIMIT_STOREFRONT: GENEROUS,
      RATE_LIMIT_ADMIN: GENEROUS,
      RATE_LIMIT_CUSTOMER: GENEROUS,
      RATE_LIMIT_ANONYMOUS: GENEROUS,
    },
  });
  url = t.server.url;
  program = await griffinProgram(t);
  partner = await createKey(t, program, "PARTNER");
  adminRole = await createKey(t, program, "ADMIN");
  storefront = await createKey(t, program, "STOREFRONT");
  customerId = ok(await purchase(t, { programId: program, customerExternalId: "fuzz-c1", orderId: "fuzz-o1", amount: 10, currency: "EUR" }, partner)).data
    .recordPurchase.customer.id;
  customerToken = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: customerId }, partner)).data.issueCustomerToken
    .token;
});
afterAll(() => t.stop());

/**
 * graphql-ws writes to console.error (with a stack) each time ws refuses a message over 1 MB, which
 * is the expected 1009 close: counted, not printed. Anything else goes through.
 */
const consoleError = console.error.bind(console);
let oversizeMessages = 0;
beforeAll(() => {
  jest.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    if (String(args[0]).startsWith("Internal error emitted on a WebSocket socket") && /Max payload size exceeded/.test(String(args[1]))) oversizeMessages++;
    else consoleError(...args);
  });
});
afterAll(() => {
  jest.restoreAllMocks();
  if (process.env.FUZZ_DEBUG) console.log(`${oversizeMessages} WebSocket messages over 1 MB`);
});

// ---------------------------------------------------------------------------------------------
// What every answer must (not) contain

const LEAKS: Array<[string, RegExp]> = [
  ["a stack frame", /(?:^|\n|\\n)\s+at (?:\S+ \(|\S+:\d+)/],
  ["a source position", /\.[cm]?[jt]s:\d/],
  ["SQL", /\b(?:SELECT|INSERT|UPDATE|DELETE)\b[\s\S]{0,300}?\b(?:FROM|INTO|SET)\b/i],
  ["PostgreSQL's words", /relation "|syntax error at or near|violates|duplicate key value|invalid input syntax for type/i],
];

/** The first leak in a text, named, or null. */
function leakIn(text: string): string | null {
  for (const [what, re] of LEAKS) {
    const m = re.exec(text);
    if (m) return `${what}: …${text.slice(Math.max(0, m.index - 80), m.index + 120)}…`;
  }
  return null;
}

/** Every error object in a JSON answer (top-level errors, and graphql-ws payloads). */
function errorsIn(json: unknown): any[] {
  if (Array.isArray(json)) return json.flatMap((e) => (e && typeof e === "object" && "message" in e ? [e] : errorsIn(e)));
  if (json && typeof json === "object") {
    const o = json as Record<string, unknown>;
    return [...(Array.isArray(o.errors) ? o.errors : []), ...(o.payload ? errorsIn(o.payload) : [])];
  }
  return [];
}

const clip = (s: string, n = 400) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

// ---------------------------------------------------------------------------------------------
// HTTP requests

interface HttpCase {
  what: string;
  method: string;
  /** Appended to /graphql: a query string, for GET. */
  search?: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** A write that must not happen: its root fields must all answer null. */
  writes?: boolean;
}

interface Answer {
  status: number;
  text: string;
  json?: any;
}

function describeCase(c: HttpCase): string {
  const body =
    c.body === undefined
      ? "(none)"
      : typeof c.body === "string"
        ? JSON.stringify(clip(c.body))
        : `${c.body.length} bytes ${Buffer.from(c.body.slice(0, 60)).toString("hex")}`;
  return `${c.what}: ${c.method} /graphql${clip(c.search ?? "", 300)} headers ${JSON.stringify(c.headers, (_k, v) => (typeof v === "string" ? clip(v, 200) : v))} body ${body}`;
}

const bodyLength = (body: HttpCase["body"]) => (body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.length);

async function send(c: HttpCase): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url + (c.search ?? ""), {
      method: c.method,
      headers: c.headers,
      body: c.body as any,
      signal: AbortSignal.timeout(20_000),
    });
  } catch (err) {
    // A body over the limit may be cut off by the server's 413 and closed connection.
    if (bodyLength(c.body) > MAX_BODY) return { status: 413, text: "" };
    throw new Error(`no answer (${(err as any)?.cause?.code ?? (err as Error).message}) to ${describeCase(c)}`);
  }
  const text = Buffer.from(await res.arrayBuffer()).toString("utf8");
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

function check(c: HttpCase, a: Answer): void {
  const fail = (why: string) => {
    throw new Error(`${why}\n  request: ${describeCase(c)}\n  answer: ${a.status} ${clip(a.text, 600)}`);
  };
  if (a.status >= 500) fail(`HTTP ${a.status}`);
  const internal = errorsIn(a.json).find((e) => e?.extensions?.code === "INTERNAL_SERVER_ERROR");
  if (internal) fail("INTERNAL_SERVER_ERROR");
  const leak = leakIn(a.text);
  if (leak) fail(`the answer shows ${leak}`);
  if (c.writes && a.json?.data && typeof a.json.data === "object" && Object.values(a.json.data).some((v) => v !== null))
    fail("a write meant to be refused was answered with data");
}

async function roundTrip(c: HttpCase): Promise<Answer> {
  const started = performance.now();
  const a = await send(c);
  if (process.env.FUZZ_DEBUG && performance.now() - started > 500)
    console.log(`slow ${Math.round(performance.now() - started)} ms: ${a.status} ${describeCase(c).slice(0, 1500)} → ${clip(a.text, 300)}`);
  check(c, a);
  return a;
}

const post = (what: string, body: unknown, token: string | null, extra: Partial<HttpCase> = {}): HttpCase => ({
  what,
  method: "POST",
  headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: JSON.stringify(body),
  ...extra,
});

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Strings clients should not send: control characters, lone surrogates, injection attempts, huge numbers. */
const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uD83D",
  "\uDE00y",
  "💥",
  "\u202Eevil",
  "\uFEFF",
  "\r\n",
  "\\",
  '"',
  "'",
  "null",
  "undefined",
  "NaN",
  "-NaN",
  "Infinity",
  "-Infinity",
  "1e308",
  "-1e308",
  "1e309",
  "9".repeat(400),
  "0x1F",
  "-0",
  "true",
  "{}",
  "[]",
  "' OR '1'='1",
  "'; DROP TABLE customers; --",
  "1); DROP TABLE touchpoints; --",
  "$1",
  "%s%s%n%x",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "${7*7}",
  "{{7*7}}",
  "__proto__",
  "constructor",
  "not-a-uuid",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "0000000g-0000-0000-0000-000000000000",
  "2026-13-45T25:61:61Z",
  "0000-00-00T00:00:00Z",
  "+275760-09-13T00:00:00.000Z",
  "-271821-04-20T00:00:00Z",
  "9999-12-31T23:59:59.999Z",
  "1970-01-01T00:00:00Z",
  "ＥＵＲ",
  "EUR\u0000",
];

const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  -0.001,
  10.123,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53,
  -(2 ** 53),
  1e13,
  3e9,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  Number.EPSILON,
];

/** Text of one repeated unit, n units long: the way to make a 1 MB string cheaply. */
const repeated = fc
  .record({
    unit: fc.constantFrom("x", "é", "💥", "\u0000", "\uD800", "\\", '"', " ", "{", "["),
    n: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 10_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 200_000, max: 330_000 }) }),
  })
  .map(({ unit, n }) => unit.repeat(n));

const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: repeated },
);

/** A JSON value nested `depth` levels deep, as text (JSON.stringify itself would recurse that deep). */
const deepJsonText = fc
  .record({
    depth: fc.oneof(
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 200 }) },
      { weight: 4, arbitrary: fc.integer({ min: 200, max: 20_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: 20_000, max: 160_000 }) },
    ),
    shape: fc.constantFrom("array", "object", "mixed"),
  })
  .map(({ depth, shape }) => {
    if (shape === "array") return "[".repeat(depth) + "1" + "]".repeat(depth);
    if (shape === "object") return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
    return '{"a":['.repeat(depth) + "1" + "]}".repeat(depth);
  });

/** Any JSON value, sometimes deep or huge; as text, because a deep one cannot go through JSON.stringify. */
const anyJsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null") },
  { weight: 2, arbitrary: nastyString.map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.constantFrom(...NASTY_NUMBERS).map((n) => JSON.stringify(n)) },
  { weight: 3, arbitrary: deepJsonText },
);

/** A document a PARTNER may run: reads, and writes that would succeed with good input. */
const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned customer { id points { balance } } } }`;
const validPurchase = () => ({ programId: program, customerExternalId: `fuzz-${randomUUID()}`, orderId: randomUUID(), amount: 12.5, currency: "EUR" });
const READS = [
  `{ programs { id name } }`,
  `query($p: ID!) { customers(programId: $p, first: 5) { nodes { id stage { key } points { balance } } } }`,
  `{ me { id points { balance } } }`,
  `{ __typename }`,
];

// ---------------------------------------------------------------------------------------------
// Credentials

const b64url = (s: string) => Buffer.from(s).toString("base64url");
const header = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((c) => c < 0x7f || c > 0x9f)
    .map((c) => String.fromCharCode(c)),
  maxLength: 300,
});
const base64urlChars = fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), minLength: 1, maxLength: 60 });

/** A credential that names no one (or nothing at all): never one of the test's real credentials. */
const badCredential: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc.constantFrom(
    "",
    "Bearer",
    "Bearer ",
    "Bearer  ",
    "Basic dXNlcjpwYXNz",
    "bearer",
    "Token x",
    "lk_",
    "ct_",
    "ct_.",
    "lk__",
    "Bearer lk_0_0",
    "Bearer ct_a.b",
  ),
  header,
  header.map((s) => `Bearer ${s}`),
  // API keys: the right shape with wrong parts, and the test's own keys altered.
  fc.tuple(fc.stringMatching(/^[0-9a-f]{32}$/), fc.stringMatching(/^[A-Za-z0-9_-]{20,100}$/)).map(([p, s]) => `Bearer lk_${p}_${s}`),
  fc.tuple(fc.nat(), fc.constantFrom("flip", "cut", "grow", "upper")).map(([i, how]) => `Bearer ${alter(partner, i, how)}`),
  // Customer tokens: forged claims (any JSON, or the right shape) with any signature, and the real one altered.
  fc.tuple(fc.jsonValue({ maxDepth: 3 }), base64urlChars).map(([claims, sig]) => `Bearer ct_${b64url(JSON.stringify(claims) ?? "null")}.${sig}`),
  fc
    .tuple(fc.constantFrom("null", "0", '""', "[]", "true", "{}", '{"p":null}', "[null]", "{", "\u0000"), base64urlChars)
    .map(([claims, sig]) => `Bearer ct_${b64url(claims)}.${sig}`),
  fc
    .record({
      p: fc.oneof(fc.constant("PROGRAM"), fc.uuid(), nastyString),
      c: fc.oneof(fc.constant("CUSTOMER"), fc.uuid(), nastyString),
      e: fc.oneof(fc.integer(), fc.constantFrom(1e308, -1, 0, 9e15)),
      sig: base64urlChars,
    })
    .map(({ p, c, e, sig }) => `Bearer ct_${b64url(JSON.stringify({ p: p === "PROGRAM" ? program : p, c: c === "CUSTOMER" ? customerId : c, e }))}.${sig}`),
  fc.tuple(fc.nat(), fc.constantFrom("flip", "cut", "grow")).map(([i, how]) => `Bearer ${alter(customerToken, i, how)}`),
  fc.constantFrom("ADMIN", "x".repeat(5000), `${"Bearer ".repeat(500)}x`),
);

/** A credential changed so that it no longer names anyone (a character changed, cut or added). */
function alter(credential: string, i: number, how: string): string {
  const at = 3 + (i % (credential.length - 3));
  const c = credential[at];
  switch (how) {
    case "flip":
      return credential.slice(0, at) + (c === "A" ? "B" : "A") + credential.slice(at + 1);
    case "cut":
      return credential.slice(0, at);
    case "upper":
      return credential.toUpperCase() === credential ? `${credential}Z` : credential.toUpperCase();
    default:
      return `${credential}A`;
  }
}

// ---------------------------------------------------------------------------------------------
// Documents from the schema

const schema = buildSchema(readFileSync(join(__dirname, "../../schema/schema.graphql"), "utf8"));
type Gen = fc.GeneratorValue;

const int = (g: Gen, min: number, max: number) => g(fc.integer, { min, max });
const chance = (g: Gen, p: number) => int(g, 0, 999) < p * 1000;
const pick = <T>(g: Gen, xs: readonly T[]): T => xs[int(g, 0, xs.length - 1)];
const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** A value of the JSON kind GraphQL's variables carry; `undefined` leaves the field out. */
type Value = unknown;

/** A wrong value: any kind, any size. */
function hostileValue(g: Gen): Value {
  switch (int(g, 0, 9)) {
    case 0:
      return null;
    case 1:
      return pick(g, NASTY_NUMBERS);
    case 2:
    case 3:
      return g(() => nastyString);
    case 4:
      return pick(g, [Number.NaN, Infinity, -Infinity]);
    case 5:
      return g(() => fc.jsonValue({ maxDepth: 3 }));
    case 6:
      return [g(() => fc.jsonValue({ maxDepth: 2 })), [[[]]]];
    case 7:
      return { [pick(g, ["__proto__", "constructor", "a", ""])]: g(() => fc.jsonValue({ maxDepth: 2 })) };
    case 8:
      return pick(g, [true, false, "TELEPATHY", "purchase", "", "__typename"]);
    default:
      return "z".repeat(int(g, 200, 20_000));
  }
}

/** A value for an input type: mostly plausible (the real program and customer), sometimes hostile. */
function valueFor(g: Gen, type: GraphQLInputType, depth: number, hostile: number): Value {
  if (chance(g, hostile)) return hostileValue(g);
  if (isNonNullType(type)) return valueFor(g, type.ofType, depth, hostile);
  if (isListType(type)) {
    if (chance(g, 0.1)) return valueFor(g, type.ofType, depth + 1, hostile); // a single value, which GraphQL takes as a list of one
    return Array.from({ length: depth > 3 ? 0 : int(g, 0, 3) }, () => valueFor(g, type.ofType, depth + 1, hostile));
  }
  if (isEnumType(type)) return pick(g, type.getValues()).name;
  if (isInputObjectType(type)) {
    const out: Record<string, Value> = {};
    for (const field of Object.values(type.getFields())) {
      if (isNonNullType(field.type) || (depth < 3 && chance(g, 0.5))) out[field.name] = valueFor(g, field.type, depth + 1, hostile);
    }
    return out;
  }
  switch (type.name) {
    case "ID":
      return pick(g, [program, program, customerId, randomUUID(), "00000000-0000-0000-0000-000000000000", String(int(g, 0, 1000))]);
    case "String":
      return pick(g, ["EUR", "USD", "fuzz-c1", "fuzz-o1", "bronze", "a", `fuzz-${int(g, 0, 1e6)}`, "ana@example.com", "https://example.com/hook"]);
    case "Int":
      return int(g, -2, 60);
    case "Float":
      return pick(g, [0, 1, 12.5, 100, 0.01]);
    case "Boolean":
      return chance(g, 0.5);
    case "DateTime":
      return new Date(Date.now() - int(g, 0, 400) * 86_400_000).toISOString();
    case "JSONObject":
      return pick(g, [{}, { note: "x" }, { nps: 9 }, { nested: { a: [1, 2] } }]);
    default:
      return null;
  }
}

/** A value as a GraphQL literal of this type (enum names bare); what cannot be one is printed as it comes. */
function literal(value: Value, type: GraphQLInputType | undefined): string {
  const named = type && getNamedType(type);
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return named && isEnumType(named) && NAME.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number") return String(value); // NaN and Infinity print as names: wrong, as meant
  if (typeof value === "boolean") return String(value);
  const inner = type && (isNonNullType(type) ? type.ofType : type);
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, inner && isListType(inner) ? inner.ofType : inner)).join(", ")}]`;
  const fields = inner && isInputObjectType(inner) ? inner.getFields() : {};
  return `{ ${Object.entries(value as Record<string, Value>)
    .map(([k, v]) => `${NAME.test(k) ? k : "bad_name"}: ${literal(v, fields[k]?.type)}`)
    .join(", ")} }`;
}

interface Built {
  document: string;
  variables: Record<string, Value>;
  operationName?: string;
}

/**
 * A document from the schema: one to three root fields of one operation type, arguments inline or
 * as variables (mostly plausible values, sometimes hostile), a selection with aliases, fragments,
 * directives. With `broken`, one root field is made invalid by its types (a required argument left
 * out or null, an unknown argument, a variable of the wrong type): the document cannot validate,
 * so nothing in it runs.
 */
function buildDocument(g: Gen, operation: "query" | "mutation" | "subscription", options: { hostile: number; broken: boolean }): Built {
  const root = operation === "query" ? schema.getQueryType()! : operation === "mutation" ? schema.getMutationType()! : schema.getSubscriptionType()!;
  const fields = Object.values(root.getFields());
  const variableDefs: string[] = [];
  const variables: Record<string, Value> = {};
  const fragments: string[] = [];
  let nextVar = 0;
  let nextFragment = 0;

  const argument = (name: string, type: GraphQLInputType, value: Value): string => {
    if (value !== undefined && chance(g, 0.5)) {
      const v = `v${nextVar++}`;
      variableDefs.push(`$${v}: ${chance(g, 0.03) ? "JSONObject" : type.toString()}`);
      variables[v] = value;
      return `${name}: $${v}`;
    }
    return `${name}: ${literal(value, type)}`;
  };

  const argsOf = (field: GraphQLField<unknown, unknown>, depth: number, breakIt: boolean): string => {
    const parts: string[] = [];
    const required = field.args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
    const victim = breakIt ? pick(g, required) : undefined;
    const how = breakIt ? int(g, 0, 4) : -1;
    for (const arg of field.args) {
      if (arg === victim) {
        if (how === 0) continue; // left out
        if (how === 1) parts.push(`${arg.name}: null`);
        else if (how === 2) {
          const v = `v${nextVar++}`;
          variableDefs.push(`$${v}: ${arg.type.toString()}`);
          variables[v] = null; // a required variable given null
          parts.push(`${arg.name}: $${v}`);
        } else if (how === 3) {
          const v = `v${nextVar++}`;
          variableDefs.push(`$${v}: Boolean`); // a variable of another type
          variables[v] = true;
          parts.push(`${arg.name}: $${v}`);
        } else {
          parts.push(argument(arg.name, arg.type, valueFor(g, arg.type, depth, options.hostile)));
          parts.push(`zz${int(g, 0, 9)}NoSuchArgument: 1`);
        }
        continue;
      }
      const needed = isNonNullType(arg.type) && arg.defaultValue === undefined;
      if (!needed && !chance(g, 0.4)) continue;
      parts.push(argument(arg.name, arg.type, valueFor(g, arg.type, depth, options.hostile)));
    }
    return parts.length ? `(${parts.join(", ")})` : "";
  };

  const directives = () => {
    if (!chance(g, 0.15)) return "";
    return pick(g, [
      " @include(if: true)",
      " @skip(if: false)",
      " @include(if: false)",
      " @skip(if: true)",
      " @deprecated",
      " @include(if: $nope)",
      " @skip(if: true) @skip(if: true)",
      ' @specifiedBy(url: "x")',
    ]);
  };

  const alias = () => (chance(g, 0.2) ? `${pick(g, ["a", "b", "same", "__x", `a${int(g, 0, 99)}`])}: ` : "");

  const selection = (type: GraphQLOutputType, depth: number): string => {
    const named: GraphQLNamedType = getNamedType(type);
    if (isLeafType(named)) return chance(g, 0.02) ? " { id }" : "";
    if (depth > 6 && !chance(g, 0.2)) return " { __typename }";
    if (isUnionType(named)) {
      const members = named.getTypes();
      const chosen = members.filter(() => chance(g, 0.6));
      return ` { __typename ${chosen.map((m) => `... on ${m.name}${selection(m, depth + 1)}`).join(" ")} }`;
    }
    const object = named as GraphQLObjectType;
    const all = Object.values(object.getFields());
    const count = int(g, 1, Math.min(4, all.length));
    const parts: string[] = [];
    for (let i = 0; i < count; i++) {
      const field = pick(g, all);
      parts.push(`${alias()}${field.name}${argsOf(field, depth, false)}${directives()}${selection(field.type, depth + 1)}`);
    }
    if (chance(g, 0.1)) parts.push("__typename");
    if (chance(g, 0.02)) parts.push(pick(g, ["noSuchField", "__schema { types { name } }", '__type(name: "Customer") { name }']));
    let body = parts.join(" ");
    if ((isObjectType(named) || isInterfaceType(named)) && chance(g, 0.15)) {
      const name = `F${nextFragment++}`;
      // Sometimes a fragment that spreads itself (a cycle) or one on the wrong type.
      const on = chance(g, 0.05) ? "Query" : named.name;
      const self = chance(g, 0.05) ? ` ...${name}` : "";
      fragments.push(`fragment ${name} on ${on} { ${body}${self} }`);
      body = `...${name}${chance(g, 0.3) ? ` ...${name}` : ""}`;
    } else if (chance(g, 0.1)) {
      body = `... on ${named.name} { ${body} }`;
    }
    return ` { ${body} }`;
  };

  const count = int(g, 1, 3);
  const broken = options.broken ? int(g, 0, count - 1) : -1;
  const roots: string[] = [];
  for (let i = 0; i < count; i++) {
    const field = pick(g, fields);
    const breakIt = i === broken && field.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined);
    roots.push(
      `${count > 1 || chance(g, 0.2) ? `r${i}: ` : ""}${field.name}${argsOf(field, 0, breakIt)}${i === broken && !breakIt ? "(zzNoSuchArgument: 1)" : ""}${directives()}${selection(field.type, 1)}`,
    );
  }
  const operationName = chance(g, 0.3) ? pick(g, ["Op", "op_1", "Fuzz"]) : undefined;
  const head = `${operation}${operationName ? ` ${operationName}` : ""}${variableDefs.length ? `(${variableDefs.join(", ")})` : ""}`;
  const document = `${head} { ${roots.join(" ")} }${fragments.length ? ` ${fragments.join(" ")}` : ""}`;
  return { document, variables, operationName: chance(g, 0.1) ? pick(g, ["Other", "", "Op"]) : operationName };
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP requests

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=latin1",
  "application/graphql",
  "application/graphql-response+json",
  "text/plain",
  "text/plain; charset=utf-8",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "application/json\u00ff",
  "",
];

/** A body of bytes that is not a GraphQL request, or a request of the wrong shape. */
const rawBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(`{"query":"{ programs { id } }"}`, JSON.stringify({ query: PURCHASE, variables: { input: {} } })), fc.nat())
      .map(([s, n]) => s.slice(0, n % s.length)),
  },
  { weight: 3, arbitrary: anyJsonText },
  // Deep JSON: as the body, and where variables go.
  { weight: 2, arbitrary: deepJsonText },
  { weight: 2, arbitrary: deepJsonText.map((d) => `{"query":"{ __typename }","variables":{"a":${d}}}`) },
  // A request whose parts are of the wrong kind.
  {
    weight: 4,
    arbitrary: fc
      .record({
        query: fc.oneof(
          fc.constantFrom("PURCHASE", "READ"),
          anyJsonText.map((s) => ({ raw: s })),
        ),
        variables: fc.option(
          anyJsonText.filter((s) => !s.startsWith("{") && s !== "null"),
          { nil: undefined },
        ),
        operationName: fc.option(fc.oneof(fc.integer(), fc.constant("[]"), fc.constant("{}")).map(String), { nil: undefined }),
        extensions: fc.option(anyJsonText, { nil: undefined }),
      })
      .map(({ query, variables, operationName, extensions }) => {
        const q = query === "PURCHASE" ? JSON.stringify(PURCHASE) : query === "READ" ? JSON.stringify(READS[0]) : (query as { raw: string }).raw;
        // A document as `query` needs wrong variables or operationName to be refused: never both good.
        const vars = variables ?? (query === "PURCHASE" ? '"input"' : undefined);
        return `{"query":${q}${vars !== undefined ? `,"variables":${vars}` : ""}${operationName !== undefined ? `,"operationName":${operationName}` : ""}${extensions !== undefined ? `,"extensions":${extensions}` : ""}}`;
      }),
  },
  // Batches, which are not accepted.
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom(`{"query":${JSON.stringify(PURCHASE)},"variables":{"input":{}}}`, `{"query":"{ programs { id } }"}`, "null", "[]"), {
        maxLength: 5,
      })
      .map((xs) => `[${xs.join(",")}]`),
  },
  // A query string that is not GraphQL, or is GraphQL of the deepest and largest kinds.
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        nastyString,
        fc.integer({ min: 1, max: 3_000 }).map((n) => `{ ${"a { ".repeat(n)}b${" }".repeat(n)} }`),
        fc.integer({ min: 1, max: 400 }).map((n) => `{ __type(name: "Customer") { ${"ofType { ".repeat(n)}name${" }".repeat(n)} } }`),
        fc.integer({ min: 1, max: 100_000 }).map((n) => `{ ${"programs { id } ".repeat(n)} }`),
        fc.integer({ min: 1, max: 2_000 }).map((n) => `query(${Array.from({ length: n }, (_, i) => `$v${i}: Int`).join(" ")}) { __typename }`),
        fc.integer({ min: 1, max: 100_000 }).map((n) => `{ __typename ${"@skip(if: false) ".repeat(n)}}`),
        fc.integer({ min: 1, max: 100_000 }).map((n) => `{ programs(${"a: 1 ".repeat(n)}) { id } }`),
        fc.integer({ min: 1, max: 100_000 }).map((n) => `query { ${"...F ".repeat(n)} } fragment F on Query { __typename }`),
        fc
          .integer({ min: 1, max: 3_000 })
          .map(
            (n) =>
              `query { ...F0 } ${Array.from({ length: n }, (_, i) => `fragment F${i} on Query { ...F${i + 1} }`).join(" ")} fragment F${n} on Query { ...F0 }`,
          ),
        fc.integer({ min: 1, max: 200_000 }).map((n) => `{ programs { id } } ${"#".repeat(n)}`),
        fc.integer({ min: 1, max: 100_000 }).map((n) => `{ customers(programId: ${"[".repeat(n)}"x"${"]".repeat(n)}) { nodes { id } } }`),
        fc.constantFrom(
          "mutation { recordPurchase }",
          "subscription { stageChanged(programId: 1) { customerId } }",
          "query { ...on Mutation { __typename } }",
          "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }",
        ),
      )
      .map((query) => JSON.stringify({ query })),
  },
);

const rawRequest: fc.Arbitrary<HttpCase> = fc
  .record({
    method: fc.oneof({ weight: 4, arbitrary: fc.constant("POST") }, { weight: 3, arbitrary: fc.constantFrom(...METHODS) }),
    contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }),
    credential: fc.oneof({ weight: 3, arbitrary: fc.constantFrom("PARTNER", "ROOT", "STOREFRONT", "CUSTOMER") }, { weight: 1, arbitrary: badCredential }),
    body: rawBody,
    preflight: fc.boolean(),
    requestId: fc.option(fc.oneof(header, fc.constantFrom("x".repeat(101), "../..", "id\u00ff")), { nil: undefined }),
    search: fc.option(
      fc.oneof(
        fc
          .record({
            query: fc.oneof(nastyString, fc.constantFrom(READS[0], PURCHASE, "{ __typename }")),
            variables: fc.option(anyJsonText, { nil: undefined }),
            extra: fc.string({ maxLength: 30 }),
          })
          .map(({ query, variables, extra }) => {
            const p = new URLSearchParams({ query });
            if (variables !== undefined) p.set("variables", variables);
            return `?${p.toString()}${extra ? `&${encodeURIComponent(extra)}` : ""}`;
          }),
        fc.constantFrom(
          "?",
          "?query",
          "?query=%",
          "?query=%E0%A4%A",
          "?query=%00",
          "?variables={",
          "?query={__typename}&query={programs{id}}",
          "?operationName[]=x",
          "?query[$gt]=1",
        ),
        fc.string({ unit: "binary", maxLength: 100 }).map((s) => `?query=${encodeURIComponent(s)}`),
      ),
      { nil: undefined },
    ),
  })
  .map(({ method, contentType, credential, body, preflight, requestId, search }): HttpCase => {
    const token =
      credential === "PARTNER"
        ? partner
        : credential === "ROOT"
          ? ADMIN_KEY
          : credential === "STOREFRONT"
            ? storefront
            : credential === "CUSTOMER"
              ? customerToken
              : null;
    const headers: Record<string, string> = {};
    if (contentType !== undefined) headers["content-type"] = contentType;
    if (credential === null) {
      // none
    } else if (token) headers.authorization = `Bearer ${token}`;
    else headers.authorization = credential;
    if (preflight) headers["apollo-require-preflight"] = "true";
    if (requestId !== undefined) headers["x-request-id"] = requestId;
    const withBody = method !== "GET" && method !== "HEAD";
    // A GET that names a write is refused (mutations need POST); one that reads may run.
    return { what: "raw request", method, search: method === "GET" || method === "HEAD" ? (search ?? "") : search, headers, body: withBody ? body : undefined };
  });

// ---------------------------------------------------------------------------------------------
// Writes with one field that cannot be accepted (a PARTNER's, or the bootstrap key's for programs)

interface InvalidWrite {
  what: string;
  document: string;
  token: "PARTNER" | "ADMIN_ROLE" | "ROOT";
  base: () => Record<string, Value>;
  patches: Array<Record<string, Value>>;
}

const future = () => new Date(Date.now() + 7 * 86_400_000).toISOString();
const INVALID_WRITES: InvalidWrite[] = [
  {
    what: "recordPurchase",
    document: PURCHASE,
    token: "PARTNER",
    base: validPurchase,
    patches: [
      { amount: -1 },
      { amount: -0.01 },
      { amount: -1e308 },
      { amount: 10.123 },
      { amount: 1e13 },
      { amount: 1e308 },
      { amount: 3e9 },
      { amount: "ten" },
      { amount: "NaN" },
      { amount: "Infinity" },
      { amount: null },
      { amount: undefined },
      { amount: [1] },
      { currency: "eur" },
      { currency: "EURO" },
      { currency: "E" },
      { currency: "" },
      { currency: "12€" },
      { currency: 978 },
      { currency: null },
      { orderId: "" },
      { orderId: "x".repeat(201) },
      { orderId: "x".repeat(900_000) },
      { orderId: "o\u0000x" },
      { orderId: undefined },
      { orderId: 5 },
      { occurredAt: "FUTURE" },
      { occurredAt: "yesterday" },
      { occurredAt: "2026-13-45T25:61:61Z" },
      { occurredAt: 1e308 },
      { programId: "not-a-uuid" },
      { programId: "00000000-0000-0000-0000-00000000000g" },
      { programId: null },
      { programId: 12 },
      { customerId: "123" },
      { customerId: "x".repeat(5000) },
      { customerExternalId: undefined },
      { customerExternalId: "nul\u0000" },
      { customerId: "CUSTOMER" },
      { lines: [{ sku: "a", quantity: 1, unitPrice: 3 }] },
      { lines: [{ sku: "a", quantity: 0, unitPrice: 12.5 }] },
      { lines: [{ sku: "a", quantity: -1, unitPrice: -12.5 }] },
      { lines: "a" },
      { coupon: "X" },
      JSON.parse('{"__proto__": {"amount": 1}, "constructor": "x"}'),
    ],
  },
  {
    what: "recordTouchpoint",
    document: `mutation($input: RecordTouchpointInput!) { recordTouchpoint(input: $input) { pointsEarned touchpoint { id } } }`,
    token: "PARTNER",
    base: () => ({ programId: program, customerExternalId: `fuzz-${randomUUID()}`, type: "VISIT", externalId: randomUUID() }),
    patches: [
      { type: "TELEPATHY" },
      { type: "PURCHASE" },
      { type: "visit" },
      { type: 1 },
      { type: "SURVEY_RESPONSE", data: { nps: 11 } },
      { type: "SURVEY_RESPONSE", data: { nps: -1 } },
      { data: { blob: "x".repeat(20_000) } },
      { data: { note: "a\u0000b" } },
      { data: "not an object" },
      { data: [1, 2] },
      { externalId: "" },
      { externalId: undefined },
      { programId: "not-a-uuid" },
      { occurredAt: "FUTURE" },
    ],
  },
  {
    what: "recordReview",
    document: `mutation($input: RecordReviewInput!) { recordReview(input: $input) { pointsEarned } }`,
    token: "PARTNER",
    base: () => ({ programId: program, customerExternalId: `fuzz-${randomUUID()}`, reviewId: randomUUID(), rating: 4 }),
    patches: [
      { rating: 6 },
      { rating: 0 },
      { rating: -1 },
      { rating: 2 ** 31 },
      { rating: 4.5 },
      { rating: "5" },
      { text: "x".repeat(5001) },
      { reviewId: "" },
      { text: "a\u0000" },
    ],
  },
  {
    what: "upsertCustomer",
    document: `mutation($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { id } }`,
    token: "PARTNER",
    base: () => ({ programId: program, externalId: `fuzz-${randomUUID()}` }),
    patches: [
      { email: "not-an-email" },
      { name: "n".repeat(201) },
      { externalId: "" },
      { externalId: null },
      { attributes: "x" },
      { attributes: { a: "\u0000" } },
      { email: 5 },
    ],
  },
  {
    what: "createProgram",
    document: `mutation($input: CreateProgramInput!) { createProgram(input: $input) { id } }`,
    token: "ROOT",
    base: () => ({ name: "Fuzz", ladder: { preset: "griffin-7" } }),
    patches: [
      { ladder: { preset: "nope" } },
      { ladder: {} },
      { ladder: { preset: "griffin-7", stages: [{ key: "a", name: "A" }] } },
      {
        ladder: {
          stages: [
            { key: "a", name: "A" },
            { key: "b", name: "B", paths: [] },
          ],
        },
      },
      { timeZone: "Mars/Olympus" },
      { earningRules: [{ touchpointType: "PURCHASE" }] },
      { earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: -1 }] },
      { name: "" },
      { name: null },
    ],
  },
  {
    what: "adjustPoints",
    document: `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { id } }`,
    token: "ADMIN_ROLE",
    base: () => ({ programId: program, customerId, idempotencyKey: randomUUID(), points: 5, reason: "fuzz" }),
    patches: [
      { points: "NaN" },
      { points: 1e308 },
      { points: -1e308 },
      { points: null },
      { reason: undefined },
      { customerId: "not-a-uuid" },
      { programId: "x" },
      { idempotencyKey: null },
    ],
  },
];

const invalidWrite: fc.Arbitrary<HttpCase> = fc
  .record({
    write: fc.nat(),
    patch: fc.nat(),
    noise: fc.dictionary(fc.constantFrom("channel", "customerExternalId", "text", "productId", "email", "name"), fc.oneof(nastyString, fc.constant("ok")), {
      maxKeys: 2,
    }),
    alias: fc.boolean(),
  })
  .map(({ write, patch, noise, alias }) => {
    const w = INVALID_WRITES[write % INVALID_WRITES.length];
    const p = w.patches[patch % w.patches.length];
    const input: Record<string, Value> = { ...w.base(), ...noise, ...p };
    for (const [k, v] of Object.entries(input)) {
      if (v === undefined) delete input[k];
      else if (v === "FUTURE") input[k] = future();
      else if (v === "CUSTOMER") input[k] = customerId; // with customerExternalId: both given
    }
    // Noise must not make another field valid that the patch made invalid: the patch wins above.
    const token = w.token === "PARTNER" ? partner : w.token === "ROOT" ? ADMIN_KEY : adminRole;
    const document = alias ? w.document.replace(/\{ (\w+)\(/, "{ aliased: $1(") : w.document;
    return post(
      `invalid ${w.what} ${JSON.stringify(p, (_k, v) => (typeof v === "string" ? clip(v, 40) : v))}`,
      { query: document, variables: { input } },
      token,
      { writes: true },
    );
  });

// ---------------------------------------------------------------------------------------------
// WebSocket

type Frame =
  { kind: "init"; payload: string | undefined } | { kind: "subscribe"; text: string } | { kind: "text"; text: string } | { kind: "binary"; bytes: Uint8Array };

const SUBSCRIPTIONS = [
  `subscription($p: ID!) { stageChanged(programId: $p) { customerId } }`,
  `subscription($p: ID!, $a: ID) { loyaltyEvents(programId: $p, after: $a) { __typename } }`,
  `{ programs { id } }`,
  `mutation { __typename }`,
  `subscription { stageChanged(programId: "x") { customerId } }`,
  `subscription { a: stageChanged(programId: "x") { customerId } b: stageChanged(programId: "y") { customerId } }`,
];

const wsId = fc.oneof(
  fc.constantFrom(`"1"`, `"s"`, `""`, "1", "null", "[]", "{}", JSON.stringify("i".repeat(5000)), `"__proto__"`),
  fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
);
const wsFrame: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .oneof(
        fc.constantFrom("PARTNER", "CUSTOMER", "STOREFRONT", "ROOT").map((who) => ({
          authorization: `Bearer ${who === "PARTNER" ? partner : who === "CUSTOMER" ? customerToken : who === "STOREFRONT" ? storefront : ADMIN_KEY}`,
        })),
        badCredential.map((authorization) => (authorization === null ? {} : { authorization })),
        fc
          .tuple(
            fc.oneof(
              fc.jsonValue({ maxDepth: 2 }).map((claims) => JSON.stringify(claims) ?? "null"),
              fc.constantFrom("null", "0", "[]", '"x"', "{"),
            ),
            base64urlChars,
          )
          .map(([claims, sig]) => ({ authorization: `Bearer ct_${b64url(claims)}.${sig}` })),
        badCredential.map((Authorization) => ({ Authorization, authorization: 5 })),
        fc.constantFrom<unknown>(null, [], "Bearer x", 7, { authorization: null }, { authorization: ["Bearer x"] }, { authorization: { toString: "x" } }),
      )
      .map((p) => ({ kind: "init" as const, payload: JSON.stringify(p) }))
      .chain((f) =>
        fc.oneof(
          fc.constant(f),
          deepJsonText.map((d) => ({ kind: "init" as const, payload: d })),
          fc.constant({ kind: "init" as const, payload: undefined }),
        ),
      ),
  },
  {
    weight: 5,
    arbitrary: fc
      .record({
        id: wsId,
        query: fc.oneof(
          fc.constantFrom(...SUBSCRIPTIONS).map((q) => JSON.stringify(q)),
          anyJsonText,
          nastyString.map((s) => JSON.stringify(s)),
        ),
        variables: fc.option(
          fc.oneof(
            fc.constant("PROGRAM"),
            anyJsonText,
            deepJsonText.map((d) => `{"a":${d}}`),
          ),
          { nil: undefined },
        ),
        operationName: fc.option(anyJsonText, { nil: undefined }),
        extensions: fc.option(anyJsonText, { nil: undefined }),
        payloadIsJunk: fc.option(anyJsonText, { freq: 8, nil: undefined }),
      })
      .map(({ id, query, variables, operationName, extensions, payloadIsJunk }) => {
        const vars = variables === "PROGRAM" ? JSON.stringify({ p: program, a: "0" }) : variables;
        const payload =
          payloadIsJunk ??
          `{"query":${query}${vars !== undefined ? `,"variables":${vars}` : ""}${operationName !== undefined ? `,"operationName":${operationName}` : ""}${extensions !== undefined ? `,"extensions":${extensions}` : ""}}`;
        return { kind: "subscribe" as const, text: `{"id":${id},"type":"subscribe","payload":${payload}}` };
      }),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.string({ unit: "binary", maxLength: 200 }),
        anyJsonText,
        fc.constantFrom(
          `{"type":"ping"}`,
          `{"type":"pong"}`,
          `{"type":"complete","id":"1"}`,
          `{"type":"complete"}`,
          `{"type":"next","id":"1","payload":{}}`,
          `{"type":"error","id":"1","payload":[]}`,
          `{"type":"connection_ack"}`,
          `{"type":"start","id":"1","payload":{"query":"{ __typename }"}}`,
          `{"type":null}`,
          `{"type":"__proto__"}`,
          `{"type":"subscribe","id":"1"}`,
          `{"type":"ping","payload":[]}`,
          "",
        ),
        fc
          .record({
            type: fc.string({ maxLength: 20 }),
            id: fc.option(fc.string(), { nil: undefined }),
            payload: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
          })
          .map((m) => JSON.stringify(m)),
        fc.integer({ min: 1_000_001, max: 1_050_000 }).map((n) => `{"type":"ping","payload":{"a":"${"x".repeat(n)}"}}`),
      )
      .map((text) => ({ kind: "text" as const, text })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: "binary" as const, bytes })) },
);

const wsCase = fc.record({
  protocol: fc.oneof(
    { weight: 9, arbitrary: fc.constant<string | null>("graphql-transport-ws") },
    { weight: 1, arbitrary: fc.constantFrom<string | null>(null, "graphql-ws", "x", "graphql-transport-ws, graphql-ws") },
  ),
  /** Most sockets start with a good connection_init, so subscribe frames reach the server's checks. */
  start: fc.oneof({ weight: 3, arbitrary: fc.constant<"good" | "none">("good") }, { weight: 1, arbitrary: fc.constant<"good" | "none">("none") }),
  frames: fc.array(wsFrame, { minLength: 1, maxLength: 5 }),
});

const describeFrame = (f: Frame) =>
  f.kind === "binary"
    ? `binary ${Buffer.from(f.bytes.slice(0, 60)).toString("hex")} (${f.bytes.length} bytes)`
    : `${f.kind} ${clip(JSON.stringify(f.kind === "init" ? (f.payload ?? "(no payload)") : f.text), 300)}`;

/**
 * Opens a socket, sends the frames (waiting after a connection_init for its ack or the close), and,
 * when the socket is still open and acknowledged, a last query whose answer shows the server went
 * through what came before. Then closes and reports every message and the close code the server gave.
 */
async function runSocket({ protocol, start, frames }: { protocol: string | null; start: "good" | "none"; frames: Frame[] }) {
  const ws = protocol ? new WebSocket(t.server.wsUrl, protocol.split(", ")) : new WebSocket(t.server.wsUrl);
  const messages: string[] = [];
  let acked = false;
  let closeCode: number | undefined;
  let closeReason = "";
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const closed = new Promise<void>((resolve) =>
    ws.on("close", (code, reason) => {
      closeCode = code;
      closeReason = reason.toString();
      poke();
      resolve();
    }),
  );
  ws.on("error", () => undefined); // a refused upgrade or a cut connection: the close code tells
  ws.on("message", (data) => {
    const text = data.toString();
    messages.push(text);
    try {
      if (JSON.parse(text).type === "connection_ack") acked = true;
    } catch {
      // kept in messages; checked below
    }
    poke();
  });
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const step = () => (done() || closeCode !== undefined ? resolve() : (wake = step));
      step();
    });
  await new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.OPEN) return resolve();
    ws.once("open", () => resolve());
    ws.once("close", () => resolve());
  });
  const sendText = (text: string | Buffer) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(text);
  };
  if (start === "good" && closeCode === undefined) {
    sendText(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${partner}` } }));
    await until(() => acked);
  }
  for (const frame of frames) {
    if (closeCode !== undefined) break;
    if (frame.kind === "init") {
      const before = messages.length;
      sendText(`{"type":"connection_init"${frame.payload !== undefined ? `,"payload":${frame.payload}` : ""}}`);
      await until(() => messages.length > before);
    } else if (frame.kind === "binary") sendText(Buffer.from(frame.bytes));
    else sendText(frame.text);
  }
  // The server answers a ping in order, at once: its pong shows every frame before it was read
  // (and a frame that fails at once, failed). A last query shows the operations before it went through.
  if (closeCode === undefined) {
    const nonce = randomUUID();
    sendText(JSON.stringify({ type: "ping", payload: { nonce } }));
    await until(() => messages.some((m) => m.includes(nonce)));
  }
  if (closeCode === undefined && acked) {
    const id = `sentinel-${randomUUID()}`;
    sendText(JSON.stringify({ id, type: "subscribe", payload: { query: `{ programs { id } }` } }));
    await until(() => messages.some((m) => m.includes(id) && /"type":"(complete|error)"/.test(m)));
  }
  if (closeCode === undefined) {
    ws.close(1000);
    await closed;
  } else await closed;
  return { messages, closeCode: closeCode!, closeReason };
}

// ---------------------------------------------------------------------------------------------
// The properties

describe("requests rejected by construction write nothing and never fail inside", () => {
  beforeAll(async () => {
    rejectedBefore = await tableCounts(t);
  });

  it(
    "raw bodies, methods, content types and query strings",
    async () => {
      await fc.assert(
        fc.asyncProperty(rawRequest, async (c) => {
          await roundTrip(c);
        }),
        params("raw"),
      );
    },
    timeout("raw"),
  );

  it(
    "missing, garbage and forged credentials",
    async () => {
      await fc.assert(
        fc.asyncProperty(badCredential, fc.nat(), fc.constantFrom("POST", "GET"), async (credential, which, method) => {
          const documents = [{ query: PURCHASE, variables: { input: validPurchase() } }, ...READS.map((query) => ({ query, variables: { p: program } }))];
          const body = documents[which % documents.length];
          const headers: Record<string, string> = { "content-type": "application/json", "apollo-require-preflight": "1" };
          if (credential !== null) headers.authorization = credential;
          const c: HttpCase =
            method === "GET"
              ? {
                  what: "bad credential (GET)",
                  method,
                  headers,
                  search: `?${new URLSearchParams({ query: body.query, variables: JSON.stringify(body.variables) })}`,
                  writes: body.query === PURCHASE,
                }
              : { what: "bad credential", method, headers, body: JSON.stringify(body), writes: body.query === PURCHASE };
          const a = await roundTrip(c);
          // No program's data goes to a caller without a credential that names someone.
          const data = JSON.stringify(a.json?.data ?? null);
          if (data.includes(program) || data.includes(customerId)) {
            throw new Error(`a bad credential was answered with a program's data\n  request: ${describeCase(c)}\n  answer: ${clip(a.text)}`);
          }
        }),
        params("credentials"),
      );
    },
    timeout("credentials"),
  );

  it(
    "documents from the schema that cannot validate (a required argument missing, null or of the wrong type; an unknown argument)",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.gen(), fc.constantFrom("PARTNER", "ADMIN_ROLE", "ROOT", "CUSTOMER"), async (g, who) => {
          const operation = chance(g, 0.7) ? "mutation" : "query";
          const built = buildDocument(g, operation, { hostile: 0.15, broken: true });
          const token = who === "PARTNER" ? partner : who === "ADMIN_ROLE" ? adminRole : who === "ROOT" ? ADMIN_KEY : customerToken;
          const a = await roundTrip(
            post(`broken ${operation}`, { query: built.document, variables: built.variables, operationName: built.operationName }, token, { writes: true }),
          );
          if (a.json?.data !== undefined && a.json?.data !== null)
            throw new Error(`a document that cannot validate ran: ${clip(built.document, 2000)} → ${clip(a.text)}`);
        }),
        params("invalidDocuments"),
      );
    },
    timeout("invalidDocuments"),
  );

  it(
    "writes with one invalid field, with a real PARTNER (or ADMIN) key",
    async () => {
      await fc.assert(
        fc.asyncProperty(invalidWrite, async (c) => {
          await roundTrip(c);
        }),
        params("invalidWrites"),
      );
    },
    timeout("invalidWrites"),
  );

  it("left every table as it was", async () => {
    expect(await tableCounts(t)).toEqual(rejectedBefore);
  });
});

describe("any document from the schema", () => {
  it(
    "queries, mutations and subscriptions over HTTP with mutated arguments, as each kind of caller",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.gen(), fc.constantFrom("PARTNER", "ADMIN_ROLE", "STOREFRONT", "CUSTOMER", "ROOT", "NONE"), async (g, who) => {
          const operation = pick(g, ["query", "query", "mutation", "subscription"] as const);
          const built = buildDocument(g, operation, { hostile: 0.2, broken: false });
          const token = { PARTNER: partner, ADMIN_ROLE: adminRole, STOREFRONT: storefront, CUSTOMER: customerToken, ROOT: ADMIN_KEY, NONE: null }[who];
          const asGet = operation === "query" && chance(g, 0.15);
          const body = { query: built.document, variables: built.variables, operationName: built.operationName };
          // JSON.stringify turns NaN and Infinity into null: they go in as text, which a client can send.
          const text = JSON.stringify(body, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? `__NUM_${v}__` : v)).replace(
            /"__NUM_(NaN|Infinity|-Infinity)__"/g,
            (_m, n) => (chance(g, 0.5) ? n : "1e999"),
          );
          await roundTrip(
            asGet
              ? {
                  what: "schema query (GET)",
                  method: "GET",
                  headers: { "apollo-require-preflight": "1", ...(token ? { authorization: `Bearer ${token}` } : {}) },
                  search: `?${new URLSearchParams({ query: built.document, variables: JSON.stringify(built.variables) })}`,
                }
              : {
                  what: `schema ${operation}`,
                  method: "POST",
                  headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
                  body: text,
                },
          );
        }),
        params("documents"),
      );
    },
    timeout("documents"),
  );
});

describe("WebSocket (graphql-ws)", () => {
  it(
    "odd connection_init and subscribe payloads, invalid frames: never closed as an internal error",
    async () => {
      await fc.assert(
        fc.asyncProperty(wsCase, async (c) => {
          const { messages, closeCode, closeReason } = await runSocket(c);
          const fail = (why: string) => {
            throw new Error(
              `${why}\n  socket: protocol ${c.protocol}, ${c.start} start, frames:\n    ${c.frames.map(describeFrame).join("\n    ")}\n  close: ${closeCode} ${clip(closeReason, 200)}\n  messages: ${clip(messages.join("\n"), 1500)}`,
            );
          };
          if (closeCode === 4500 || closeCode === 1011) fail(`closed with ${closeCode}`);
          for (const m of messages) {
            let json: unknown;
            try {
              json = JSON.parse(m);
            } catch {
              fail("a message that is not JSON");
            }
            if (errorsIn(json).some((e) => e?.extensions?.code === "INTERNAL_SERVER_ERROR")) fail("INTERNAL_SERVER_ERROR");
          }
          const leak = leakIn(messages.join("\n")) ?? leakIn(closeReason);
          if (leak) fail(`the socket shows ${leak}`);
        }),
        params("websocket"),
      );
    },
    timeout("websocket"),
  );
});

describe("after the fuzzing", () => {
  it("is healthy, ready and answers a PARTNER", async () => {
    const base = url.replace(/\/graphql$/, "");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({ status: 200, body: { status: "ready" } });
    const res = ok(await t.gql(`query($p: ID!) { program(id: $p) { id } customers(programId: $p, first: 1) { nodes { id } } }`, { p: program }, partner));
    expect(res.status).toBe(200);
    expect(res.data.program.id).toBe(program);
    const written = ok(await purchase(t, validPurchase(), partner));
    expect(written.data.recordPurchase.pointsEarned).toBeGreaterThan(0);
  });
});
