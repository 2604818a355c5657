/**
 * Resuming a subscription. A client that lost its connection (a deploy, a network blip) passes the
 * last sequence it saw as `after`: it first gets every retained event of its feed with a greater
 * sequence from the outbox, in sequence order, then the live feed. The live feed is listening before
 * the outbox is read (and confirmed: live-feeds.ts), so an event committed meanwhile is in one or the
 * other (or both: the live copy of a replayed event, and `after` itself, are dropped), and none
 * falls between.
 *
 * What a resume cannot see: an event of a transaction that was still open when the client saw
 * `after`, carrying a smaller sequence, and published while the client was away. Sequences are
 * given when a transaction writes, not when it commits; two writers of one program racing is the
 * rare case. Such an event committed after the resume still arrives (live).
 */
import { GraphQLError } from "graphql";
import { BadInput } from "../api/errors";
import { Db } from "../db/db";
import type { Listener } from "./feed-listener";
import type { LiveFeeds } from "./live-feeds";
import { LoyaltyEventMessage, messageFromOutboxRow } from "./event.types";

/** Outbox rows read per statement while replaying. */
export const REPLAY_PAGE = 500;

/** How long a resume waits for its live feed to be confirmed before it reads the outbox anyway. */
const READY_WAIT_MS = 5000;

/** What a feed carries: some topics of a program, of one customer or all. */
export interface FeedFilter {
  topics: readonly string[];
  customerId: string | null;
}

/** Whether a live event belongs to a feed (the SQL twin is IN_FEED). */
export function inFeed(filter: FeedFilter): (m: LoyaltyEventMessage) => boolean {
  const topics = new Set(filter.topics);
  return (m) => topics.has(m.topic) && (!filter.customerId || m.customerId === filter.customerId);
}

const IN_FEED = `program_id = $1 AND topic = ANY($3::text[]) AND ($4::uuid IS NULL OR customer_id = $4::uuid)`;

const REPLAY_PAGE_SQL = `
SELECT id, program_id, topic, customer_id, payload, created_at FROM outbox
 WHERE ${IN_FEED} AND id > $2::bigint
 ORDER BY id LIMIT $5`;

/** The resume point was deleted from the outbox (kept OUTBOX_RETENTION_DAYS): the client must read the current state instead. */
export class EventsExpired extends GraphQLError {
  constructor(after: string, oldest: string | null) {
    super(
      `Events after sequence ${after} are no longer kept: read the current state from the API, then subscribe ${oldest ? `with after: "${oldest}" or ` : ""}without after`,
      { extensions: { code: "EVENTS_EXPIRED", field: "after", oldestRetained: oldest } },
    );
  }
}

/**
 * Checks a resume point against the feed it resumes (so a customer's token learns nothing of other
 * customers' events): a whole number, and an event of the feed still in the outbox, or the sequence
 * right before the feed's oldest one kept (offered by EVENTS_EXPIRED), or "0" (from the oldest kept).
 * Returns it as a string of digits.
 */
export async function resumePoint(db: Db, programId: string, after: string, filter: FeedFilter): Promise<string> {
  if (!/^\d{1,18}$/.test(after)) throw new BadInput("after", "after is an event's sequence: a whole number, as events carry it");
  const from = BigInt(after).toString();
  if (from === "0") return from;
  const [row] = await db.query(
    `SELECT EXISTS (SELECT 1 FROM outbox WHERE ${IN_FEED} AND id = $2::bigint) AS kept,
            (SELECT min(id)::text FROM outbox WHERE ${IN_FEED}) AS oldest,
            pg_sequence_last_value(pg_get_serial_sequence('outbox', 'id')::regclass)::text AS newest`,
    [programId, from, [...filter.topics], filter.customerId],
  );
  if (row.kept) return from;
  if (row.newest === null || BigInt(from) > BigInt(row.newest)) throw new BadInput("after", `No event has sequence ${from} yet`);
  // Nothing of this feed is kept: its events were pruned (or never were): only the current state tells.
  if (row.oldest === null) throw new EventsExpired(from, null);
  // Right before the oldest kept: nothing after it was pruned.
  const resumeFromOldest = BigInt(row.oldest) - 1n;
  if (BigInt(from) === resumeFromOldest) return from;
  // Older than what is kept: events after it may have been pruned. Newer: no event of this feed.
  if (BigInt(from) < resumeFromOldest) throw new EventsExpired(from, String(resumeFromOldest));
  throw new BadInput("after", `No event of this subscription has sequence ${from}`);
}

/**
 * The feed's events after `after` (checked by resumePoint) from the outbox, then live ones,
 * without the live copies of replayed ones.
 */
export function replayThenLive(db: Db, feeds: LiveFeeds, programId: string, after: string, filter: FeedFilter): AsyncIterableIterator<LoyaltyEventMessage> {
  // Listening before the outbox is read: an event committed meanwhile is in one or the other.
  const live = feeds.subscribe(programId);
  return endingSource(live, replay(db, feeds, live, programId, after, filter));
}

/**
 * `feed`, whose return() also ends `source`, the iterator it waits on. An async generator's return()
 * waits until the generator reaches a yield: one waiting for a quiet program's next event would
 * keep its subscription until that event came. Ending the source lets it finish at once.
 */
export function endingSource<T>(source: AsyncIterator<unknown>, feed: AsyncGenerator<T>): AsyncIterableIterator<T> {
  return {
    next: () => feed.next(),
    return: async (value?: unknown) => {
      await source.return?.();
      return feed.return(value as T);
    },
    throw: (err?: unknown) => feed.throw(err),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Sorted sequences, as numbers (they stay below 2^53 in practice): one is looked up by bisection. */
function contains(sorted: number[], value: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (sorted[mid] === value) return true;
    if (sorted[mid] < value) low = mid + 1;
    else high = mid - 1;
  }
  return false;
}

async function* replay(db: Db, feeds: LiveFeeds, live: Listener, programId: string, after: string, filter: FeedFilter): AsyncGenerator<LoyaltyEventMessage> {
  const wanted = inFeed(filter);
  // The live feed queues what arrives while the outbox is read (live-feeds.ts bounds that queue).
  // Its subscription is confirmed first, so nothing committed from now on passes it by; a bus that
  // never confirms (broken, not down) holds the resume only so long: the feeds read the outbox meanwhile.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([feeds.ready(programId), live.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, READY_WAIT_MS)))]);
  if (live.ended) return;
  clearTimeout(timer);

  // Every sequence replayed (and `after`, which the client has): their live copies are dropped.
  const replayed: number[] = [];
  const seen = Number(after);
  let cursor = after;
  for (;;) {
    const rows = await db.query(REPLAY_PAGE_SQL, [programId, cursor, [...filter.topics], filter.customerId, REPLAY_PAGE]);
    for (const row of rows) {
      const message = messageFromOutboxRow(row);
      replayed.push(Number(message.sequence));
      yield message;
    }
    if (rows.length < REPLAY_PAGE) break;
    cursor = String(rows[rows.length - 1].id);
  }
  const last = replayed.length > 0 ? replayed[replayed.length - 1] : seen;
  const isCopy = (m: LoyaltyEventMessage) => {
    const sequence = Number(m.sequence);
    return sequence === seen || (sequence <= last && contains(replayed, sequence));
  };
  for (;;) {
    const next = await live.next();
    if (next.done) return;
    if (wanted(next.value) && !isCopy(next.value)) yield next.value;
  }
}
