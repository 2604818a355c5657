/**
 * Resuming a subscription. A client that lost its connection (a deploy, a network blip) passes the
 * last sequence it saw as `after`: it first gets every retained event of the program with a greater
 * sequence from the outbox, in sequence order, then the live feed. The live feed is subscribed to
 * before the outbox is read, so an event committed meanwhile is in one or the other (or both: the
 * handoff drops the copy), and none falls between.
 *
 * What a resume cannot see: an event of a transaction that was still open when the client saw
 * `after`, carrying a smaller sequence, and published while the client was away. Sequences are
 * given when a transaction writes, not when it commits; two writers of one program racing is the
 * rare case. Such an event committed after the resume still arrives (live).
 */
import { GraphQLError } from "graphql";
import { BadInput } from "../api/errors";
import { Db } from "../db/db";
import { EventBus } from "./event-bus";
import { LoyaltyEventMessage, messageFromOutboxRow } from "./event.types";

/** Outbox rows read per statement while replaying. */
export const REPLAY_PAGE = 500;

/**
 * Replayed events created this recently may also come through the live feed (published after the
 * subscription started, or republished by the relay): their sequences are remembered to drop the copy.
 */
const HANDOFF_WINDOW_MS = 10 * 60_000;

const REPLAY_PAGE_SQL = `
SELECT id, program_id, topic, customer_id, payload, created_at FROM outbox
 WHERE program_id = $1 AND id > $2::bigint AND topic = ANY($3::text[]) AND ($4::uuid IS NULL OR customer_id = $4::uuid)
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
 * Checks a resume point: a whole number, and an event of this program still in the outbox, or the
 * sequence right before the oldest one kept (offered by EVENTS_EXPIRED), or "0" (from the oldest
 * kept). Returns it as a string of digits.
 */
export async function resumePoint(db: Db, programId: string, after: string): Promise<string> {
  if (!/^\d{1,18}$/.test(after)) throw new BadInput("after", "after is an event's sequence: a whole number, as events carry it");
  const from = BigInt(after).toString();
  if (from === "0") return from;
  const [row] = await db.query(
    `SELECT EXISTS (SELECT 1 FROM outbox WHERE program_id = $1 AND id = $2::bigint) AS kept,
            (SELECT min(id)::text FROM outbox WHERE program_id = $1) AS oldest`,
    [programId, from],
  );
  if (row.kept) return from;
  if (row.oldest === null) throw new EventsExpired(from, null);
  // Right before the oldest kept (what EVENTS_EXPIRED offers): nothing after it was pruned.
  const resumeFromOldest = BigInt(row.oldest) - 1n;
  if (BigInt(from) === resumeFromOldest) return from;
  // Older than what is kept: events after it may have been pruned. Newer: no event of this program.
  if (BigInt(from) < resumeFromOldest) throw new EventsExpired(from, String(resumeFromOldest));
  throw new BadInput("after", `No event of this program has sequence ${from}`);
}

/**
 * The program's events that `wanted` keeps: the outbox's after `after` (checked by resumePoint),
 * then live ones, without the live copies of replayed ones.
 */
export function replayThenLive(
  db: Db,
  bus: EventBus,
  programId: string,
  after: string,
  filter: { topics: readonly string[]; customerId: string | null },
): AsyncIterableIterator<LoyaltyEventMessage> {
  const live = bus.subscribe(programId)[Symbol.asyncIterator]();
  return endingSource(live, replay(db, live, programId, after, filter));
}

/**
 * `feed`, whose return() also ends `source`, the iterator it waits on. An async generator's return()
 * waits until the generator reaches a yield: one waiting for a quiet program's next event would
 * keep its bus subscription until that event came. Ending the source lets it finish at once.
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

async function* replay(
  db: Db,
  live: AsyncIterator<LoyaltyEventMessage>,
  programId: string,
  after: string,
  filter: { topics: readonly string[]; customerId: string | null },
): AsyncGenerator<LoyaltyEventMessage> {
  const topics = new Set(filter.topics);
  const wanted = (m: LoyaltyEventMessage) => topics.has(m.topic) && (!filter.customerId || m.customerId === filter.customerId);

  // Live first, into a queue of our own: the bus's iterator bounds what it holds unread, and a
  // long replay must not lose what arrives meanwhile.
  const queue: LoyaltyEventMessage[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: unknown;
  const pump = (async () => {
    try {
      for (;;) {
        const next = await live.next();
        if (next.done) break;
        if (wanted(next.value)) queue.push(next.value);
        wake?.();
      }
    } catch (err) {
      failure = err;
    } finally {
      ended = true;
      wake?.();
    }
  })();

  try {
    const replayed = new Set<string>();
    const recent = Date.now() - HANDOFF_WINDOW_MS;
    let cursor = after;
    for (;;) {
      const rows = await db.query(REPLAY_PAGE_SQL, [programId, cursor, [...topics], filter.customerId, REPLAY_PAGE]);
      for (const row of rows) {
        const message = messageFromOutboxRow(row);
        if (new Date(row.created_at).getTime() >= recent) replayed.add(message.sequence);
        yield message;
      }
      if (rows.length < REPLAY_PAGE) break;
      cursor = String(rows[rows.length - 1].id);
    }
    for (;;) {
      while (queue.length > 0) {
        const message = queue.shift()!;
        if (!replayed.has(message.sequence)) yield message;
      }
      if (ended) {
        if (failure) throw failure;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    await live.return?.();
    await pump;
  }
}
