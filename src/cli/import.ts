/**
 * `loyalty import <programId> <file>`: brings a shop's history into a program, e.g. when moving
 * from another loyalty system. The file is NDJSON, one record per line: `{"kind": "purchase", ...}`
 * where kind is customer, purchase, refund, review or touchpoint and the rest is the input of the
 * API's mutation of that kind (upsertCustomer, recordPurchase, recordRefund, recordReview,
 * recordTouchpoint) without programId. Each line runs as that very mutation, in process, with the
 * same validation and the same write path (batched, idempotent by its key): an import run again
 * replays instead of writing twice, and a bad line is reported by number and skipped.
 *
 * Lines run concurrently (so the write path can batch them), but a customer's records run in file
 * order, and a refund waits for every line before it (its order must be written first). Up to
 * `concurrency` lines run at once, and the reader stays at most 16 times that ahead, so a file
 * sorted by customer still keeps that many customers going.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { DocumentNode, execute, GraphQLSchema, parse, validate } from "graphql";
import type { App } from "../app";
import { createContext } from "../context";
import { formatError } from "../api/error-masking";
import { getSchema } from "../schema";

/** The mutation each kind of line runs, and whether its answer says `replayed`. */
const MUTATIONS = {
  customer: { input: "UpsertCustomerInput", field: "upsertCustomer", selection: "id" },
  purchase: { input: "RecordPurchaseInput", field: "recordPurchase", selection: "replayed" },
  refund: { input: "RecordRefundInput", field: "recordRefund", selection: "replayed" },
  review: { input: "RecordReviewInput", field: "recordReview", selection: "replayed" },
  touchpoint: { input: "RecordTouchpointInput", field: "recordTouchpoint", selection: "replayed" },
} as const;

export type ImportKind = keyof typeof MUTATIONS;
const KINDS = Object.keys(MUTATIONS) as ImportKind[];

/** Errors kept in the summary; beyond them only counted. */
const MAX_ERRORS = 100;

export interface ImportError {
  line: number;
  kind: string | null;
  code: string;
  field: string | null;
  message: string;
}

export interface ImportSummary {
  programId: string;
  /** Non-empty lines read. */
  lines: number;
  written: number;
  replayed: number;
  failed: number;
  byKind: Record<ImportKind, { written: number; replayed: number; failed: number }>;
  /** The first MAX_ERRORS failures, by line. */
  errors: ImportError[];
  errorsOmitted: number;
}

export interface ImportOptions {
  /** Lines running at once (those waiting for an earlier line of their customer do not count). */
  concurrency?: number;
  /** Called after each line with the number of lines done. */
  onProgress?: (done: number) => void;
}

type Outcome = { kind: ImportKind; result: "written" | "replayed" } | { kind: ImportKind | null; error: Omit<ImportError, "line" | "kind"> };

/** Parsed and validated once per process. */
let documents: Promise<{ schema: GraphQLSchema; byKind: Map<ImportKind, DocumentNode> }> | undefined;
function prepared() {
  documents ??= getSchema().then((schema) => {
    const byKind = new Map<ImportKind, DocumentNode>();
    for (const kind of KINDS) {
      const m = MUTATIONS[kind];
      const doc = parse(`mutation($input: ${m.input}!) { ${m.field}(input: $input) { ${m.selection} } }`);
      const errors = validate(schema, doc);
      if (errors.length > 0) throw new Error(`import's ${kind} mutation no longer matches the schema: ${errors[0].message}`);
      byKind.set(kind, doc);
    }
    return { schema, byKind };
  });
  return documents;
}

