/**
 * Every operation of the schema, called with every kind of credential, over HTTP (and
 * subscriptions and a sample of the rest over WebSocket), answers what its declared policy
 * (src/modules/auth/policies.ts) says: the documents are generated from the schema, with arguments
 * pointing at real rows of program A, and each cell's expected outcome is worked out from the
 * policy table, not written by hand. A denied call changes nothing.
 */
import { createHmac } from "node:crypto";
import {
  GraphQLArgument,
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLInputType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  getNamedType,
  isLeafType,
} from "graphql";
import type { Client } from "graphql-ws";
import { getSchema } from "../../src/schema";
import { ANY_PROGRAM, CREDENTIAL, INHERIT, Policy, POLICIES } from "../../src/modules/auth/policies";
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, griffinProgram, ok, purchase } from "../helpers/operations";

type Outcome = "ALLOW" | "NULL" | "UNAUTHENTICATED" | "FORBIDDEN" | "NOT_FOUND";

interface Credential {
  name: string;
  secret: string | null;
  /** bad: a credential that names no one now (garbage, forged, expired, revoked, an erased customer's). */
  kind: "none" | "bad" | "root" | "key" | "token";
  role?: "ADMIN" | "PARTNER" | "STOREFRONT";
  /** The program it belongs to: A holds every row the documents name. */
  program?: "A" | "B";
  /** For a token: is it the token of the customer the documents name (c1)? */
  self?: boolean;
}

let t: TestApp;
let schema: GraphQLSchema;
let credentials: Credential[];
/** The rows of program A the documents point at. */
const ids: Record<string, string> = {};

const SQL_FINGERPRINT = `SELECT
  (SELECT count(*) FROM programs)::int AS programs, (SELECT count(*) FROM customers)::int AS customers,
  (SELECT count(*) FROM customers WHERE erased_at IS NOT NULL)::int AS erased, (SELECT coalesce(sum(balance), 0)::int FROM customers) AS balance,
  (SELECT count(*) FROM customers WHERE tier_manual_until IS NOT NULL)::int AS manual_tiers,
  (SELECT count(*) FROM touchpoints)::int AS touchpoints, (SELECT count(*) FROM ledger_entries)::int AS ledger,
  (SELECT count(*) FROM outbox)::int AS outbox, (SELECT count(*) FROM api_keys)::int AS keys,
  (SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL)::int AS revoked,
  (SELECT count(*) FROM rewards)::int AS rewards, (SELECT count(*) FILTER (WHERE active) FROM rewards)::int AS active_rewards,
  (SELECT count(*) FROM redemptions)::int AS redemptions, (SELECT count(*) FILTER (WHERE status = 'ISSUED') FROM redemptions)::int AS issued,
  (SELECT count(*) FROM surveys)::int AS surveys, (SELECT count(*) FILTER (WHERE active) FROM surveys)::int AS active_surveys,
  (SELECT count(*) FROM webhooks)::int AS webhooks, (SELECT count(*) FILTER (WHERE active) FROM webhooks)::int AS active_webhooks,
  (SELECT count(*) FROM reward_triggers)::int AS triggers, (SELECT count(*) FILTER (WHERE active) FROM reward_triggers)::int AS active_triggers,
  (SELECT count(*) FROM stage_rewards)::int AS stage_rewards, (SELECT count(*) FILTER (WHERE active) FROM stage_rewards)::int AS active_stage_rewards,
  (SELECT count(*) FROM segment_goals)::int AS goals, (SELECT count(*) FROM referrals)::int AS referrals,
  (SELECT max(updated_at) FROM programs)::text AS programs_updated`;
const fingerprint = async () => (await t.app.db.query(SQL_FINGERPRINT))[0];

