/** The main thread's side of the write worker: sends batches, matches replies, rebuilds results. */
import { extname, join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { TransientFailure, TransientKind } from "../../api/unavailable";
import { customerFromRow } from "../customer/customer.types";
import { ProgramConfig } from "../program/program.config";
import type { BatchResult, WriteItem } from "./batch-writer";
import { Touchpoint } from "./touchpoint.types";
import type { WriteWorkerData } from "./write-worker";

type Reply = { resolve(value: BatchResult): void; reject(error: unknown): void };

export class WriteWorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Reply>();
  /** The configuration object last sent to the worker, per program. */
  private readonly sentConfigs = new Map<string, ProgramConfig>();
  private nextId = 1;
  private closed?: Promise<void>;
  /** False once the thread has failed or exited: the batcher then writes on the main thread. */
  alive = true;

  constructor(data: WriteWorkerData, log: Logger) {
    // Compiled, the worker is a .js file beside this one; under ts-jest or ts-node it is .ts.
    const ext = extname(__filename);
    this.worker = new Worker(join(__dirname, `write-worker${ext}`), {
      workerData: data,
      execArgv: ext === ".ts" ? ["--require", "ts-node/register/transpile-only"] : [],
    });
    this.worker.on("message", (message: any) => {
      if (message.kind === "log") return log.error({ worker: "write" }, message.message);
      if (message.kind === "closed") return this.onClosed?.();
      const reply = this.pending.get(message.id);
      if (!reply) return;
      this.pending.delete(message.id);
      if (message.kind === "done") reply.resolve(rehydrate(message.result));
      else reply.reject(failureFromWorker(message.error));
    });
    // A dead worker must not leave a request waiting: every pending batch fails (its records are
    // then retried one by one on the main thread; their keys make that safe whether or not the
    // batch had committed), and later batches run on the main thread. A record still failing is
    // answered retryable: its batch's outcome is unknown, and its key makes a retry safe.
    const fail = (err: unknown) => {
      if (this.alive && !this.closed) log.error({ err }, "write worker stopped: writing on the main thread from now on");
      this.alive = false;
      for (const reply of this.pending.values()) reply.reject(new TransientFailure("the write worker stopped before answering the batch", { cause: err }));
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`write worker exited (${code})`)));
  }

  private onClosed?: () => void;

  write(config: ProgramConfig, items: WriteItem[], now: Date): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      if (!this.alive) return reject(new TransientFailure("write worker stopped"));
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      // Only data crosses the thread boundary (the items' callbacks stay here). A program's
      // configuration is copied across only when it is not the one the worker last got for that
      // program (messages arrive in order, so the worker has it by the time it reads this one).
      const plain = items.map(({ record, hash, deltas }) => ({ record, hash, deltas }));
      const programId = config.program.id;
      const fresh = this.sentConfigs.get(programId) !== config;
      this.worker.postMessage({ id, programId, config: fresh ? config : undefined, items: plain, now: now.getTime() });
      if (fresh) this.sentConfigs.set(programId, config);
    });
  }

  /** Lets the batches in flight finish, then ends the thread (after 10 s it is ended anyway). */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        void this.worker.terminate().then(() => resolve());
      };
      const timer = setTimeout(end, 10_000);
      this.onClosed = end;
      if (this.alive) this.worker.postMessage({ kind: "close" });
      else end();
    });
    return this.closed;
  }
}

/**
 * A batch's failure as the worker sent it: the error itself cannot cross the thread boundary, so
 * the worker, which had it whole (causes and all), said whether, and how, it is transient.
 */
function failureFromWorker(error: { message: string; code?: string; transient?: TransientKind }): Error {
  if (error.transient) return new TransientFailure(error.message, { kind: error.transient, code: error.code });
  return Object.assign(new Error(error.message), { code: error.code });
}

/**
 * Dates arrive as Dates of the realm that received the message, which under a test runner's VM is
 * not the realm the GraphQL scalars check `instanceof Date` against: make them this realm's.
 */
function reviveDates(value: any): any {
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (Object.prototype.toString.call(value) === "[object Date]") return new Date(value.getTime());
  for (const key of Object.keys(value)) value[key] = reviveDates(value[key]);
  return value;
}

/** Results cross the thread as plain data: give back the classes the GraphQL layer resolves on. */
function rehydrate(result: BatchResult) {
  reviveDates(result.outcomes);
  for (const outcome of result.outcomes) {
    if (outcome.kind !== "written") continue;
    outcome.result.touchpoint = Object.assign(new Touchpoint(), outcome.result.touchpoint);
    // The worker sends the customer's row only (write-worker.ts): the rest is built from it.
    outcome.result.customer = customerFromRow(outcome.result.customer.row);
  }
  return result;
}
