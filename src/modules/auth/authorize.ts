/**
 * Enforces policies.ts: applyPolicies wraps the resolver (and a subscription's subscribe) of every
 * field that has a policy, so the check runs before type-graphql converts and validates the
 * arguments (an anonymous call is UNAUTHENTICATED, never BAD_USER_INPUT) and before the resolver.
 * Only the fields with a policy are wrapped: plain fields cost nothing (a type-graphql global
 * middleware would wrap every field of every object read).
 */
import { defaultFieldResolver, GraphQLFieldResolver, GraphQLObjectType, GraphQLSchema } from "graphql";
import { BadInput, Forbidden, NotFound, Unauthenticated } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import type { RequestContext } from "../../context";
import { Actor, boundProgram } from "./actor";
import { ANY_PROGRAM, CREDENTIAL, CUSTOMER_REF, FieldPolicy, INHERIT, POLICIES, Policy, ROWS, RowKind, Who } from "./policies";

/** The policy a wrapped resolver enforces (tests check every policy is in place). */
export const ENFORCED = Symbol("enforced policy");

/** Applies every policy to the built schema; a policy naming no field fails the build. */
export function applyPolicies(schema: GraphQLSchema, policies: Record<string, FieldPolicy> = POLICIES): void {
  for (const [key, policy] of Object.entries(policies)) {
    const [typeName, fieldName] = key.split(".");
    const type = schema.getType(typeName);
    const field = type instanceof GraphQLObjectType ? type.getFields()[fieldName] : undefined;
    if (!field) throw new Error(`policies.ts names ${key}, which is no field of the schema`);
    if (policy === INHERIT) continue;
    if (typeName === "Subscription") {
      // Checked once, when the subscription starts; a customer token's feed ends when it expires (events.resolver.ts).
      const subscribe = field.subscribe!;
      field.subscribe = Object.assign(
        async (root: unknown, args: any, ctx: RequestContext, info: any) => {
          await authorize(policy, root, args, ctx);
          return subscribe(root, args, ctx, info);
        },
        { [ENFORCED]: policy },
      );
    } else {
      const resolve: GraphQLFieldResolver<any, RequestContext> = field.resolve ?? defaultFieldResolver;
      field.resolve = Object.assign(
        (root: any, args: any, ctx: RequestContext, info: any) => {
          const allowed = authorize(policy, root, args, ctx);
          // Most checks need no lookup: no promise for them (Customer.clv runs per customer of a page).
          if (allowed === true) return resolve(root, args, ctx, info);
          return allowed.then((ok) => (ok ? resolve(root, args, ctx, info) : null));
        },
        { [ENFORCED]: policy },
      );
    }
  }
}

/** What the program source found: the program, and the customer it is about (for SELF), or null for no such row. */
type Target = { programId: string; customerId?: string } | null;

/**
 * True when the actor may go on; false when the answer is null (`hidden: "null"`); throws
 * UNAUTHENTICATED, FORBIDDEN or NOT_FOUND otherwise. A promise only when a row had to be read.
 */
export function authorize(policy: Policy, root: any, args: Record<string, unknown>, ctx: RequestContext): true | Promise<boolean> {
  const { actor } = ctx;
  if (actor.kind === "anonymous") throw new Unauthenticated();
  // Before anything is looked up: a credential of a kind the operation never serves.
  if (!kindAllowed(policy.allow, actor)) {
    if (policy.refuse === "UNAUTHENTICATED") throw new Unauthenticated("This operation needs another kind of credential");
    throw new Forbidden(`This operation needs ${policy.allow.map(describe).join(" or ")}`);
  }
  const source = policy.program;
  if (source === CREDENTIAL || source === ANY_PROGRAM) return true;
  if (source === CUSTOMER_REF) return customerRef(policy, args, ctx);
  if ("arg" in source) {
    const programId = uuidArg(String(valueAt(args, source.arg)), lastPart(source.arg));
    return decide(policy, args, actor, { programId });
  }
  if ("parent" in source) return decide(policy, args, actor, { programId: root[source.parent] });
  const field = source.field ?? lastPart(source.id);
  const id = uuidArg(String(valueAt(args, source.id)), field);
  return rowOf(ctx, source.row, id).then((target) => {
    // Unknown and not-yours look the same to another program's credential: ids cannot be probed.
    if (!target || !roleIn(actor, target.programId)) {
      if (source.hidden === "null") return false;
      throw new NotFound(ROWS[source.row].entity, field);
    }
    return decide(policy, args, actor, target);
  });
}

