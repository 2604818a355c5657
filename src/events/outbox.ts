/**
 * After commit, the writer hands its outbox rows to `publishCommitted`: they go to this process's
 * subscribers and to the bus at once and are marked published in batches, and marking queues their webhook deliveries
 * (webhook-dispatcher.ts). A relay sweep publishes rows that were committed but never marked (the
 * process died between commit and publish), so nothing committed is lost. Delivery is at least
 * once; the sequence lets subscribers drop a duplicate.
 */
import { Db } from "../db/db";
import { EventBus } from "./event-bus";
import { LoyaltyEventMessage, messageFromOutboxRow } from "./event.types";
import { QUEUE_DELIVERIES } from "./webhook-dispatcher";
import type { Metrics } from "../observability/metrics";

export class OutboxPublisher {
  private pendingMarks: string[] = [];
  private flushTimer?: NodeJS.Timeout;
  private relayTimer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly onError: (err: unknown) => void,
    private readonly metrics?: Metrics,
  ) {}

  /** Called when marking queued webhook deliveries (to send them now rather than at the next interval). */
  onDeliveriesQueued?: () => void;
  /** Called with every committed event this process publishes: its own subscribers get them without the bus (live-feeds.ts). */
  onPublished?: (messages: readonly LoyaltyEventMessage[]) => void;

  private queued(count: number): void {
    if (count > 0) this.onDeliveriesQueued?.();
  }

  publishCommitted(messages: LoyaltyEventMessage[]): void {
    this.onPublished?.(messages);
    for (const message of messages) {
      this.bus.publish(message);
      this.metrics?.events.inc({ topic: message.topic, via: "commit" });
      this.pendingMarks.push(message.sequence);
    }
    if (!this.flushTimer && this.pendingMarks.length > 0) {
      // Marking is bookkeeping for the relay (which waits 5 s before republishing): one
      // statement every quarter second keeps it off the write path.
      this.flushTimer = setTimeout(() => void this.flush(), 250);
    }
  }

  /** Marks what was published. One statement for every event of the last few milliseconds. */
  async flush(): Promise<void> {
    this.flushTimer = undefined;
    await this.flushing;
    const ids = this.pendingMarks.splice(0);
    if (ids.length === 0) return;
    this.flushing = this.db
      .query(
        `WITH marked AS (
           UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]) AND published_at IS NULL RETURNING program_id, id, topic
         ), ${QUEUE_DELIVERIES}
         SELECT count(*)::int AS queued FROM queued`,
        [ids],
      )
      .then(
        ([row]) => this.queued(row?.queued ?? 0),
        (err) => {
          // The database is away: mark them on the next flush, or the relay would publish them again.
          this.pendingMarks.unshift(...ids);
          if (!this.stopping) this.flushTimer ??= setTimeout(() => void this.flush(), 1000);
          this.onError(err);
        },
      );
    await this.flushing;
  }

  /**
   * Publishes committed rows older than `graceMs` that nobody marked. Rows are claimed with SKIP
   * LOCKED, so several processes sweeping at once do not publish the same row twice.
   */
  async relayOnce(graceMs = 5000, limit = 500): Promise<number> {
    const rows = await this.db.query(
      `WITH marked AS (
         UPDATE outbox o SET published_at = now()
           FROM (SELECT program_id, id FROM outbox
                  WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1::float8 / 1000)
                  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) stale
          WHERE o.program_id = stale.program_id AND o.id = stale.id
          RETURNING o.*
       ), ${QUEUE_DELIVERIES}
       SELECT marked.*, (SELECT count(*) FROM queued)::int AS queued FROM marked`,
      [graceMs, limit],
    );
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    this.queued(rows[0]?.queued ?? 0);
    const messages = rows.map(messageFromOutboxRow);
    this.onPublished?.(messages);
    for (const message of messages) {
      this.bus.publish(message);
      this.metrics?.events.inc({ topic: message.topic, via: "relay" });
    }
    return rows.length;
  }

  /**
   * Deletes published events older than the retention, a bounded batch at a time: the outbox is a
   * queue and a short replay window, not the history (moves are kept in stage_transitions).
   */
  async pruneOnce(retentionDays: number, limit = 10_000): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM outbox o USING (
         SELECT program_id, id FROM outbox
          WHERE published_at IS NOT NULL AND created_at < now() - make_interval(days => $1)
          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) old
        WHERE o.program_id = old.program_id AND o.id = old.id
        RETURNING o.id`,
      [retentionDays, limit],
    );
    return rows.length;
  }

  startRelay(intervalMs: number, retentionDays: number): void {
    let sweeps = 0;
    this.relayTimer = setInterval(() => {
      void this.relayOnce().catch(this.onError);
      // Pruning is rare work: every hundredth sweep.
      if (++sweeps % 100 === 0) void this.pruneOnce(retentionDays).catch(this.onError);
    }, intervalMs);
    this.relayTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.relayTimer) clearInterval(this.relayTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.flush();
  }
}
