/**
 * Every request's cost is bounded before it runs, the same way over HTTP and WebSocket:
 * 1. the parser stops at `maxTokens` (graphql's own `maxTokens`), so a huge document costs only
 *    the tokens read before it is refused;
 * 2. validation refuses depth, aliases and directives past their limits (graphql-armor's rules)
 *    and mutation requests of more than `maxRootMutations` writes;
 * 3. the cost model (cost.ts) prices the operation; over the caller's ceiling it is refused;
 * 4. the caller's bucket pays the price up front (buckets.ts), or the request is THROTTLED (429)
 *    without executing; after execution the unused part is given back.
 * Refusals are QUERY_LIMIT_EXCEEDED (with `limit`, `max` and `found`) or THROTTLED, never run.
 */
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import {
  ASTVisitor,
  DocumentNode,
  FragmentDefinitionNode,
  GraphQLError,
  GraphQLSchema,
  Kind,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from "graphql";
import type { CallerClass, LimitsConfig } from "../../config";
import type { Actor } from "../../modules/auth/actor";
import { actualCost, requestedCost } from "./cost";
import { CostBuckets } from "./buckets";

export const QUERY_LIMIT_EXCEEDED = "QUERY_LIMIT_EXCEEDED";
export const THROTTLED = "THROTTLED";

/** What every answer reports in `extensions.cost` (Shopify's names). */
export interface CostReport {
  requestedQueryCost: number;
  /** Null until the request ran (and for a refused one). */
  actualQueryCost: number | null;
  throttleStatus: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number } | null;
}

/** One request's charge: whose bucket paid what, to give back the unused part. */
export interface Charge {
  report: CostReport;
  bucketKey: string | null;
  caller: CallerClass;
  /** Ends the request's turn in its credential's in-flight budget (InFlightByCost); settle calls it. */
  leave?: () => void;
}

export class QueryLimitExceeded extends GraphQLError {
  constructor(limit: string, max: number, found: number | null, message: string) {
    super(message, { extensions: { code: QUERY_LIMIT_EXCEEDED, limit, max, ...(found !== null ? { found } : {}), http: { status: 400 } } });
  }
}

export class Throttled extends GraphQLError {
  constructor(report: CostReport, retryAfterSeconds: number) {
    super(
      `Throttled: this credential's budget holds ${Math.floor(report.throttleStatus?.currentlyAvailable ?? 0)} of the ${report.requestedQueryCost} this request costs; retry in ${retryAfterSeconds} s`,
      {
        extensions: {
          code: THROTTLED,
          // The same request, sent again after Retry-After, is served (docs/errors.md).
          retryable: true,
          retryAfterSeconds,
          cost: report,
          http: { status: 429, headers: new Map([["retry-after", String(retryAfterSeconds)]]) },
        },
      },
    );
  }
}

/** Which bucket and ceiling a caller has. Anonymous callers share one bucket per address. */
export function callerOf(actor: Actor, address: string): { caller: CallerClass; key: string } {
  switch (actor.kind) {
    case "root":
      return { caller: "ROOT", key: "root" };
    case "key":
      return { caller: actor.role, key: `key:${actor.keyId}` };
    case "customer":
      return { caller: "CUSTOMER", key: `customer:${actor.customerId}` };
    case "anonymous":
      return { caller: "ANONYMOUS", key: `address:${address}` };
  }
}

/** graphql-armor reports through this: the error keeps `limit` so formatError can name it. */
function reportAs(limit: string, max: number) {
  return [
    (ctx: ValidationContext | null, error: GraphQLError) => {
      const found = Number(/found (\d+)/.exec(error.message)?.[1] ?? NaN);
      ctx?.reportError(new QueryLimitExceeded(limit, max, Number.isFinite(found) ? found : null, error.message.replace(/^Syntax Error: /, "")));
    },
  ];
}

/** Counts the root fields of a mutation (through fragments spread at its root): each is a write. */
function maxRootMutationsRule(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node: OperationDefinitionNode) {
      if (node.operation !== "mutation") return;
      const count = (set: SelectionSetNode, seen: Set<string>): number =>
        set.selections.reduce((n, s) => {
          if (s.kind === Kind.FIELD) return n + 1;
          if (s.kind === Kind.INLINE_FRAGMENT) return n + count(s.selectionSet, seen);
          if (seen.has(s.name.value)) return n;
          seen.add(s.name.value);
          const fragment: FragmentDefinitionNode | undefined = context.getFragment(s.name.value) ?? undefined;
          return fragment ? n + count(fragment.selectionSet, seen) : n;
        }, 0);
      const found = count(node.selectionSet, new Set());
      if (found > max) context.reportError(new QueryLimitExceeded("rootMutations", max, found, `A request may make at most ${max} mutations, found ${found}`));
    },
  });
}

export class RequestLimits {
  readonly validationRules: ValidationRule[];
  readonly parseOptions: { maxTokens: number };
  private readonly inFlight = new InFlightByCost();

