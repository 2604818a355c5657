/**
 * What this process's subscribers read: each program's committed events, once each, in sequence
 * order per customer, with the outbox as the record and the bus as the fast path.
 *
 * Live, the bus (Redis) brings every process's events, this one's included: one stream, in the
 * order they were published. When the bus cannot be trusted (it is down; it came back and some
 * feed's subscription is not confirmed yet; a feed just opened), the feeds are "catching up": the
 * bus is held back and events are read from the outbox instead, in sequence order and exactly (see
 * readOutbox), every CATCH_UP_MS and at once after each commit of this process. A sweep every
 * SWEEP_MS finds what the bus lost without saying so (a publish cut off mid-outage, a process that
 * died between commit and publish, a writer with no bus at all) and delivers it late.
 * Without Redis, this process's own commits are the only writes, handed over right after commit.
 * docs/events.md says what a subscriber can rely on.
 */
import { randomUUID } from "node:crypto";
import { logBackgroundFailure } from "../api/unavailable";
import type { Logger } from "pino";
import { Queryable } from "../db/db";
import { BusState, EventBus } from "./event-bus";
import { LoyaltyEventMessage, messageFromOutboxRow } from "./event.types";
import { Listener, RecentSequences } from "./feed-listener";

export interface LiveFeedTimings {
  /** How often the outbox is read while catching up. */
  catchUpMs: number;
  /** How often the sweep looks for events the bus lost. */
  sweepMs: number;
  /**
   * How far back the sweep looks: an event whose sequence was taken more than this long ago and
   * that commits only now is not swept (a write transaction that long is not one of ours).
   */
  sweepWindowMs: number;
  /** After the bus is back and every feed confirmed, how long to go on reading the outbox (other processes' publishers reconnect too). */
  settleMs: number;
  /**
   * How long an event from the bus waits for others with smaller sequences: two processes'
   * publishes can reach Redis in the other order than their commits (a customer's write on one
   * process, then its next on another, whose publish came first). 0: delivered as they come.
   */
  reorderMs: number;
}

export const DEFAULT_LIVE_FEED_TIMINGS: LiveFeedTimings = { catchUpMs: 200, sweepMs: 5_000, sweepWindowMs: 30_000, settleMs: 1_000, reorderMs: 50 };

/** How long a catch-up read waits for the write transactions in flight to end before it reads anyway. */
const SETTLE_WAIT_MS = 2_000;

const MARKER_RESEND_MS = 50;
const PAGE = 1000;
/** A catch-up cursor when nothing is known of where the outbox stood. */
const UNKNOWN = -1n;

const OUTBOX_COLUMNS = `id, program_id, topic, customer_id, payload, created_at`;
const NEWEST_SEQUENCE = `pg_sequence_last_value(pg_get_serial_sequence('outbox', 'id')::regclass)`;

/** A program some local subscriber listens to. */
class ProgramFeed {
  readonly listeners = new Set<Listener>();
  /** The newest sequence when the feed opened: older events are not this feed's to sweep up. */
  floor?: bigint;
  /** Resolves once the feed hears the bus (its marker came back), or at once while the bus is down. */
  confirmed = false;
  ready: Promise<void>;
  markReady!: () => void;
  readonly marker = randomUUID();
  /** Markers sent by a drain, each waiting to come back (everything published before it came first). */
  readonly echoes = new Map<string, () => void>();
  busFeed?: AsyncIterator<LoyaltyEventMessage>;

  constructor(readonly programId: string) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }
}

export type LiveFeedsStatus = "live" | "catching up" | "bus down";

export class LiveFeeds {
  private readonly feeds = new Map<string, ProgramFeed>();
  private readonly delivered = new RecentSequences();
  /** (time, newest sequence) seen lately: where a sweep or a catch-up starts. */
  private samples: Array<{ at: number; sequence: bigint }> = [];
  /** The outbox is read after this sequence while catching up. */
  private catchUpCursor?: bigint;
  /** Until when the outbox is read after the bus came back. */
  private settleUntil = 0;
  private catchUpTimer?: NodeJS.Timeout;
  /** A catch-up read is running; another was asked for meanwhile. */
  private reading = false;
  private readAgain = false;
  /** What the bus brought while catching up: delivered at the switch back, unless read meanwhile. */
  private held: LoyaltyEventMessage[] = [];
  /** The greatest sequence this process committed (a drain waits until its subscribers have it). */
  private newestOwn = 0;
  /** Events from the bus waiting reorderMs for stragglers (see LiveFeedTimings). */
  private reordering: Array<{ message: LoyaltyEventMessage; at: number }> = [];
  private reorderTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private stopBusWatch?: () => void;
  private stopped = false;
  /** The bus came back: once every feed is confirmed, read the outbox for settleMs more. */
  private recovering = false;
  /** Called when the bus came back after an outage (control messages of the outage were lost). */
  onBusRecovered?: () => void;

