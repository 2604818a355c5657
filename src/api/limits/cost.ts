/**
 * The cost model of the schema, Shopify's in spirit: a request's cost is known before it runs,
 * from the document alone, so an expensive request is refused (or throttled) without executing.
 *
 * - A leaf (scalar, enum) costs 0; an object costs 1; a root mutation field costs MUTATION_COST.
 * - A field with `first` costs its own cost plus `first` times what is selected under it
 *   (`customers(first: 50) { nodes { … } }`); the page it returns is never larger.
 * - Any other list is assumed to hold LIST_SIZES[field] items (DEFAULT_LIST_SIZE when not listed),
 *   each costing what an object does.
 * - FIELD_COSTS raises the cost of fields that compute more than a row read: analytics, scores.
 *
 * The estimate runs through graphql-query-complexity (`getComplexity`), which applies `@skip`,
 * `@include`, fragments and variables. After execution, `actualCost` walks the answer with the
 * same numbers and real list lengths: the difference goes back to the caller's bucket.
 */
import {
  DocumentNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLField,
  GraphQLInterfaceType,
  GraphQLNamedType,
  GraphQLObjectType,
  GraphQLSchema,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  OperationDefinitionNode,
  SelectionSetNode,
  visit,
} from "graphql";
import { ComplexityEstimator, getComplexity } from "graphql-query-complexity";

/** A root mutation field: a write costs more than a read of the row it returns. */
export const MUTATION_COST = 10;
/** A list without `first` whose size the table below does not know. */
export const DEFAULT_LIST_SIZE = 10;
/** `__schema` as a whole: introspection is answered from memory, but its answer is large. */
export const INTROSPECTION_COST = 100;

/**
 * The expected size of lists that take no `first`. A customer's own lists are short (a move per
 * stage, a lot per earning); a program's configuration lists are short by nature.
 */
export const LIST_SIZES: Record<string, number> = {
  "Customer.stageHistory": 10,
  "Customer.pointLots": 20,
  "Customer.grants": 10,
  "Customer.redemptions": 10,
  "Customer.expiringPoints": 10,
  "Program.stages": 8,
  "Program.earningRules": 10,
  "Program.rewards": 20,
  "Program.tiers": 5,
  "Program.surveys": 10,
  "Program.rewardTriggers": 10,
  "Program.stageRewards": 10,
  "Stage.paths": 4,
  "NextStage.requirements": 6,
  "StageReason.criteria": 6,
  "Survey.questions": 10,
  "LadderFunnel.stages": 8,
  "LadderFunnel.transitions": 30,
  "LifecycleReport.phases": 6,
  "LifecycleReport.stages": 8,
  "StageLifecycle.phases": 6,
  "ValueSegments.segments": 11,
  "Query.programs": 10,
  "Query.apiKeys": 20,
  "Query.webhooks": 10,
};

/**
 * Fields that cost more than a row read. Analytics read a whole program (set-based SQL, hundreds
 * of ms on a big one); a customer's scores read its window of touchpoints and the breakpoints.
 */
export const FIELD_COSTS: Record<string, number> = {
  "Query.ladderFunnel": 200,
  "Query.valueSegments": 200,
  "Query.customerLifecycle": 200,
  "Customer.rfm": 3,
  "Customer.clv": 3,
  "Customer.loyalty": 3,
  "Customer.lifecycle": 3,
  "Customer.nextStage": 3,
  "Mutation.recomputeStages": 500,
  "Mutation.runPointsLifecycle": 500,
};

/** What a field costs on its own, before what is selected under it. */
function ownCost(schema: GraphQLSchema, parent: { name: string }, field: GraphQLField<unknown, unknown>): number {
  const declared = FIELD_COSTS[`${parent.name}.${field.name}`];
  if (declared !== undefined) return declared;
  if (parent === schema.getMutationType()) return MUTATION_COST;
  return isLeafType(getNamedType(field.type)) ? 0 : 1;
}

function pageSize(args: Record<string, unknown>): number | undefined {
  const first = args.first;
  return typeof first === "number" && Number.isFinite(first) ? Math.max(0, first) : undefined;
}

function estimator(schema: GraphQLSchema): ComplexityEstimator {
  return ({ type, field, args, childComplexity }) => {
    if (field.name === "__schema" || field.name === "__type") return INTROSPECTION_COST;
    if (type.name.startsWith("__")) return 0;
    const own = ownCost(schema, type, field);
    const first = pageSize(args);
    if (first !== undefined) return own + first * childComplexity;
    if (isListType(getNullableType(field.type))) {
      // The nodes and edges of a connection: its `first` already counted them.
      if (/Connection$/.test(type.name)) return own + childComplexity;
      // Each item is an object of its own (own cost 1) with what is selected in it.
      return (LIST_SIZES[`${type.name}.${field.name}`] ?? DEFAULT_LIST_SIZE) * (own + childComplexity);
    }
    return own + childComplexity;
  };
}

