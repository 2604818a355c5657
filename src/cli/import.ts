/**
 * `loyalty import <programId> <file>`: brings a shop's history into a program, e.g. when moving
 * from another loyalty system. The file is NDJSON, one record per line: `{"kind": "purchase", ...}`
 * where kind is customer, purchase, refund, review or touchpoint and the rest is the input of the
 * API's mutation of that kind (upsertCustomer, recordPurchase, recordRefund, recordReview,
 * recordTouchpoint) without programId. Each line runs as that very mutation, in process, with the
 * same validation and the same write path (batched, idempotent by its key): an import run again
 * replays instead of writing twice, and a bad line is reported by number and skipped.
 *
 * Lines run concurrently (so the write path can batch them), but a customer's lines run in file
 * order, and a refund is a barrier: it waits for every line before it (its order must be written
 * first) and every line after it waits for it (it names no customer to order it by). Up to
 * `concurrency` lines run at once, and the reader stays at most 16 times that ahead, so a file
 * sorted by customer still keeps that many customers going.
 *
 * The tables it grows are ANALYZEd as they grow (after the first 1,000 lines, then each time the
 * lines done have doubled) and at the end: an import into an empty program was otherwise planned as
 * if its tables stayed empty, the write worker's cached plans reading every row of the program per
 * batch (src/db/statistics.ts).
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { DocumentNode, execute, GraphQLSchema, parse, validate } from "graphql";
import type { App } from "../app";
import { createContext } from "../context";
import { formatError, isExposed, REQUEST_ID } from "../api/error-masking";
import { checkJsonShape } from "../api/nul";
import { getSchema } from "../schema";
import { GrowthAnalyzer, WRITE_PATH_TABLES } from "../db/statistics";

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

/** Errors kept in the summary (those of the lowest line numbers); beyond them only counted. */
const MAX_ERRORS = 100;
/** As the HTTP API's body limit: a longer line is refused unread. */
const MAX_LINE = 1_000_000;

export interface ImportError {
  line: number;
  kind: string | null;
  code: string;
  field: string | null;
  message: string;
}

type Tally = { written: number; replayed: number; upserted: number; failed: number };

export interface ImportSummary {
  programId: string;
  /** Non-empty lines read. */
  lines: number;
  /** Records written (purchases, refunds, reviews, touchpoints), and records whose key was written before. */
  written: number;
  replayed: number;
  /** Customer lines (an upsert: created, or updated with the line's fields). */
  upserted: number;
  failed: number;
  byKind: Record<ImportKind, Tally>;
  /** Lines done at each ANALYZE of the tables the import grows, the last one after the last line. */
  analyzedAfterLines: number[];
  /** The failures of the lowest MAX_ERRORS line numbers, in line order. */
  errors: ImportError[];
  errorsOmitted: number;
}

export interface ImportOptions {
  /** Lines running at once (those waiting for an earlier line do not count). */
  concurrency?: number;
  /** Called after each line with the number of lines done. */
  onProgress?: (done: number) => void;
  /** Lines done before the first ANALYZE (1,000); each later one when the lines done have doubled. */
  analyzeFirstAfter?: number;
}

type Failure = Omit<ImportError, "line" | "kind">;
type Outcome = { kind: ImportKind; result: "written" | "replayed" | "upserted" } | { kind: ImportKind | null; error: Failure };
/** A line read: its record, or why it cannot be one. */
type Parsed = { kind: ImportKind; input: Record<string, unknown> } | { kind: ImportKind | null; error: Failure };

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

const bad = (field: string | null, message: string, kind: ImportKind | null = null): Parsed => ({ kind, error: { code: "BAD_USER_INPUT", field, message } });

/** A line as a record of the program, checked as the HTTP API checks a request before running it. */
function parseLine(text: string, programId: string): Parsed {
  if (text.length > MAX_LINE) return bad(null, `a line is at most ${MAX_LINE} characters`);
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (err) {
    return { kind: null, error: { code: "BAD_JSON", field: null, message: `not JSON: ${(err as Error).message}` } };
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) return bad(null, "a line is a JSON object");
  const { kind, programId: own, ...input } = record as { kind: ImportKind; programId?: unknown };
  if (!KINDS.includes(kind)) return bad("kind", `kind is one of ${KINDS.join(", ")}`);
  // A line naming another program is a file meant for it: refuse rather than import it here.
  if (own !== undefined && own !== programId) return bad("programId", "the line names another program", kind);
  // A NUL, or JSON nested too deeply for GraphQL's (recursive) variable coercion.
  const problem = checkJsonShape(input);
  if (problem) return bad(problem.error.extensions.field, problem.error.message, kind);
  return { kind, input: { ...input, programId } };
}