  constructor(
    readonly config: LimitsConfig,
    private readonly buckets: CostBuckets,
  ) {
    const { maxDepth, maxAliases, maxDirectives } = config;
    this.parseOptions = { maxTokens: config.maxTokens };
    this.validationRules = [
      maxDepthRule({ n: maxDepth, ignoreIntrospection: config.introspection, propagateOnRejection: false, onReject: reportAs("depth", maxDepth) }),
      maxAliasesRule({ n: maxAliases, propagateOnRejection: false, onReject: reportAs("aliases", maxAliases) }),
      maxDirectivesRule({ n: maxDirectives, propagateOnRejection: false, onReject: reportAs("directives", maxDirectives) }),
      maxRootMutationsRule(config.maxRootMutations),
    ];
  }

  /**
   * Before parsing: an empty bucket is THROTTLED at once, so a flood costs a bucket read per
   * request. Null when the caller may go on.
   */
  async throttledBeforeParsing(actor: Actor, address: string): Promise<{ error: Throttled; delayMs: number } | null> {
    const { caller, key } = callerOf(actor, address);
    const bucket = this.config.buckets[caller];
    if (!bucket) return null;
    const state = await this.buckets.take(key, bucket, 0);
    const waiting = (this.retryAfterUntil.get(key) ?? 0) - Date.now();
    if (state.available >= 1 && waiting <= 0) return null;
    const report: CostReport = { requestedQueryCost: 0, actualQueryCost: null, throttleStatus: this.status(caller, state.available) };
    const retryAfterSeconds = Math.max(1, Math.ceil(waiting > 0 ? waiting / 1000 : 1 / bucket.restorePerSecond));
    return { error: new Throttled(report, retryAfterSeconds), delayMs: this.tarpit(key, retryAfterSeconds) };
  }

  /**
   * Per throttled credential, until when its last Retry-After runs (ms since epoch): until then,
   * its requests are THROTTLED before parsing, as Retry-After told it.
   */
  private readonly retryAfterUntil = new Map<string, number>();

  /**
   * How long to hold a THROTTLED answer back. A client that waits its Retry-After gets each 429 at
   * once. One that sends again before then is answered only when its Retry-After has run (at most a
   * second later): a loop that ignores 429s then sends one request a second per connection, instead
   * of thousands that the server must read and answer (measured: 3,400 429s a second from 28
   * connections quadrupled another key's p99). Holding a request costs a timer, not CPU.
   */
  private tarpit(key: string, retryAfterSeconds: number): number {
    const now = Date.now();
    const until = this.retryAfterUntil.get(key) ?? 0;
    if (until > now) return Math.min(until - now, 1000);
    if (this.retryAfterUntil.size >= 10_000) for (const [k, t] of this.retryAfterUntil) if (t <= now) this.retryAfterUntil.delete(k);
    this.retryAfterUntil.set(key, now + retryAfterSeconds * 1000);
    return 0;
  }

  /**
   * Prices the operation and takes the price from the caller's bucket. Throws QueryLimitExceeded
   * over the caller's ceiling and Throttled when the bucket lacks it; neither runs anything.
   */
  async charge(
    schema: GraphQLSchema,
    actor: Actor,
    address: string,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | undefined,
  ): Promise<Charge> {
    const { caller, key } = callerOf(actor, address);
    let cost: number;
    try {
      // At least 1: even `{ __typename }` is a round trip, and a flood of free requests is still a flood.
      cost = Math.max(1, requestedCost(schema, document, variables, operationName));
    } catch (err) {
      // An argument that does not coerce (a variable of the wrong type, a null for a required
      // one). Execution would null that field alone and run the rest, unpriced: the whole request
      // is refused instead, before anything runs.
      if (err instanceof GraphQLError) throw new GraphQLError(err.message, { extensions: { code: "BAD_USER_INPUT", http: { status: 400 } } });
      throw err;
    }
    const max = this.config.maxCost[caller];
    if (cost > max) throw new QueryLimitExceeded("cost", max, cost, `This request would cost ${cost}; the most one request may cost is ${max}`);
    const bucket = this.config.buckets[caller];
    if (!bucket) return { caller, bucketKey: null, report: { requestedQueryCost: cost, actualQueryCost: null, throttleStatus: null } };
    const state = await this.buckets.take(key, bucket, cost);
    const report: CostReport = { requestedQueryCost: cost, actualQueryCost: null, throttleStatus: this.status(caller, state.available) };
    if (!state.ok) {
      // A request larger than the bucket would wait forever: that is the ceiling's refusal.
      if (cost > bucket.size)
        throw new QueryLimitExceeded("cost", bucket.size, cost, `This request would cost ${cost}; this credential's bucket holds at most ${bucket.size}`);
      const retryAfterSeconds = Math.max(1, Math.ceil((cost - state.available) / bucket.restorePerSecond));
      this.tarpit(key, retryAfterSeconds);
      throw new Throttled(report, retryAfterSeconds);
    }
    // The credential's requests in flight weigh at most half the most one request may cost: its
    // heaviest reads run one at a time (measured: two at once doubled a victim's p99 again).
    const leave = await this.inFlight.enter(key, cost, Math.ceil(max / 2));
    if (!leave) {
      await this.buckets.take(key, bucket, -cost);
      throw new Throttled({ ...report, throttleStatus: this.status(caller, state.available + cost) }, 1);
    }
    return { caller, bucketKey: key, report, leave };
  }