  constructor(
    private readonly db: Queryable,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly timings: LiveFeedTimings = DEFAULT_LIVE_FEED_TIMINGS,
  ) {}

  start(): void {
    this.stopBusWatch = this.bus.onStateChange((state) => this.busChanged(state));
    this.sweepTimer = setInterval(
      () => void this.sweep().catch((err) => logBackgroundFailure(this.log, err, "live feeds: outbox sweep failed")),
      this.timings.sweepMs,
    );
    this.sweepTimer.unref();
    // A first sample, so that a catch-up never starts from the beginning of the outbox.
    void this.newestSequence().catch((err) => logBackgroundFailure(this.log, err, "live feeds: newest sequence unknown"));
    if (this.bus.distributed && this.bus.state() === "down") this.busChanged("down");
  }

  /** "live" when the bus carries every feed; otherwise the outbox is being read. */
  status(): LiveFeedsStatus {
    if (this.bus.state() === "down") return "bus down";
    return this.catchingUp() ? "catching up" : "live";
  }

  /** How many subscribers of this process listen to the program. */
  listenerCount(programId: string): number {
    return this.feeds.get(programId)?.listeners.size ?? 0;
  }

  /** A program's events from now on, once each. End it with return(). */
  subscribe(programId: string): Listener {
    let feed = this.feeds.get(programId);
    if (!feed) feed = this.open(programId);
    const current = feed;
    const listener = new Listener((ended) => {
      current.listeners.delete(ended);
      if (current.listeners.size === 0 && this.feeds.get(programId) === current) this.close(current);
    });
    feed.listeners.add(listener);
    return listener;
  }

  /**
   * Resolves once events of the program committed from now on reach its subscribers: the feed hears
   * the bus (or the bus is down and the outbox is read). A resume reads the outbox after this.
   */
  ready(programId: string): Promise<void> {
    return this.feeds.get(programId)?.ready ?? Promise.resolve();
  }

  /**
   * This process's commits (and the relay's republished rows), which are also on their way to the
   * bus. Without Redis they go to local subscribers now. With it, the bus's echo brings them, in
   * one stream with every other process's; while catching up, the outbox read started here does.
   */
  deliver(messages: readonly LoyaltyEventMessage[]): void {
    for (const message of messages) if (Number(message.sequence) > this.newestOwn) this.newestOwn = Number(message.sequence);
    if (this.catchUpCursor !== undefined) this.schedule(0);
    else if (!this.bus.distributed) for (const message of messages) this.accept(message, "local");
  }

  /**
   * A write's outcome is unknown (the database went away during its commit): if it committed, its
   * events were never published. Catch up, so they come in order rather than from a later sweep.
   */
  writeOutcomeUnknown(): void {
    if (this.feeds.size === 0 || this.stopped) return;
    this.settleUntil = Math.max(this.settleUntil, Date.now() + this.timings.settleMs);
    this.startCatchingUp();
  }

