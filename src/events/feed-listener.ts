/**
 * The per-subscriber side of the live feeds (live-feeds.ts): each subscriber's queue, and the
 * memory of sequences delivered that keeps each event to once.
 */
import { LoyaltyEventMessage } from "./event.types";

/** Events a listener may hold unread before it is ended (its client resumes with `after`). */
const LISTENER_BACKLOG = 50_000;
/** How long a delivered sequence is remembered, to drop a late copy (the relay republishes after its grace). */
const REMEMBER_MS = 10 * 60_000;

/** Raised into a listener that fell too far behind: the client resumes with `after` and misses nothing. */
export class ListenerOverflow extends Error {
  readonly extensions = { code: "SUBSCRIBER_TOO_SLOW" };
  constructor() {
    super(`This subscription fell more than ${LISTENER_BACKLOG} events behind: subscribe again with after: the last sequence received`);
  }
}

/** One subscriber's queue: pushed by the feeds, read by graphql-ws. */
export class Listener implements AsyncIterableIterator<LoyaltyEventMessage> {
  private readonly queue: LoyaltyEventMessage[] = [];
  private waiting?: (result: IteratorResult<LoyaltyEventMessage>) => void;
  private failure?: Error;
  ended = false;
  /** Resolves when the listener ends (its reader left, or the feeds stopped). */
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(private readonly onEnd: (listener: Listener) => void) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  get pending(): number {
    return this.queue.length;
  }

  pendingUpTo(sequence: number): number {
    let count = 0;
    for (const message of this.queue) if (Number(message.sequence) <= sequence) count++;
    return count;
  }

  push(message: LoyaltyEventMessage): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: message, done: false });
      return;
    }
    if (this.queue.length >= LISTENER_BACKLOG) {
      this.failure = new ListenerOverflow();
      this.queue.length = 0;
      this.end();
      return;
    }
    this.queue.push(message);
  }

  next(): Promise<IteratorResult<LoyaltyEventMessage>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async return(): Promise<IteratorResult<LoyaltyEventMessage>> {
    this.queue.length = 0;
    this.end();
    return { value: undefined, done: true };
  }

  /** Ends the feed: a waiting reader gets done (or the failure) at once. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.markClosed();
    this.onEnd(this);
    // A reader waiting has nothing queued (a failure is only raised with a full queue): it is done.
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

/** Sequences delivered lately, kept in two generations so forgetting old ones costs nothing. */
export class RecentSequences {
  private current = new Set<string>();
  private previous = new Set<string>();
  private rotatedAt = Date.now();

  /** Records the sequence; false when it was already there. */
  add(sequence: string): boolean {
    if (Date.now() - this.rotatedAt > REMEMBER_MS / 2) {
      this.previous = this.current;
      this.current = new Set();
      this.rotatedAt = Date.now();
    }
    if (this.current.has(sequence) || this.previous.has(sequence)) return false;
    this.current.add(sequence);
    return true;
  }

  has(sequence: string): boolean {
    return this.current.has(sequence) || this.previous.has(sequence);
  }
}