beforeAll(async () => {
  // Every bad credential here comes from one address, whose bucket a stranger's would be: the
  // matrix asks what the policy answers, not what the rate limit does.
  t = await startTestApp({ env: { RATE_LIMIT_ANONYMOUS: "1000000000:1000000000" } });
  schema = await getSchema();
  const programA = await griffinProgram(t);
  const programB = await griffinProgram(t);
  ids.programId = programA;
  ids.programB = programB;
  const customerOf = async (programId: string, externalId: string, amount: number) =>
    ok(await purchase(t, { programId, customerExternalId: externalId, orderId: `o-${externalId}`, amount, currency: "EUR" })).data.recordPurchase.customer
      .id as string;
  ids.c1 = await customerOf(programA, "m1", 500);
  ids.c2 = await customerOf(programA, "m2", 10);
  const cB = await customerOf(programB, "mb", 10);
  const erased = await customerOf(programA, "gone", 10);
  const tokenOf = async (customerId: string) =>
    ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: customerId })).data.issueCustomerToken.token as string;
  const root = (query: string, variables: Record<string, unknown>) => t.gql(query, variables).then(ok);

  ids.rewardId = (
    await root(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, { i: { programId: programA, name: "Mug", pointsCost: 1 } })
  ).data.createReward.id;
  const redeemed = await root(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { ... on Redemption { id } } }`, {
    i: { customerId: ids.c1, rewardId: ids.rewardId, idempotencyKey: "setup" },
  });
  ids.redemptionId = redeemed.data.redeemReward.id;
  ids.surveyId = (
    await root(`mutation($i: CreateSurveyInput!) { createSurvey(input: $i) { id } }`, {
      i: { programId: programA, name: "NPS", questions: [{ key: "nps", kind: "NPS", text: "Recommend us?", required: false }] },
    })
  ).data.createSurvey.id;
  const webhook = (programId: string) =>
    root(`mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }`, {
      i: { programId, url: "http://127.0.0.1:9/hook", topics: ["STAGE_CHANGED"] },
    }).then((r) => r.data.createWebhook.webhook.id as string);
  ids.webhookId = await webhook(programA);
  ids.triggerId = (
    await root(`mutation($i: CreateRewardTriggerInput!) { createRewardTrigger(input: $i) { id } }`, {
      i: { programId: programA, name: "Views", rewardId: ids.rewardId, touchpointType: "PRODUCT_VIEW", minCount: 100, windowHours: 1 },
    })
  ).data.createRewardTrigger.id;
  ids.stageRewardId = (
    await root(`mutation($i: CreateStageRewardInput!) { createStageReward(input: $i) { id } }`, {
      i: { programId: programA, name: "Welcome", stage: "advocate", rewardId: ids.rewardId },
    })
  ).data.createStageReward.id;

  // Credentials that name no one (now).
  const self = await tokenOf(ids.c1);
  const [body] = self.slice(3).split(".");
  const erasedToken = await tokenOf(erased);
  ok(await t.gql(`mutation($c: ID!) { eraseCustomer(customerId: $c) { id } }`, { c: erased }));
  // Issued an hour and more ago, by the app's clock: expired now.
  const ttlMs = t.app.config.customerTokenTtlSeconds * 1000;
  t.advanceClock(-(ttlMs + 60_000));
  const expiredToken = await tokenOf(ids.c1).finally(() => t.advanceClock(ttlMs + 60_000));
  const revoked = ok(
    await t.gql(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret } }`, {
      i: { programId: programA, role: "ADMIN", name: "revoked" },
    }),
  ).data.createApiKey;
  ok(await t.gql(`mutation($p: ID!, $id: ID!) { revokeApiKey(programId: $p, id: $id) { id } }`, { p: programA, id: revoked.apiKey.id }));

  credentials = [
    { name: "none", secret: null, kind: "none" },
    { name: "garbage", secret: "garbage", kind: "bad" },
    { name: "forged key", secret: `lk_${programA.replace(/-/g, "")}_${"Fg".repeat(20)}`, kind: "bad" },
    { name: "forged token", secret: `ct_${body}.${createHmac("sha256", "not-the-secret").update(body).digest("base64url")}`, kind: "bad" },
    { name: "expired token", secret: expiredToken, kind: "bad" },
    { name: "revoked key", secret: revoked.secret, kind: "bad" },
    { name: "erased customer's token", secret: erasedToken, kind: "bad" },
    { name: "LOYALTY_ADMIN_KEY", secret: ADMIN_KEY, kind: "root" },
    ...(["ADMIN", "PARTNER", "STOREFRONT"] as const).flatMap((role) =>
      (["A", "B"] as const).map((program) => ({ name: `${role} of ${program}`, role, program, kind: "key" as const, secret: "" })),
    ),
    { name: "c1's token", secret: self, kind: "token", program: "A", self: true },
    { name: "c2's token (another customer)", secret: await tokenOf(ids.c2), kind: "token", program: "A", self: false },
    { name: "token of program B", secret: await tokenOf(cB), kind: "token", program: "B", self: false },
  ];
  for (const c of credentials) if (c.kind === "key") c.secret = await createKey(t, c.program === "A" ? programA : programB, c.role!);
});
afterAll(() => t.stop());