  /**
   * After execution: the actual cost, and the unused part back in the bucket. An answer with
   * errors gets nothing back: an error nulls what was computed beside it (a non-null field
   * failing nulls its parents), so its answer says nothing of the work done.
   */
  async settle(
    charge: Charge,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    data: unknown,
    hadErrors = false,
  ): Promise<CostReport> {
    charge.leave?.();
    // At least 1: a request refused in its resolvers (forbidden, not found) still cost a round trip.
    const actual = hadErrors
      ? charge.report.requestedQueryCost
      : Math.min(charge.report.requestedQueryCost, Math.max(1, actualCost(schema, document, operation, data)));
    charge.report.actualQueryCost = actual;
    const refund = charge.report.requestedQueryCost - actual;
    const bucket = this.config.buckets[charge.caller];
    if (charge.bucketKey && bucket && refund > 0) {
      const state = await this.buckets.take(charge.bucketKey, bucket, -refund);
      charge.report.throttleStatus = this.status(charge.caller, state.available);
    }
    return charge.report;
  }

  /**
   * Takes `cost` from the caller's bucket, or all it holds when that is less: for work done that
   * was never priced (a document that did not parse or validate, a bad credential's request).
   */
  async debit(actor: Actor, address: string, cost: number): Promise<void> {
    const { caller, key } = callerOf(actor, address);
    const bucket = this.config.buckets[caller];
    if (!bucket || cost <= 0) return;
    const state = await this.buckets.take(key, bucket, cost);
    if (!state.ok && state.available >= 1) await this.buckets.take(key, bucket, Math.floor(state.available));
  }

  /** Gives a charge back whole: the request was refused after it was charged, before it ran. */
  async refund(charge: Charge): Promise<void> {
    charge.leave?.();
    const bucket = this.config.buckets[charge.caller];
    if (charge.bucketKey && bucket) await this.buckets.take(charge.bucketKey, bucket, -charge.report.requestedQueryCost);
  }

  private status(caller: CallerClass, available: number): CostReport["throttleStatus"] {
    const bucket = this.config.buckets[caller];
    return bucket ? { maximumAvailable: bucket.size, currentlyAvailable: Math.floor(available), restoreRate: bucket.restorePerSecond } : null;
  }

  /** Resolves when the buckets' store answers, or after `ms` (this process's buckets meanwhile). */
  ready(ms: number): Promise<void> {
    return this.buckets.ready(ms);
  }

  close(): Promise<void> {
    return this.buckets.close();
  }
}

/** graphql's parser refusing a document over maxTokens, as a typed limit. */
export function tokenLimitError(error: { message: string }, maxTokens: number): QueryLimitExceeded | null {
  if (!/Document contains more tha[nt] \d+ tokens/.test(error.message)) return null;
  return new QueryLimitExceeded("tokens", maxTokens, null, `The document has more than ${maxTokens} tokens; parsing stopped there`);
}

/** "Did you mean …?" teaches a stranger the schema: dropped when field suggestions are off. */
export function withoutSuggestions(message: string): string {
  return message.replace(/ ?Did you mean .+\?$/, "");
}

/**
 * What one credential may have executing at once, weighed by cost: its requests' requested costs
 * in flight add up to at most `capacity` (a request alone always runs). A credential that posts
 * purchases (about 15 each) keeps a hundred in flight; one that sends the most expensive reads it
 * may runs one at a time and its others wait their turn, in order, without costing CPU,
 * so a single credential cannot hold every core while its bucket lasts. A credential with more
 * than `maxWaiting` requests waiting is THROTTLED.
 */
export class InFlightByCost {
  private readonly credentials = new Map<string, { cost: number; waiting: Array<{ cost: number; go: () => void }> }>();

  constructor(private readonly maxWaiting = 100) {}

  /** Resolves when the request may run; the returned function ends it. Null: too many waiting. */
  async enter(key: string, cost: number, capacity: number): Promise<(() => void) | null> {
    let state = this.credentials.get(key);
    if (!state) this.credentials.set(key, (state = { cost: 0, waiting: [] }));
    const current = state;
    if (current.waiting.length === 0 && (current.cost === 0 || current.cost + cost <= capacity)) {
      current.cost += cost;
    } else {
      if (current.waiting.length >= this.maxWaiting) return null;
      await new Promise<void>((go) => current.waiting.push({ cost, go }));
    }
    let left = false;
    return () => {
      if (left) return;
      left = true;
      current.cost -= cost;
      while (current.waiting.length > 0 && (current.cost === 0 || current.cost + current.waiting[0].cost <= capacity)) {
        const next = current.waiting.shift()!;
        current.cost += next.cost;
        next.go();
      }
      if (current.cost === 0 && current.waiting.length === 0 && this.credentials.get(key) === current) this.credentials.delete(key);
    };
  }
}
