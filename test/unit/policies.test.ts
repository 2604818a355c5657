/**
 * Every operation and every field resolver has a declared policy (src/modules/auth/policies.ts),
 * every policy names fields and arguments that exist, and the built schema enforces each one.
 * A new operation without a policy fails here, not in production.
 */
import "reflect-metadata";
import { getNamedType, GraphQLArgument, GraphQLInputObjectType, GraphQLInputType, GraphQLObjectType, GraphQLSchema } from "graphql";
import { getMetadataStorage } from "type-graphql";
import { getSchema } from "../../src/schema";
import { ENFORCED } from "../../src/modules/auth/authorize";
import { CREDENTIAL, CUSTOMER_REF, INHERIT, Policy, POLICIES } from "../../src/modules/auth/policies";

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await getSchema();
});

const ROOTS = ["Query", "Mutation", "Subscription"] as const;

function rootFields(): string[] {
  return ROOTS.flatMap((name) => Object.keys((schema.getType(name) as GraphQLObjectType).getFields()).map((field) => `${name}.${field}`));
}

/** Fields with a resolver of their own (type-graphql @FieldResolver), as "Type.field". */
function fieldResolvers(): string[] {
  return getMetadataStorage().fieldResolvers.map((r) => `${(r.getObjectType!() as { name: string }).name}.${r.schemaName}`);
}

/** Whether `path` ("input.programId") names an argument (or an input field under one) of the field. */
function argumentExists(args: readonly GraphQLArgument[], path: string): boolean {
  const [first, ...rest] = path.split(".");
  let type: GraphQLInputType | undefined = args.find((a) => a.name === first)?.type;
  if (!type) return false;
  for (const part of rest) {
    const named: unknown = getNamedType(type);
    if (!(named instanceof GraphQLInputObjectType)) return false;
    type = named.getFields()[part]?.type;
    if (!type) return false;
  }
  return true;
}

function argumentPaths(policy: Policy): string[] {
  const paths: string[] = [];
  const source = policy.program;
  if (typeof source === "object" && "arg" in source) paths.push(source.arg);
  if (typeof source === "object" && "row" in source) paths.push(source.id);
  if (source === CUSTOMER_REF) paths.push("id", "programId", "externalId");
  if (policy.self) paths.push(policy.self.path, ...(policy.self.refuse ?? []));
  return paths;
}

describe("authorization policies", () => {
  it("declare a policy for every query, mutation and subscription (none inherits: a root has no parent)", () => {
    const missing = rootFields().filter((key) => !POLICIES[key] || POLICIES[key] === INHERIT);
    expect(rootFields().length).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });

  it("declare every field resolver, restricted or readable by whoever read its parent", () => {
    const resolvers = fieldResolvers();
    expect(resolvers.length).toBeGreaterThan(20);
    expect(resolvers.filter((key) => !POLICIES[key])).toEqual([]);
  });

  it("name only fields and arguments that exist", () => {
    const problems: string[] = [];
    for (const [key, policy] of Object.entries(POLICIES)) {
      const [typeName, fieldName] = key.split(".");
      const type = schema.getType(typeName);
      const field = type instanceof GraphQLObjectType ? type.getFields()[fieldName] : undefined;
      if (!field) {
        problems.push(`${key}: no such field`);
        continue;
      }
      if (policy === INHERIT) {
        if (ROOTS.includes(typeName as (typeof ROOTS)[number])) problems.push(`${key}: an operation cannot inherit`);
        continue;
      }
      if (policy.allow.length === 0) problems.push(`${key}: allows nobody`);
      for (const path of argumentPaths(policy)) if (!argumentExists(field.args, path)) problems.push(`${key}: no argument ${path}`);
      if (typeof policy.program === "object" && "parent" in policy.program && ROOTS.includes(typeName as (typeof ROOTS)[number]))
        problems.push(`${key}: a root field has no parent`);
      // SELF needs a customer to compare the token's with.
      const namesCustomer =
        !!policy.self ||
        policy.program === CUSTOMER_REF ||
        policy.program === CREDENTIAL ||
        (typeof policy.program === "object" && "row" in policy.program && policy.program.row === "customer");
      if (policy.allow.includes("SELF") && !namesCustomer) problems.push(`${key}: SELF without a customer to compare`);
    }
    expect(problems).toEqual([]);
  });

  it("are enforced by the schema every server uses", () => {
    const unenforced: string[] = [];
    for (const [key, policy] of Object.entries(POLICIES)) {
      if (policy === INHERIT) continue;
      const [typeName, fieldName] = key.split(".");
      const field = (schema.getType(typeName) as GraphQLObjectType).getFields()[fieldName];
      const wrapped = typeName === "Subscription" ? field.subscribe : field.resolve;
      if ((wrapped as any)?.[ENFORCED] !== policy) unenforced.push(key);
    }
    expect(unenforced).toEqual([]);
  });
});