  /**
   * For a graceful drain: resolves once every event this process committed so far has been handed
   * to its listeners' readers, or at the deadline. Live over Redis, each feed's own marker coming
   * back says its earlier publishes did; catching up, one more outbox read does.
   */
  async flushed(deadline: number): Promise<void> {
    const left = () => Math.max(0, deadline - Date.now());
    if (this.bus.distributed && this.catchUpCursor === undefined && this.bus.state() === "up") {
      await Promise.all([...this.feeds.values()].map((feed) => this.echo(feed, left())));
    } else if (this.catchUpCursor !== undefined) {
      await Promise.race([this.serialized(() => this.readOutbox()).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, left()).unref())]);
    }
    // Other processes' events keep coming: wait only for those up to this process's last one.
    const upTo = this.newestOwn;
    while (Date.now() < deadline && this.pendingUpTo(upTo) > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Events with a sequence up to `sequence` not yet handed to a reader. */
  private pendingUpTo(sequence: number): number {
    let pending = this.reordering.filter((r) => Number(r.message.sequence) <= sequence).length;
    for (const feed of this.feeds.values()) for (const listener of feed.listeners) pending += listener.pendingUpTo(sequence);
    return pending;
  }

  private echo(feed: ProgramFeed, withinMs: number): Promise<void> {
    const marker = randomUUID();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        feed.echoes.delete(marker);
        resolve();
      };
      const timer = setTimeout(done, withinMs);
      feed.echoes.set(marker, done);
      this.bus.publish({
        sequence: "0",
        programId: feed.programId,
        topic: "FEED_MARKER",
        customerId: null,
        payload: { marker },
        createdAt: new Date().toISOString(),
      });
    });
  }

  /** Ends every listener (their readers see the end) and stops reading. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopBusWatch?.();
    clearInterval(this.sweepTimer);
    clearTimeout(this.catchUpTimer);
    clearTimeout(this.reorderTimer);
    for (const feed of [...this.feeds.values()]) for (const listener of [...feed.listeners]) listener.end();
    await this.polling?.catch(() => undefined);
  }

  private accept(message: LoyaltyEventMessage, source: "bus" | "local" | "outbox"): void {
    const feed = this.feeds.get(message.programId);
    if (!feed) return;
    if (message.topic === "FEED_MARKER") {
      feed.echoes.get(message.payload.marker)?.();
      if (message.payload.marker === feed.marker && !feed.confirmed) {
        feed.confirmed = true;
        feed.markReady();
        this.confirmedOne();
      }
      return;
    }
    // Catching up, the outbox reads deliver, in order; what the bus brings meanwhile waits for the
    // switch back (most of it will have been read by then).
    if (source === "bus" && this.catchUpCursor !== undefined) {
      this.held.push(message);
      return;
    }
    if (source === "bus" && this.timings.reorderMs > 0) {
      if (this.delivered.has(message.sequence)) return;
      this.reordering.push({ message, at: Date.now() });
      this.releaseReordered();
      return;
    }
    this.deliverOnce(feed, message);
  }

  private deliverOnce(feed: ProgramFeed, message: LoyaltyEventMessage): void {
    if (!this.delivered.add(message.sequence)) return;
    for (const listener of feed.listeners) listener.push(message);
  }

  /**
   * Delivers, in sequence order, the bus's events that waited reorderMs; one with a smaller
   * sequence that has not waited so long holds back those after it.
   */
  private releaseReordered(): void {
    if (this.reorderTimer) return;
    this.reordering.sort((a, b) => Number(a.message.sequence) - Number(b.message.sequence));
    const ripe = Date.now() - this.timings.reorderMs;
    let count = 0;
    while (count < this.reordering.length && this.reordering[count].at <= ripe) count++;
    for (const { message } of this.reordering.splice(0, count)) {
      const feed = this.feeds.get(message.programId);
      if (feed) this.deliverOnce(feed, message);
    }
    if (this.reordering.length === 0) return;
    const wait = Math.max(1, this.reordering[0].at + this.timings.reorderMs - Date.now());
    this.reorderTimer = setTimeout(() => {
      this.reorderTimer = undefined;
      this.releaseReordered();
    }, wait);
    this.reorderTimer.unref();
  }

  private open(programId: string): ProgramFeed {
    const feed = new ProgramFeed(programId);
    this.feeds.set(programId, feed);
    void this.newestSequence()
      .then((newest) => (feed.floor = newest))
      .catch((err) => logBackgroundFailure(this.log, err, "live feeds: newest sequence unknown"));
    if (!this.bus.distributed) {
      // Every writer that reaches this process's subscribers is this process: nothing to confirm.
      feed.confirmed = true;
      feed.markReady();
      return feed;
    }
    feed.busFeed = this.bus.subscribe(programId)[Symbol.asyncIterator]();
    void this.pump(feed);
    this.confirm(feed);
    return feed;
  }

  private close(feed: ProgramFeed): void {
    this.feeds.delete(feed.programId);
    void feed.busFeed?.return?.();
    feed.markReady();
  }

  private async pump(feed: ProgramFeed): Promise<void> {
    try {
      for (;;) {
        const next = await feed.busFeed!.next();
        if (next.done) return;
        this.accept(next.value, "bus");
      }
    } catch (err) {
      logBackgroundFailure(this.log, err, "live feeds: bus feed failed");
    }
  }

  /**
   * Sends the feed's marker until it comes back through the bus: SUBSCRIBE then took effect, and
   * every event published after it arrives. While the bus is down the feed is ready at once (the
   * outbox is being read), and confirmed when the bus is back.
   */
  private confirm(feed: ProgramFeed): void {
    feed.confirmed = false;
    if (this.bus.state() === "down") feed.markReady();
    const probe = () => {
      if (feed.confirmed || this.feeds.get(feed.programId) !== feed || this.stopped || this.bus.state() === "down") return clearInterval(again);
      this.bus.publish({
        sequence: "0",
        programId: feed.programId,
        topic: "FEED_MARKER",
        customerId: null,
        payload: { marker: feed.marker },
        createdAt: new Date().toISOString(),
      });
    };
    const again = setInterval(probe, MARKER_RESEND_MS);
    again.unref();
    probe();
    // Until it is confirmed, events published meanwhile may pass it by: read the outbox.
    this.startCatchingUp();
  }

  private busChanged(state: BusState): void {
    if (this.stopped) return;
    if (state === "down") {
      this.log.warn({ feeds: this.feeds.size }, "live feeds: event bus down, reading events from the outbox");
      for (const feed of this.feeds.values()) {
        feed.confirmed = false;
        feed.markReady();
      }
      this.startCatchingUp();
      return;
    }
    this.log.info("live feeds: event bus back, confirming subscriptions");
    this.onBusRecovered?.();
    this.recovering = true;
    for (const feed of this.feeds.values()) this.confirm(feed);
  }

  private confirmedOne(): void {
    // Every feed hears the bus again: read on for settleMs (other processes' publishers are back
    // at about the same time, not the same instant), then once more, then stop.
    if (this.recovering && [...this.feeds.values()].every((f) => f.confirmed)) {
      this.recovering = false;
      this.settleUntil = Date.now() + this.timings.settleMs;
    }
  }

  private catchingUp(): boolean {
    if (this.feeds.size === 0) return false;
    return this.bus.state() === "down" || this.recovering || Date.now() < this.settleUntil || [...this.feeds.values()].some((f) => !f.confirmed);
  }

  private startCatchingUp(): void {
    // What waits to be reordered is held like the rest: the outbox reads deliver it, in order.
    this.held.push(...this.reordering.map((r) => r.message));
    this.reordering = [];
    // From a little before now: an event published just before the outage was noticed may be lost.
    this.catchUpCursor ??= this.sequenceAgo(this.timings.settleMs * 2);
    this.schedule(this.timings.catchUpMs);
  }

  /** The next catch-up read in `ms` (0: as soon as the one running ends). */
  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.reading) {
      if (ms === 0) this.readAgain = true;
      return;
    }
    if (this.catchUpTimer && ms > 0) return;
    clearTimeout(this.catchUpTimer);
    this.catchUpTimer = setTimeout(() => void this.catchUp(), ms);
    this.catchUpTimer.unref();
  }

  private async catchUp(): Promise<void> {
    this.catchUpTimer = undefined;
    if (this.stopped || this.catchUpCursor === undefined) return;
    this.reading = true;
    const more = this.catchingUp();
    let read = false;
    try {
      await this.serialized(() => this.readOutbox());
      read = true;
    } catch (err) {
      logBackgroundFailure(this.log, err, "live feeds: outbox catch-up failed");
    }
    this.reading = false;
    if (!more && read) {
      // The read after the last reason to read: what the bus brought since is newer than it. Live.
      const held = this.held;
      this.held = [];
      this.catchUpCursor = undefined;
      for (const message of held) this.accept(message, "bus");
      this.log.info("live feeds: event bus live again");
      return;
    }
    const again = this.readAgain;
    this.readAgain = false;
    this.schedule(again ? 0 : this.timings.catchUpMs);
  }

  /**
   * Reads the listened programs' events after the catch-up cursor, exactly and in sequence order.
   * Sequences are taken inside write transactions, so a smaller one can commit after a greater one
   * is visible. So the read first notes the newest sequence taken, waits until the write
   * transactions of this database then in flight have ended (each has taken its sequences or will
   * take greater ones), and only then reads up to that sequence: nothing up to it can appear later.
   */
  private async readOutbox(): Promise<void> {
    const programs = [...this.feeds.keys()];
    if (programs.length === 0 || this.catchUpCursor === undefined) return;
    const newest = await this.newestSequence();
    if (this.catchUpCursor === UNKNOWN) {
      // Nothing known of where the outbox stood (the database was away since this process
      // started): from now on; the sweep looks further back.
      this.catchUpCursor = newest;
      return;
    }
    await this.writesInFlightEnded();
    for (;;) {
      const rows: any[] = await this.db.query(
        `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE program_id = ANY($1::uuid[]) AND id > $2::bigint AND id <= $3::bigint ORDER BY id LIMIT $4`,
        [programs, String(this.catchUpCursor), String(newest), PAGE],
      );
      for (const row of rows) this.acceptRow(row);
      if (rows.length < PAGE) break;
      this.catchUpCursor = BigInt(rows[rows.length - 1].id);
    }
    this.catchUpCursor = newest;
    this.held = this.held.filter((m) => BigInt(m.sequence) > newest);
  }

  /** Waits (SETTLE_WAIT_MS at most) until the write transactions of this database now in flight have ended. */
  private async writesInFlightEnded(): Promise<void> {
    const inFlight = await this.db.query(
      `SELECT pid, backend_xid::text AS xid FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`,
    );
    let pending = inFlight.map((r) => `${r.pid}:${r.xid}`);
    const deadline = Date.now() + SETTLE_WAIT_MS;
    while (pending.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      const still = await this.db.query(
        `SELECT pid, backend_xid::text AS xid FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid = ANY($1::int[])`,
        [pending.map((p) => Number(p.split(":")[0]))],
      );
      const now = new Set(still.map((r) => `${r.pid}:${r.xid}`));
      pending = pending.filter((p) => now.has(p));
    }
  }

  /**
   * Finds events of the sweep window that nobody delivered here, and delivers them. Ids first
   * (cheap, from the primary key), whole rows only for the ones missing.
   */
  async sweep(): Promise<number> {
    const programs = [...this.feeds.values()].filter((f) => f.floor !== undefined);
    // Catching up reads everything anyway.
    if (programs.length === 0 || this.stopped || this.catchUpCursor !== undefined) return 0;
    let found = 0;
    await this.serialized(async () => {
      await this.newestSequence();
      const from = this.sequenceAgo(this.timings.sweepWindowMs);
      const rows = await this.db.query(`SELECT id::text AS id, program_id FROM outbox WHERE program_id = ANY($1::uuid[]) AND id > $2::bigint`, [
        programs.map((f) => f.programId),
        String(from),
      ]);
      const missing = rows.filter((r) => {
        const feed = this.feeds.get(r.program_id);
        return feed?.floor !== undefined && BigInt(r.id) > feed.floor && !this.delivered.has(r.id);
      });
      if (missing.length === 0) return;
      const lost = await this.db.query(`SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE program_id = ANY($1::uuid[]) AND id = ANY($2::bigint[]) ORDER BY id`, [
        [...new Set(missing.map((r) => r.program_id))],
        missing.map((r) => r.id),
      ]);
      for (const row of lost) if (this.acceptRow(row)) found++;
    });
    if (found > 0) this.log.warn({ found }, "live feeds: delivered events the bus lost");
    return found;
  }

  private acceptRow(row: any): boolean {
    const feed = this.feeds.get(row.program_id);
    if (!feed || (feed.floor !== undefined && BigInt(row.id) <= feed.floor)) return false;
    if (this.delivered.has(String(row.id))) return false;
    this.accept(messageFromOutboxRow(row), "outbox");
    return true;
  }

  /** One outbox read at a time: a catch-up and a sweep would otherwise deliver out of order. */
  private async serialized(run: () => Promise<void>): Promise<void> {
    const previous = this.polling;
    const current = (async () => {
      await previous?.catch(() => undefined);
      await run();
    })();
    this.polling = current.catch(() => undefined);
    await current;
  }

  /** The newest sequence taken (committed or not), noted as a sample. */
  private async newestSequence(): Promise<bigint> {
    const [row] = await this.db.query(`SELECT ${NEWEST_SEQUENCE}::text AS newest`);
    const newest = BigInt(row?.newest ?? 0);
    this.sample(newest);
    return newest;
  }

  private sample(sequence: bigint): void {
    const now = Date.now();
    this.samples.push({ at: now, sequence });
    const keep = now - this.timings.sweepWindowMs * 2;
    while (this.samples.length > 2 && this.samples[1].at < keep) this.samples.shift();
  }

  /** The newest sequence as it was at least `ms` ago (the oldest known when none is that old). */
  private sequenceAgo(ms: number): bigint {
    const before = Date.now() - ms;
    let found: bigint | undefined;
    for (const s of this.samples) if (s.at <= before) found = s.sequence;
    if (found !== undefined) return found;
    if (this.samples.length > 0) return this.samples[0].sequence;
    // No sample yet (the database was unreachable since start): from the oldest feed's opening.
    const floors = [...this.feeds.values()].map((f) => f.floor).filter((f): f is bigint => f !== undefined);
    return floors.length > 0 ? floors.reduce((a, b) => (a < b ? a : b)) : UNKNOWN;
  }
}
