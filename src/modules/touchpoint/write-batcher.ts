/**
 * Group commit for the write path. Concurrent records of one program queue here and are written
 * together in two set-based statements, a read and a checked write (see batch-writer.ts). A batch is taken
 * as soon as the previous one commits, so under light load a batch is one record and latency is
 * that of a single write; under load batches grow and round trips are shared. Each caller still
 * gets its own result, and retries stay idempotent per key.
 */
import type { App } from "../../app";
import { NotFound } from "../../api/errors";
import { sqlState } from "../../db/db";
import { transientKind } from "../../api/unavailable";
import { LoyaltyEventMessage } from "../../events/event.types";
import { ProgramConfig } from "../program/program.config";
import { BatchStats, BatchWriter, CONFIG_CHANGED, Outcome, WriteItem } from "./batch-writer";
import { ExternalIdCache } from "./external-id.cache";
import { deltasFor } from "./touchpoint.deltas";
import { RecordResult, TouchpointRecord } from "./touchpoint.model";
import { loadReplay } from "./replay";
import { requestHash } from "./request-hash";
import { WriteWorkerClient } from "./write-worker.client";

interface BatchItem extends WriteItem {
  programId: string;
  /** performance.now() at submit: how long the record waited for its batch (metrics). */
  submittedAt: number;
  resolve(result: RecordResult): void;
  reject(error: unknown): void;
}

/** Which customer a record is for, as the batcher can tell before the database does. */
const customerOf = (item: BatchItem) => item.record.customerId ?? `external:${item.record.customerExternalId}`;

export class WriteBatcher {
  private readonly queues = new Map<string, BatchItem[]>();
  /** Batches in flight per program. */
  private readonly running = new Map<string, number>();
  /** Customers with records in a batch in flight, per program: their next records wait for it. */
  private readonly busy = new Map<string, Map<string, number>>();

  /** Writes the batches that run on this thread (public for tests' hooks, see BatchWriter.afterRead). */
  readonly writer: BatchWriter;

  constructor(
    private readonly app: App,
    externalIds: ExternalIdCache,
    /** When set, batches run in the write worker thread instead of this one. */
    private readonly worker?: WriteWorkerClient,
    private readonly maxBatch = 64,
    /**
     * Batches in flight per program. Batches in flight never share a customer: a customer's records
     * are written, and their events published, in arrival order; a batch of one hot customer's
     * records runs alone.
     */
    private readonly maxInFlight = 1,
  ) {
    this.writer = new BatchWriter(externalIds);
  }

  /** Records submitted and not answered yet, and who waits for there to be none (a graceful drain). */
  private outstanding = 0;
  private idleWaiters: Array<() => void> = [];