// --- What the policy says a cell answers -----------------------------------------------------

function policyOf(key: string): Policy {
  const policy = POLICIES[key];
  if (!policy || policy === INHERIT) throw new Error(`no policy for ${key}`);
  return policy;
}

/** The outcome the policy table gives a credential on an operation whose arguments name program A's rows and customer c1. */
function expected(policy: Policy, c: Credential): Outcome {
  if (c.kind === "none" || c.kind === "bad") return "UNAUTHENTICATED";
  const { allow } = policy;
  const kindServed =
    c.kind === "root"
      ? allow.includes("ROOT") || allow.includes("ADMIN")
      : c.kind === "key"
        ? allow.includes(c.role!)
        : allow.includes("CUSTOMER") || allow.includes("SELF");
  if (!kindServed) return policy.refuse ?? "FORBIDDEN";
  if (policy.program === CREDENTIAL || policy.program === ANY_PROGRAM) return "ALLOW";
  if (c.kind === "root") return "ALLOW";
  if (c.program !== "A") {
    if (typeof policy.program === "object" && "row" in policy.program) return policy.program.hidden === "null" ? "NULL" : "NOT_FOUND";
    return "FORBIDDEN";
  }
  if (c.kind === "token") return allow.includes("CUSTOMER") || (allow.includes("SELF") && c.self) ? "ALLOW" : "FORBIDDEN";
  return allow.includes(c.role!) ? "ALLOW" : "FORBIDDEN";
}

/** The NOT_FOUND a row policy answers names the argument; another NOT_FOUND is the operation's own business. */
function rowField(policy: Policy): string | undefined {
  if (typeof policy.program !== "object" || !("row" in policy.program)) return undefined;
  return policy.program.field ?? policy.program.id.slice(policy.program.id.lastIndexOf(".") + 1);
}

type Answer = { status?: number; data?: any; errors?: Array<{ extensions?: Record<string, any> }>; closed?: number };

function outcomeOf(answer: Answer, field: string, policy: Policy): Outcome | "4403" {
  if (answer.closed !== undefined) return answer.closed === 4403 ? "4403" : (`closed ${answer.closed}` as any);
  const codes = (answer.errors ?? []).map((e) => e.extensions?.code);
  if (codes.includes("UNAUTHENTICATED")) return "UNAUTHENTICATED";
  if (codes.includes("FORBIDDEN")) return "FORBIDDEN";
  if ((answer.errors ?? []).some((e) => e.extensions?.code === "NOT_FOUND" && e.extensions?.field === rowField(policy))) return "NOT_FOUND";
  if (!answer.errors && answer.data?.[field] === null) return "NULL";
  return "ALLOW";
}

// --- Documents generated from the schema -----------------------------------------------------