/** Runs one record as its mutation. */
async function runRecord(app: App, kind: ImportKind, input: Record<string, unknown>, lineNo: number): Promise<Outcome> {
  const { schema, byKind } = await prepared();
  const requestId = `import:${lineNo}`;
  const result = await execute({
    schema,
    document: byKind.get(kind)!,
    variableValues: { input },
    contextValue: createContext(app, { kind: "root" }, requestId),
  });
  if (!result.errors?.length) {
    const answer = (result.data as any)[MUTATIONS[kind].field];
    return { kind, result: kind === "customer" ? "upserted" : answer.replayed ? "replayed" : "written" };
  }
  const first = result.errors[0];
  // No data: the input never reached a resolver, GraphQL's coercion refused it (a missing or
  // mistyped field), which Apollo reports as BAD_USER_INPUT.
  const coercion = result.data === undefined && !first.path;
  const shown = formatError(coercion ? { ...first.toJSON(), extensions: { code: "BAD_USER_INPUT" } } : first.toJSON(), first);
  const code = (shown.extensions?.code as string | undefined) ?? "INTERNAL_SERVER_ERROR";
  if (!coercion && !isExposed(first) && !(first.originalError && isExposed(first.originalError)) && code === "INTERNAL_SERVER_ERROR") {
    // Masked in the summary: the details go to the log, under the line's request id, as the server does.
    const target: any = first.originalError ?? first;
    target[REQUEST_ID] = requestId;
    app.log.error({ err: target, requestId }, "import line failed unexpectedly");
  }
  return { kind, error: { code, field: (shown.extensions?.field as string | undefined) ?? null, message: shown.message } };
}

/** Whose records a line is: that customer's lines run in file order. A customer is one key: name it the same way on every line. */
function customerOf(kind: ImportKind, input: Record<string, unknown>): string | null {
  if (kind === "customer") return typeof input.externalId === "string" ? `external:${input.externalId}` : null;
  if (typeof input.customerId === "string") return `id:${input.customerId}`;
  return typeof input.customerExternalId === "string" ? `external:${input.customerExternalId}` : null;
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

function emptySummary(programId: string): ImportSummary {
  const tally = (): Tally => ({ written: 0, replayed: 0, upserted: 0, failed: 0 });
  return {
    programId,
    lines: 0,
    written: 0,
    replayed: 0,
    upserted: 0,
    failed: 0,
    byKind: Object.fromEntries(KINDS.map((k) => [k, tally()])) as ImportSummary["byKind"],
    analyzedAfterLines: [],
    errors: [],
    errorsOmitted: 0,
  };
}

/** Keeps the errors of the lowest line numbers (lines finish out of order). */
function keepFirstErrors(summary: ImportSummary): void {
  summary.errors.sort((a, b) => a.line - b.line);
  summary.errorsOmitted += Math.max(0, summary.errors.length - MAX_ERRORS);
  summary.errors.length = Math.min(summary.errors.length, MAX_ERRORS);
}

/** Imports the NDJSON lines of `path` into the program. */
export async function importFile(app: App, programId: string, path: string, options: ImportOptions = {}): Promise<ImportSummary> {
  const concurrency = Math.max(1, options.concurrency ?? 32);
  const summary = emptySummary(programId);
  /** Lines read and not done: running, or waiting for an earlier line. Bounded, so memory is. */
  const inFlight = new Set<Promise<void>>();
  const maxPending = concurrency * 16;
  /** Each customer's latest line, which their next one waits for. */
  const lastOf = new Map<string, Promise<void>>();
  /** The latest refund, which every later line waits for. */
  let barrier: Promise<void> | undefined;
  const slots = new Slots(concurrency);
  let done = 0;
  const statistics = new GrowthAnalyzer(app.db, WRITE_PATH_TABLES, {
    firstAfter: options.analyzeFirstAfter,
    growth: 2,
    onError: (err) => app.log.warn({ err }, "import: ANALYZE failed (the import goes on)"),
  });

  const count = (lineNo: number, outcome: Outcome) => {
    if ("result" in outcome) {
      summary[outcome.result]++;
      summary.byKind[outcome.kind][outcome.result]++;
    } else {
      summary.failed++;
      if (outcome.kind) summary.byKind[outcome.kind].failed++;
      summary.errors.push({ line: lineNo, kind: outcome.kind, ...outcome.error });
      if (summary.errors.length >= 2 * MAX_ERRORS) keepFirstErrors(summary);
    }
    done++;
    statistics.progress(done);
    try {
      options.onProgress?.(done);
    } catch {
      // A progress display that fails must not stop an import halfway.
    }
  };

  const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    const text = raw.trim();
    if (!text) continue;
    summary.lines++;
    const n = lineNo;
    const parsed = parseLine(text, programId);
    const customer = "input" in parsed ? customerOf(parsed.kind, parsed.input) : null;
    const refund = parsed.kind === "refund" && "input" in parsed;
    const before = refund ? Promise.allSettled([...inFlight]) : Promise.all([barrier, customer ? lastOf.get(customer) : undefined]);
    const task: Promise<void> = before
      .then(() => ("input" in parsed ? slots.run(() => runRecord(app, parsed.kind, parsed.input, n)) : parsed))
      .catch((err): Outcome => ({ kind: parsed.kind, error: { code: "INTERNAL_SERVER_ERROR", field: null, message: String((err as Error)?.message ?? err) } }))
      .then((outcome) => count(n, outcome))
      .finally(() => {
        inFlight.delete(task);
        if (customer && lastOf.get(customer) === task) lastOf.delete(customer);
      });
    inFlight.add(task);
    if (customer) lastOf.set(customer, task);
    if (refund) barrier = task;
    if (inFlight.size >= maxPending) await Promise.race(inFlight);
  }
  await Promise.allSettled([...inFlight]);
  summary.analyzedAfterLines = await statistics.finish(done);
  keepFirstErrors(summary);
  return summary;
}

/** Non-empty lines of a file (for a progress bar's total). */
export async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity })) if (line.trim()) n++;
  return n;
}