  /** Resolves once every record submitted so far is answered (written, or failed). */
  idle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private answered(): void {
    if (--this.outstanding > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  submit(config: ProgramConfig, record: TouchpointRecord): Promise<RecordResult> {
    this.outstanding++;
    return new Promise<RecordResult>((resolveRecord, rejectRecord) => {
      let settled = false;
      const resolve = (result: RecordResult) => {
        resolveRecord(result);
        if (!settled) this.answered();
        settled = true;
      };
      const reject = (error: unknown) => {
        rejectRecord(error);
        if (!settled) this.answered();
        settled = true;
      };
      const programId = config.program.id;
      const item: BatchItem = {
        programId,
        record,
        hash: requestHash(record.hashed),
        deltas: deltasFor(record),
        resolve,
        reject,
        submittedAt: performance.now(),
      };
      const queue = this.queues.get(programId) ?? [];
      queue.push(item);
      this.queues.set(programId, queue);
      const running = this.running.get(programId) ?? 0;
      if (running < this.maxInFlight && (running > 0 || queue.length === 1)) {
        this.running.set(programId, running + 1);
        // Let the records that arrive in the same tick join this batch.
        setImmediate(() => void this.drain(programId));
      }
    });
  }

  /**
   * The next batch: queued records in arrival order, up to maxBatch, leaving those of customers
   * in another batch in flight (and every later record of theirs, so each customer stays in order).
   */
  private take(queue: BatchItem[], busy: Map<string, number>): BatchItem[] {
    if (this.maxInFlight === 1) return queue.splice(0, this.maxBatch);
    const taken: BatchItem[] = [];
    const left: BatchItem[] = [];
    const waiting = new Set<string>();
    for (const item of queue) {
      const customer = customerOf(item);
      if (taken.length < this.maxBatch && !busy.has(customer) && !waiting.has(customer)) taken.push(item);
      else {
        left.push(item);
        waiting.add(customer);
      }
    }
    queue.splice(0, queue.length, ...left);
    return taken;
  }

  private async drain(programId: string): Promise<void> {
    const queue = this.queues.get(programId)!;
    let busy = this.busy.get(programId);
    if (!busy) this.busy.set(programId, (busy = new Map()));
    // The answers of the batch that just committed go out once the next batch is on its way: the
    // database then works on the next batch while this thread answers the last one's requests.
    let answer: (() => void) | undefined;
    for (;;) {
      const items = this.take(queue, busy);
      if (items.length === 0) break;
      const customers = items.map(customerOf);
      for (const c of customers) busy.set(c, (busy.get(c) ?? 0) + 1);
      this.observeTaken(items);
      const running = this.run(items);
      answer?.();
      answer = undefined;
      try {
        answer = await running;
      } catch (err) {
        // A bug in run() itself: answer its records rather than leave them waiting, and go on.
        this.app.log.error({ err }, "write batch failed unexpectedly");
        for (const item of items) item.reject(err);
      } finally {
        for (const c of customers) {
          const n = busy.get(c)! - 1;
          if (n > 0) busy.set(c, n);
          else busy.delete(c);
        }
      }
    }
    answer?.();
    const running = (this.running.get(programId) ?? 1) - 1;
    if (running > 0) this.running.set(programId, running);
    else {
      this.running.delete(programId);
      this.busy.delete(programId);
      if (queue.length === 0) this.queues.delete(programId);
      else {
        // Records left by a drainer that stopped while another held their customer: drain them now.
        this.running.set(programId, 1);
        setImmediate(() => void this.drain(programId));
      }
    }
  }

  /** Writes a batch; resolves, once it committed, to what answers its records (called by drain). */
  private async run(items: BatchItem[], attempt = 1, started = performance.now()): Promise<() => void> {
    let outcomes: Outcome[];
    let events: LoyaltyEventMessage[];
    let grants: number;
    let stats: BatchStats;
    let config: ProgramConfig;
    try {
      // The configuration as it is now: a ladder or rule edited while records waited applies to them.
      config = await this.app.programs.config(items[0].programId);
      const now = this.app.clock();
      const worker = this.worker?.alive ? this.worker : undefined;
      let used: ProgramConfig | undefined;
      ({
        outcomes,
        events,
        grants,
        stats,
        config: used,
      } = worker ? await worker.write(config, items, now) : await this.writer.write(this.app.db, config, items, now));
      if (used) {
        // The configuration changed while the batch was written, which read it again: answer and
        // give grants by that one, and let the next batch load it rather than start from the old.
        config = used;
        this.app.programs.cache.invalidate(config.program.id);
      }
    } catch (err) {
      if (sqlState(err) === CONFIG_CHANGED && attempt < 3) {
        // The ladder or rules changed under this batch: write it again with the new ones.
        this.app.programs.cache.invalidate(items[0].programId);
        return this.run(items, attempt + 1, started);
      }
      // The database went away mid-batch: it may have committed, its events unpublished.
      if (transientKind(err)) this.app.feeds.writeOutcomeUnknown();
      // One bad record must not fail its neighbours: write them one by one.
      this.app.metrics.writeBatchesFailed.inc();
      if (items.length > 1) {
        for (const item of items) (await this.run([item]))();
      } else {
        this.app.metrics.touchpoints.inc({ outcome: "rejected" });
        items[0].reject(sqlState(err) === "23503" ? new NotFound("Customer", "customerId") : err);
      }
      return () => undefined;
    }
    this.observeWritten(started, stats, outcomes);
    // Events leave in commit order: now, before any later batch can commit.
    if (events.length > 0) this.app.outbox.publishCommitted(events);
    // What the batch owes (referral bonuses, triggered rewards) is given before its requests are
    // answered, so a client reading right after sees it; the lifecycle job catches any left over.
    if (grants > 0) await this.app.grants.process(config.program.id);
    return () =>
      items.forEach((item, i) => {
        const outcome = outcomes[i];
        if (outcome.kind === "written") item.resolve(outcome.result);
        else
          this.replay(config, item).then(
            (result) => {
              this.app.metrics.touchpoints.inc({ outcome: "replayed" });
              item.resolve(result);
            },
            (err) => {
              this.app.metrics.touchpoints.inc({ outcome: "rejected" });
              item.reject(err);
            },
          );
      });
  }

  /** How long each record waited for the batch that took it. */
  private observeTaken(items: BatchItem[]): void {
    const { metrics } = this.app;
    const now = performance.now();
    for (const item of items) metrics.queueSeconds.observe((now - item.submittedAt) / 1000);
  }

  /** A committed batch: its records, time, path and round trips, and what its records wrote. */
  private observeWritten(started: number, stats: BatchStats, outcomes: Outcome[]): void {
    const { metrics } = this.app;
    metrics.batchSeconds.observe((performance.now() - started) / 1000);
    metrics.batchRecords.observe(outcomes.length);
    metrics.writeBatches.inc({ path: stats.locked ? "locked" : "optimistic" });
    if (stats.contended) metrics.writeContended.inc();
    metrics.statementSeconds.observe({ statement: "read" }, stats.readMs / 1000);
    if (stats.tiersMs !== null) metrics.statementSeconds.observe({ statement: "tiers" }, stats.tiersMs / 1000);
    if (stats.writeMs !== null) metrics.statementSeconds.observe({ statement: "write" }, stats.writeMs / 1000);
    let written = 0;
    let points = 0;
    for (const outcome of outcomes) {
      if (outcome.kind !== "written") continue;
      written++;
      points += outcome.result.pointsEarned;
    }
    // The others are counted once answered: a replay, or rejected (no such customer, a key reused).
    if (written > 0) metrics.touchpoints.inc({ outcome: "written" }, written);
    if (points > 0) metrics.pointsEarned.inc(points);
  }

  /** The stored result of a key seen before (or earlier in the same batch), with replayed: true. */
  private async replay(config: ProgramConfig, item: BatchItem): Promise<RecordResult> {
    const replay = await loadReplay(this.app.db, config, item.record, item.hash);
    // Not claimed and not stored: the batch's INSERT skipped it, so its customer does not exist.
    if (!replay) throw new NotFound("Customer", "customerId");
    return replay;
  }
}