/** The role-and-customer check once the program is known. */
function decide(policy: Policy, args: Record<string, unknown>, actor: Actor, target: Target & {}): true {
  const role = roleIn(actor, target.programId);
  if (!role) throw new Forbidden("This credential has no access to that program");
  if (actor.kind === "root") return true; // served (kindAllowed): ROOT, or ADMIN of every program
  if (actor.kind === "customer") {
    if (policy.allow.includes("CUSTOMER")) return true;
    if (policy.allow.includes("SELF") && isSelf(policy, args, actor, target)) return true;
    throw new Forbidden("A customer token acts only for its own customer");
  }
  if (!policy.allow.includes(role))
    throw new Forbidden(`This operation needs the role ${policy.allow.filter((w) => w !== "SELF" && w !== "CUSTOMER").join(" or ")}`);
  return true;
}

function isSelf(policy: Policy, args: Record<string, unknown>, actor: Extract<Actor, { kind: "customer" }>, target: { customerId?: string }): boolean {
  if (!policy.self) return target.customerId === actor.customerId;
  if (policy.self.refuse?.some((path) => present(valueAt(args, path)))) return false;
  const named = valueAt(args, policy.self.path);
  if (!present(named)) return !!policy.self.optional;
  return typeof named === "string" && named.toLowerCase() === actor.customerId;
}

/**
 * Query.customer: by id (a missing one, or one outside `programId`, is null), or by externalId in
 * `programId` or the credential's program. Another program's customer is FORBIDDEN (its id is not
 * secret from the program that holds it). A customer token gets its own customer and FORBIDDEN for
 * any other, existing or not, so a storefront cannot probe which ids or emails are members.
 */
async function customerRef(policy: Policy, args: Record<string, unknown>, ctx: RequestContext): Promise<boolean> {
  const { actor } = ctx;
  const { id, programId, externalId } = args as { id?: string | null; programId?: string | null; externalId?: string | null };
  let row: any;
  if (id) {
    row = await ctx.loaders.customer.load(uuidArg(id, "id"));
    if (row && programId && row.program_id !== programId.toLowerCase()) row = null;
  } else if (externalId) {
    const program = programId ? uuidArg(programId, "programId") : boundProgram(actor);
    if (!program) throw new BadInput("programId", "programId is required to look a customer up by externalId");
    // The program first: another program's key must not learn whether the external id is a member there.
    if (actor.kind !== "customer") decide(policy, args, actor, { programId: program });
    row = await ctx.app.customers.byExternalId(ctx, program, externalId).then((c) => c?.row ?? null);
  } else {
    throw new BadInput("id", "give id, or externalId (with programId)");
  }
  if (!row) {
    if (actor.kind === "customer") throw new Forbidden("A customer token reads only its own customer");
    return false;
  }
  return decide(policy, args, actor, { programId: row.program_id, customerId: row.id });
}

/** The program (and customer) of a row found by id alone. Customers through the request's loader, which the resolver reads again for free. */
async function rowOf(ctx: RequestContext, kind: RowKind, id: string): Promise<Target> {
  if (kind === "customer") {
    const row = await ctx.loaders.customer.load(id);
    return row ? { programId: row.program_id, customerId: row.id } : null;
  }
  const [row] = await ctx.sql.query(`SELECT program_id FROM ${ROWS[kind].table} WHERE id = $1`, [id]);
  return row ? { programId: row.program_id } : null;
}

/** The standing an actor has in a program, as policies name it; null when it has none there. */
function roleIn(actor: Actor, programId: string): Who | null {
  switch (actor.kind) {
    case "root":
      return "ADMIN";
    case "key":
      return actor.programId === programId ? actor.role : null;
    case "customer":
      return actor.programId === programId ? "CUSTOMER" : null;
    case "anonymous":
      return null;
  }
}

/** Whether the operation serves this kind of credential at all, whatever the program. */
function kindAllowed(allow: Who[], actor: Actor): boolean {
  switch (actor.kind) {
    case "root":
      return allow.includes("ROOT") || allow.includes("ADMIN");
    case "key":
      return allow.includes(actor.role);
    case "customer":
      return allow.includes("CUSTOMER") || allow.includes("SELF");
    case "anonymous":
      return false;
  }
}

function describe(who: Who): string {
  switch (who) {
    case "ROOT":
      return "the LOYALTY_ADMIN_KEY credential";
    case "CUSTOMER":
      return "a customer token";
    case "SELF":
      return "the customer's own token";
    default:
      return `the role ${who}`;
  }
}

const present = (v: unknown) => v !== undefined && v !== null && v !== "";
const lastPart = (path: string) => path.slice(path.lastIndexOf(".") + 1);

function valueAt(args: Record<string, unknown>, path: string): unknown {
  let value: any = args;
  for (const part of path.split(".")) value = value?.[part];
  return value;
}