/** Argument values by name: real rows of program A, so an allowed call reaches its resolver. */
function idFor(operation: string, name: string): string | undefined {
  if (name === "id") {
    return {
      "Query.program": ids.programId,
      "Query.customer": ids.c1,
      "Query.reward": ids.rewardId,
      "Query.survey": ids.surveyId,
      "Mutation.cancelRedemption": ids.redemptionId,
    }[operation];
  }
  const byName: Record<string, string> = {
    programId: ids.programId,
    customerId: ids.c1,
    fromCustomerId: ids.c1,
    toCustomerId: ids.c2,
    rewardId: ids.rewardId,
    surveyId: ids.surveyId,
    webhookId: ids.webhookId,
    triggerId: ids.triggerId,
    stageRewardId: ids.stageRewardId,
  };
  return byName[name];
}

/** Optional arguments given anyway: who the call is about, and where a feed starts (the oldest event, so an allowed one answers at once). */
const OPTIONAL_GIVEN = new Set(["id", "customerId", "after"]);

function valueOf(operation: string, name: string, type: GraphQLInputType, badIds: boolean): unknown {
  if (type instanceof GraphQLNonNull) return valueOf(operation, name, type.ofType, badIds);
  if (type instanceof GraphQLList) return [valueOf(operation, name, type.ofType, badIds)];
  if (type instanceof GraphQLEnumType) return type.getValues()[0].value;
  if (type instanceof GraphQLInputObjectType) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      if (field.type instanceof GraphQLNonNull || (OPTIONAL_GIVEN.has(field.name) && field.name !== "after"))
        value[field.name] = valueOf(operation, field.name, field.type, badIds);
    }
    return value;
  }
  const scalar = (type as GraphQLScalarType).name;
  if (scalar === "ID") {
    if (name === "after") return "0";
    if (badIds) return "not-a-uuid";
    return idFor(operation, name) ?? "00000000-0000-4000-8000-000000000000";
  }
  if (scalar === "String") return name === "idempotencyKey" || name === "orderId" ? `matrix-${Math.random()}` : "matrix";
  if (scalar === "Int" || scalar === "Float") return 1;
  if (scalar === "Boolean") return true;
  if (scalar === "DateTime") return new Date(Date.now() + 30 * 86_400_000).toISOString();
  return {};
}

interface Call {
  key: string;
  query: string;
  variables: Record<string, unknown>;
  field: string;
}

/** `operation(args) { __typename }` with every required argument (and the optional ones above) as variables. */
function callOf(key: string, options: { badIds?: boolean; override?: Record<string, unknown> } = {}): Call {
  const [typeName, field] = key.split(".");
  const definition = (schema.getType(typeName) as GraphQLObjectType).getFields()[field];
  // `after` is a feed's resume point (given) or a page's cursor (left out).
  const given = definition.args.filter(
    (a: GraphQLArgument) => a.type instanceof GraphQLNonNull || (OPTIONAL_GIVEN.has(a.name) && (a.name !== "after" || typeName === "Subscription")),
  );
  const variables: Record<string, unknown> = {};
  for (const arg of given) variables[arg.name] = valueOf(key, arg.name, arg.type, !!options.badIds);
  Object.assign(variables, options.override);
  const declared = given.map((a) => `$${a.name}: ${a.type}`).join(", ");
  const passed = given.map((a) => `${a.name}: $${a.name}`).join(", ");
  const selection = isLeafType(getNamedType(definition.type)) ? "" : " { __typename }";
  const operation = typeName.toLowerCase();
  return {
    key,
    field,
    variables,
    query: `${operation}${declared ? `(${declared})` : ""} { ${field}${passed ? `(${passed})` : ""}${selection} }`,
  };
}

function operations(typeName: "Query" | "Mutation" | "Subscription"): string[] {
  return Object.keys((schema.getType(typeName) as GraphQLObjectType).getFields()).map((f) => `${typeName}.${f}`);
}