/** Runs one line as its mutation. */
async function runLine(app: App, programId: string, text: string, lineNo: number): Promise<Outcome> {
  let record: any;
  try {
    record = JSON.parse(text);
  } catch (err) {
    return { kind: null, error: { code: "BAD_JSON", field: null, message: `not JSON: ${(err as Error).message}` } };
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) return { kind: null, error: { code: "BAD_USER_INPUT", field: null, message: "a line is a JSON object" } };
  const { kind, programId: own, ...input } = record as { kind: ImportKind; programId?: unknown };
  if (!KINDS.includes(kind)) return { kind: null, error: { code: "BAD_USER_INPUT", field: "kind", message: `kind is one of ${KINDS.join(", ")}` } };
  // A line naming another program is a file meant for it: refuse rather than import it here.
  if (own !== undefined && own !== programId) return { kind, error: { code: "BAD_USER_INPUT", field: "programId", message: "the line names another program" } };
  const { schema, byKind } = await prepared();
  const result = await execute({
    schema,
    document: byKind.get(kind)!,
    variableValues: { input: { ...input, programId } },
    contextValue: createContext(app, { kind: "root" }, `import:${lineNo}`),
  });
  if (result.errors?.length) {
    const first = result.errors[0];
    const shown = formatError(first.toJSON(), first);
    const extensions = (shown.extensions ?? {}) as { code?: string; field?: string };
    return { kind, error: { code: extensions.code ?? "INTERNAL_SERVER_ERROR", field: extensions.field ?? null, message: shown.message } };
  }
  const answer = (result.data as any)[MUTATIONS[kind].field];
  return { kind, result: answer.replayed ? "replayed" : "written" };
}

/** Whose records a line is, when it says: that customer's lines run in file order. */
function customerOf(record: string): string | null {
  try {
    const { kind, customerExternalId, customerId, externalId } = JSON.parse(record);
    if (kind === "customer") return externalId ? `external:${externalId}` : null;
    if (customerId) return `id:${customerId}`;
    return customerExternalId ? `external:${customerExternalId}` : null;
  } catch {
    return null;
  }
}

const isRefund = (record: string) => /"kind"\s*:\s*"refund"/.test(record);

/** Imports the NDJSON lines of `path` into the program. */
export async function importFile(app: App, programId: string, path: string, options: ImportOptions = {}): Promise<ImportSummary> {
  const concurrency = Math.max(1, options.concurrency ?? 32);
  const summary: ImportSummary = {
    programId,
    lines: 0,
    written: 0,
    replayed: 0,
    failed: 0,
    byKind: Object.fromEntries(KINDS.map((k) => [k, { written: 0, replayed: 0, failed: 0 }])) as ImportSummary["byKind"],
    errors: [],
    errorsOmitted: 0,
  };
  /** Lines read and not done: running, or waiting for an earlier line. Bounded, so memory is. */
  const inFlight = new Set<Promise<void>>();
  const maxPending = concurrency * 16;
  /** Each customer's latest line, which their next one waits for. */
  const lastOf = new Map<string, Promise<void>>();
  const slots = new Slots(concurrency);
  let done = 0;

  const count = (lineNo: number, outcome: Outcome) => {
    if ("result" in outcome) {
      summary[outcome.result]++;
      summary.byKind[outcome.kind][outcome.result]++;
    } else {
      summary.failed++;
      if (outcome.kind) summary.byKind[outcome.kind].failed++;
      if (summary.errors.length < MAX_ERRORS) summary.errors.push({ line: lineNo, kind: outcome.kind, ...outcome.error });
      else summary.errorsOmitted++;
    }
    options.onProgress?.(++done);
  };

  const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    const text = raw.trim();
    if (!text) continue;
    summary.lines++;
    const n = lineNo;
    const customer = customerOf(text);
    const before = isRefund(text) ? Promise.allSettled([...inFlight]) : customer ? lastOf.get(customer) : undefined;
    const task: Promise<void> = Promise.resolve(before)
      .then(() => slots.run(() => runLine(app, programId, text, n)))
      .then(
        (outcome) => count(n, outcome),
        // Not a GraphQL error (those are outcomes): the database went away, say. Report it and go on.
        (err) => count(n, { kind: null, error: { code: "INTERNAL_SERVER_ERROR", field: null, message: String((err as Error)?.message ?? err) } }),
      )
      .finally(() => {
        inFlight.delete(task);
        if (customer && lastOf.get(customer) === task) lastOf.delete(customer);
      });
    inFlight.add(task);
    if (customer) lastOf.set(customer, task);
    if (inFlight.size >= maxPending) await Promise.race(inFlight);
  }
  await Promise.allSettled([...inFlight]);
  summary.errors.sort((a, b) => a.line - b.line);
  return summary;
}

/** At most `size` functions running at once; the others wait in arrival order. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** Non-empty lines of a file (for a progress bar's total). */
export async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity })) if (line.trim()) n++;
  return n;
}