const estimators = new WeakMap<GraphQLSchema, ComplexityEstimator>();

/**
 * Costs of documents whose cost no variable changes, by operation name. Apollo hands the same
 * DocumentNode for the same query text (its document store), so a client's usual requests are
 * priced once (a third of the limits' CPU on a purchase, measured).
 */
const costsByDocument = new WeakMap<DocumentNode, Map<string, number>>();

/** Whether a variable can change the document's cost: a variable `first`, or `@skip`/`@include`. */
function costDependsOnVariables(document: DocumentNode): boolean {
  let depends = false;
  visit(document, {
    Argument(node) {
      if (node.value.kind === Kind.VARIABLE && node.name.value === "first") depends = true;
    },
    Directive(node) {
      if (node.arguments?.some((a) => a.value.kind === Kind.VARIABLE)) depends = true;
    },
  });
  return depends;
}

/**
 * The most a request can cost, from its document and variables. Throws a GraphQLError when the
 * variables cannot be coerced (the request would fail before executing anyway).
 */
export function requestedCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName?: string | null,
): number {
  let estimate = estimators.get(schema);
  if (!estimate) estimators.set(schema, (estimate = estimator(schema)));
  const cached = costsByDocument.get(document);
  const known = cached?.get(operationName ?? "");
  if (known !== undefined) return known;
  const cost = getComplexity({ schema, query: document, variables: variables ?? {}, operationName: operationName ?? undefined, estimators: [estimate] });
  if (cached) cached.set(operationName ?? "", cost);
  else if (!costDependsOnVariables(document)) costsByDocument.set(document, new Map([[operationName ?? "", cost]]));
  return cost;
}

/**
 * What the request did cost: the same model applied to the answer, each list counted at its real
 * length and fields that were not resolved (null parents, errors, @skip) not at all.
 */
/** The type to read a value's fields from: its own, or the answer's __typename for an interface or union. */
function typeOfIn(schema: GraphQLSchema) {
  return (declared: GraphQLNamedType, value: unknown): GraphQLObjectType | GraphQLInterfaceType | undefined => {
    if (isObjectType(declared)) return declared;
    const sample = Array.isArray(value) ? value[0] : value;
    const typename = (sample as { __typename?: unknown } | null)?.__typename;
    const concrete = typeof typename === "string" ? schema.getType(typename) : undefined;
    if (concrete && isObjectType(concrete)) return concrete;
    return isInterfaceType(declared) ? declared : undefined;
  };
}

export function actualCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, data: unknown): number {
  const root =
    operation.operation === "mutation"
      ? schema.getMutationType()
      : operation.operation === "subscription"
        ? schema.getSubscriptionType()
        : schema.getQueryType();
  if (!root || !data || typeof data !== "object") return 0;
  const typeOf = typeOfIn(schema);
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  const walk = (selectionSet: SelectionSetNode, parent: GraphQLObjectType | GraphQLInterfaceType, value: unknown, seen: Set<string>): number => {
    if (value === null || value === undefined || typeof value !== "object") return 0;
    if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + walk(selectionSet, parent, item, new Set()), 0);
    const object = value as Record<string, unknown>;
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        if (!(key in object)) continue;
        // The same key selected again: graphql-js merged both selections into one value and ran
        // both, so its own cost counts once and what each selects under it counts.
        const again = seen.has(key);
        seen.add(key);
        const name = selection.name.value;
        if (name === "__schema" || name === "__type") {
          if (!again) cost += INTROSPECTION_COST;
          continue;
        }
        const field = parent.getFields()[name];
        if (!field) continue;
        const items = Array.isArray(object[key]) ? (object[key] as unknown[]).length : 1;
        if (!again) cost += ownCost(schema, parent, field) * items;
        if (selection.selectionSet) cost += walk(selection.selectionSet, typeOf(getNamedType(field.type), object[key]) ?? parent, object[key], new Set());
      } else {
        const set = selection.kind === Kind.INLINE_FRAGMENT ? selection.selectionSet : fragments.get(selection.name.value)?.selectionSet;
        const condition =
          selection.kind === Kind.INLINE_FRAGMENT ? selection.typeCondition?.name.value : fragments.get(selection.name.value)?.typeCondition.name.value;
        const type = condition ? schema.getType(condition) : parent;
        // A fragment on another member of a union or interface than the one answered.
        const typename = object.__typename;
        if (typeof typename === "string" && isObjectType(type) && type.name !== typename) continue;
        if (set && (isObjectType(type) || isInterfaceType(type))) cost += walk(set, type, object, seen);
      }
    }
    return cost;
  };
  return walk(operation.selectionSet, root, data, new Set());
}