// --- Calling -------------------------------------------------------------------------------

const http = (call: Call, c: Credential): Promise<Answer> => t.gql(call.query, call.variables, c.secret);

/** One operation over a WebSocket: its first result, its error, or the socket's close code. */
function overWs(client: Client, call: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${call.key}: no answer over WebSocket`)), 10_000);
    let stop = () => {};
    const done = (answer: Answer) => {
      clearTimeout(timer);
      stop();
      resolve(answer);
    };
    stop = client.subscribe(
      { query: call.query, variables: call.variables },
      {
        next: (value) => done({ data: value.data, errors: value.errors as Answer["errors"] }),
        error: (err: any) =>
          done(
            Array.isArray(err) ? { errors: err } : typeof err?.code === "number" ? { closed: err.code } : { errors: [{ extensions: { code: String(err) } }] },
          ),
        complete: () => done({ data: {} }),
      },
    );
  });
}

/** Runs `work` over `items`, `width` at a time. */
async function inTurns<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

function describeCell(call: Call, c: Credential) {
  return `${call.key} as ${c.name}`;
}

// --- The matrix ------------------------------------------------------------------------------

describe("authorization matrix", () => {
  it("answers each denied call over HTTP as its policy says, before any argument is validated, and changes nothing", async () => {
    const before = await fingerprint();
    const wrong: string[] = [];
    const cells: Array<{ call: Call; c: Credential; want: Outcome }> = [];
    for (const key of [...operations("Query"), ...operations("Mutation")]) {
      const policy = policyOf(key);
      for (const c of credentials) {
        const want = expected(policy, c);
        if (want !== "ALLOW") cells.push({ call: callOf(key), c, want });
      }
      // No credential with malformed ids: UNAUTHENTICATED, not BAD_USER_INPUT.
      cells.push({ call: callOf(key, { badIds: true }), c: credentials[0], want: "UNAUTHENTICATED" });
    }
    await inTurns(cells, 6, async ({ call, c, want }) => {
      const answer = await http(call, c);
      const got = outcomeOf(answer, call.field, policyOf(call.key));
      if (got !== want) wrong.push(`${describeCell(call, c)}: want ${want}, got ${got} ${JSON.stringify(answer.errors ?? answer.data)}`);
      // A credential that names no one is refused by HTTP status too.
      if (c.kind === "bad" && answer.status !== 401) wrong.push(`${describeCell(call, c)}: HTTP ${answer.status}, not 401`);
    });
    expect(wrong).toEqual([]);
    expect(cells.length).toBeGreaterThan(500);
    expect(await fingerprint()).toEqual(before);
  });

  it("answers each subscription, and a sample of queries and mutations, over WebSocket as its policy says", async () => {
    const before = await fingerprint();
    const wrong: string[] = [];
    const sample = [
      ...operations("Subscription"),
      "Query.program",
      "Query.customer",
      "Query.reward",
      "Query.survey",
      "Query.me",
      "Mutation.recordPurchase",
      "Mutation.eraseCustomer",
      "Mutation.redeemReward",
    ];
    await inTurns(credentials, 4, async (c) => {
      const client = t.ws(c.secret);
      for (const key of sample) {
        const policy = policyOf(key);
        const want = expected(policy, c);
        // Allowed writes are the HTTP test's (with throwaway rows); reads and feeds are safe to run here.
        if (want === "ALLOW" && key.startsWith("Mutation.")) continue;
        const call = callOf(key);
        const answer = await overWs(client, call);
        const got = outcomeOf(answer, call.field, policy);
        // An allowed feed proves it started: from `after: "0"` it replays the program's first events at once.
        if (want === "ALLOW" && key.startsWith("Subscription.") && !answer.data?.[call.field])
          wrong.push(`${describeCell(call, c)} over WebSocket: no event, ${JSON.stringify(answer.errors)}`);
        // A credential that names no one cannot open the socket (4403), and no credential at all
        // closes it at once (4401: no operation works without one), whatever it asks.
        const wanted = c.kind === "bad" ? "4403" : c.kind === "none" ? "closed 4401" : want;
        if (got !== wanted) wrong.push(`${describeCell(call, c)} over WebSocket: want ${wanted}, got ${got}`);
        if (c.kind === "bad" || c.kind === "none") break; // the socket is closed: one cell says it
      }
    });
    expect(wrong).toEqual([]);
    expect(await fingerprint()).toEqual(before);
  });

  it("lets each allowed call over HTTP through to its resolver (business errors aside)", async () => {
    const wrong: string[] = [];
    const root = (query: string, variables: Record<string, unknown>) => t.gql(query, variables).then(ok);
    // Writes that would take away a row other cells use get one of their own.
    const fresh: Record<string, () => Promise<Record<string, unknown>>> = {
      "Mutation.eraseCustomer": async () => ({
        customerId: (
          await root(`mutation($i: UpsertCustomerInput!) { upsertCustomer(input: $i) { id } }`, {
            i: { programId: ids.programId, externalId: `throwaway-${Math.random()}` },
          })
        ).data.upsertCustomer.id,
      }),
      "Mutation.deleteWebhook": async () => ({
        webhookId: (
          await root(`mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }`, {
            i: { programId: ids.programId, url: "http://127.0.0.1:9/throwaway", topics: ["STAGE_CHANGED"] },
          })
        ).data.createWebhook.webhook.id,
      }),
      "Mutation.revokeApiKey": async () => ({
        id: (
          await root(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }`, {
            i: { programId: ids.programId, role: "PARTNER", name: "throwaway" },
          })
        ).data.createApiKey.apiKey.id,
      }),
    };
    let allowed = 0;
    for (const key of [...operations("Query"), ...operations("Mutation")]) {
      const policy = policyOf(key);
      for (const c of credentials) {
        if (expected(policy, c) !== "ALLOW") continue;
        const call = callOf(key, { override: await fresh[key]?.() });
        const answer = await http(call, c);
        const got = outcomeOf(answer, call.field, policy);
        allowed++;
        if (got !== "ALLOW") wrong.push(`${describeCell(call, c)}: want ALLOW, got ${got} ${JSON.stringify(answer.errors)}`);
        // Reaching the resolver: an internal error would hide a broken cell behind "not denied".
        if (answer.errors?.some((e) => e.extensions?.code === "INTERNAL_SERVER_ERROR"))
          wrong.push(`${describeCell(call, c)}: ${JSON.stringify(answer.errors)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(allowed).toBeGreaterThan(100);
  });

  it("checks the restricted fields of a customer with the customer's own policy first", async () => {
    const wrong: string[] = [];
    const restricted = Object.entries(POLICIES).filter(([key, policy]) => key.startsWith("Customer.") && policy !== INHERIT);
    expect(restricted.map(([key]) => key).sort()).toEqual(["Customer.clv", "Customer.lifecycle", "Customer.loyalty", "Customer.rfm"]);
    const outer = policyOf("Query.customer");
    for (const [key] of restricted) {
      const field = key.split(".")[1];
      const definition = (schema.getType("Customer") as GraphQLObjectType).getFields()[field];
      const selection = isLeafType(getNamedType(definition.type)) ? field : `${field} { __typename }`;
      for (const c of credentials) {
        const first = expected(outer, c);
        const want = first === "ALLOW" ? expected(policyOf(key), c) : first;
        const answer = await t.gql(`query($id: ID!) { customer(id: $id) { id ${selection} } }`, { id: ids.c1 }, c.secret);
        const got = outcomeOf(answer, "customer", outer);
        if (got !== want) wrong.push(`${key} as ${c.name}: want ${want}, got ${got} ${JSON.stringify(answer.errors)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
