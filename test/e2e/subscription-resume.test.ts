/**
 * Resuming a subscription after a disconnect (`after`): the events missed come from the outbox,
 * in order, then live ones, each once, with the same filters and role checks as a live subscription.
 */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { until } from "../helpers/until";
import { createKey, griffinProgram, ok, purchase } from "../helpers/operations";
import { REPLAY_PAGE, replayThenLive } from "../../src/events/resume";
import { LiveFeeds } from "../../src/events/live-feeds";
import type { BusState, EventBus } from "../../src/events/event-bus";

/** A distributed bus, always up, whose subscriptions start delivering `delayMs` after SUBSCRIBE (as Redis's). */
class DelayedBus implements EventBus {
  readonly distributed = true;
  subscribers = 0;
  markersHeard = 0;
  private readonly listeners = new Set<(m: any) => void>();
  constructor(private readonly delayMs: number) {}
  publish(m: any): void {
    for (const l of this.listeners) l(m);
  }
  subscribe(): AsyncIterable<any> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the iterator's methods need the bus, not the iterator
    const bus = this;
    return {
      [Symbol.asyncIterator]() {
        const waiting: Array<(r: IteratorResult<any>) => void> = [];
        const held: any[] = [];
        let ended = false;
        const listener = (m: any) => {
          if (m.topic === "FEED_MARKER") bus.markersHeard++;
          if (waiting.length) waiting.shift()!({ done: false, value: m });
          else held.push(m);
        };
        bus.subscribers++;
        const timer = Number.isFinite(bus.delayMs) ? setTimeout(() => bus.listeners.add(listener), bus.delayMs) : undefined;
        return {
          next: () =>
            new Promise<IteratorResult<any>>((resolve) =>
              held.length ? resolve({ done: false, value: held.shift() }) : ended ? resolve({ done: true, value: undefined }) : waiting.push(resolve),
            ),
          return: async () => {
            if (!ended) bus.subscribers--;
            ended = true;
            clearTimeout(timer);
            bus.listeners.delete(listener);
            waiting.splice(0).forEach((resolve) => resolve({ done: true, value: undefined }));
            return { done: true, value: undefined };
          },
        };
      },
    };
  }
  publishControl(): void {}
  control(): AsyncIterable<any> {
    return { [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) };
  }
  state(): BusState {
    return "up";
  }
  onStateChange(): () => void {
    return () => undefined;
  }
  async close(): Promise<void> {}
}

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const LOYALTY_EVENTS = `subscription($p: ID!, $after: ID) { loyaltyEvents(programId: $p, after: $after) {
  __typename
  ... on StageChangedEvent { sequence customerId to { key } }
  ... on TouchpointRecordedEvent { sequence customerId externalId }
} }`;
const STAGE_CHANGED = `subscription($p: ID!, $c: ID, $after: ID) { stageChanged(programId: $p, customerId: $c, after: $after) { sequence customerId to { key } } }`;

/** The program's events as the outbox holds them, in sequence order. */
async function outbox(
  programId: string,
  topics = ["STAGE_CHANGED", "TOUCHPOINT_RECORDED"],
): Promise<Array<{ sequence: string; topic: string; customerId: string }>> {
  const rows = await t.app.db.query(
    `SELECT id::text AS sequence, topic, customer_id FROM outbox WHERE program_id = $1 AND topic = ANY($2::text[]) ORDER BY outbox.id`,
    [programId, topics],
  );
  return rows.map((r: any) => ({ sequence: r.sequence, topic: r.topic, customerId: r.customer_id }));
}

const sequencesOf = (items: any[], field: string) => items.map((i) => i[field].sequence as string);

describe("resuming a subscription after a sequence", () => {
  it("replays what was missed in order, then goes on live, each event once", async () => {
    const programId = await griffinProgram(t);
    for (const [who, order] of [
      ["a", "a1"],
      ["b", "b1"],
      ["a", "a2"],
      ["c", "c1"],
    ]) {
      expect((await purchase(t, { programId, customerExternalId: who, orderId: order, amount: 10, currency: "EUR" })).errors).toBeUndefined();
    }
    const before = await outbox(programId);
    expect(before.length).toBe(8); // four touchpoints, three first moves, a's second move
    const seen = before[2].sequence; // the client saw three events, then lost its connection

    const resumed = collect(t.ws(), LOYALTY_EVENTS, { p: programId, after: seen });
    // Written while the replay may still run, and after it: each arrives once.
    const concurrent = Promise.all(["d1", "e1", "f1"].map((o) => purchase(t, { programId, customerExternalId: o, orderId: o, amount: 5, currency: "EUR" })));
    await concurrent;
    // The replay is over once everything written so far came: a3 is then written to a live feed.
    const sofar = (await outbox(programId)).filter((e) => BigInt(e.sequence) > BigInt(seen));
    await resumed.next(sofar.length);
    await purchase(t, { programId, customerExternalId: "a", orderId: "a3", amount: 5, currency: "EUR" });
    const all = await outbox(programId);
    const expected = all.filter((e) => BigInt(e.sequence) > BigInt(seen)).map((e) => e.sequence);
    await resumed.next(expected.length);
    // Each once: a marker written after a3 arrives, and before it came exactly the expected.
    await purchase(t, { programId, customerExternalId: "m", orderId: "marker", amount: 5, currency: "EUR" });
    const beforeMarker = await resumed.before((i: any) => i.loyaltyEvents.externalId === "marker");
    expect(resumed.errors).toEqual([]);
    const got = sequencesOf(beforeMarker, "loyaltyEvents");
    expect(new Set(got).size).toBe(got.length);
    expect([...got].sort((x, y) => Number(x) - Number(y))).toEqual(expected);
    // The replayed part (everything written before the subscription) comes first, in sequence order.
    const replayed = before.slice(3).map((e) => e.sequence);
    expect(got.slice(0, replayed.length)).toEqual(replayed);
    expect(resumed.items[0].loyaltyEvents).toMatchObject({ __typename: expect.any(String), sequence: replayed[0] });
  });

  it("drops the live copy of an event it replayed (here, the relay publishing a writer's orphan)", async () => {
    // The relay is paused, so the orphan is published exactly when this test says.
    await t.app.outbox.stop();
    try {
      const programId = await griffinProgram(t);
      await purchase(t, { programId, customerExternalId: "a", orderId: "a1", amount: 1, currency: "EUR" });
      const [seen] = await outbox(programId);
      // Writers that died between COMMIT and publish, an hour ago (an outage): committed, unpublished.
      const orphan = async (name: string) =>
        (
          await t.app.db.query(
            `INSERT INTO outbox (program_id, topic, customer_id, payload, created_at)
             SELECT $1, 'TOUCHPOINT_RECORDED', customer_id, payload || jsonb_build_object('externalId', $3::text), now() - interval '1 hour'
               FROM outbox WHERE id = $2 RETURNING id::text`,
            [programId, seen.sequence, name],
          )
        )[0].id as string;
      const first = await orphan("orphan-1");
      const second = await orphan("orphan-2");
      const resumed = collect(t.ws(), LOYALTY_EVENTS, { p: programId, after: seen.sequence });
      // And a client that had seen the second orphan before it lost its connection.
      const sawSecond = collect(t.ws(), LOYALTY_EVENTS, { p: programId, after: second });
      await resumed.next(3); // the stage move of a1, then the orphans: replayed
      // Both live feeds are listening: what the relay publishes now reaches them.
      await listening(t.app, programId, 2);
      expect(await t.app.outbox.relayOnce()).toBe(2); // now published live as well
      await purchase(t, { programId, customerExternalId: "a", orderId: "a2", amount: 1, currency: "EUR" });
      await resumed.next(5);
      await sawSecond.next(3);
      // Nothing more (no second copy of an orphan): a marker written after a2 arrives on both,
      // and what came before it is asserted.
      await purchase(t, { programId, customerExternalId: "m", orderId: "marker", amount: 1, currency: "EUR" });
      const isMarker = (i: any) => i.loyaltyEvents.externalId === "marker";
      const got = sequencesOf(await resumed.before(isMarker), "loyaltyEvents");
      expect(got.filter((q) => q === first || q === second)).toEqual([first, second]);
      expect(got).toHaveLength(5); // the move, the orphans, then a2's touchpoint and move
      // Not the second orphan again; the first, republished live with a smaller sequence, may be
      // one it never saw (a late commit looks the same), so it comes: at least once.
      expect(sequencesOf(await sawSecond.before(isMarker), "loyaltyEvents")).toEqual([first, ...got.slice(3)]);
    } finally {
      t.app.outbox.startRelay(500, 7);
    }
  });

  it("reads the outbox only once the live feed delivers to it (a Redis SUBSCRIBE takes a moment)", async () => {
    const programId = await griffinProgram(t);
    await purchase(t, { programId, customerExternalId: "a", orderId: "a1", amount: 1, currency: "EUR" });
    const [seen] = await outbox(programId);
    // A bus that, like Redis, delivers to a subscriber only once its SUBSCRIBE took effect (here
    // 400 ms): the feed's markers sent before are lost, so it is confirmed only then.
    const bus = new DelayedBus(400);
    const feeds = new LiveFeeds(t.app.db, bus, t.app.log);
    feeds.start();
    try {
      const feed = replayThenLive(t.app.db, feeds, programId, seen.sequence, { topics: ["STAGE_CHANGED", "TOUCHPOINT_RECORDED"], customerId: null });
      const items: any[] = [];
      const reading = (async () => {
        for (let next = await feed.next(); !next.done; next = await feed.next()) items.push(next.value);
      })();
      // Committed (and published on the app's own bus) while this bus is not delivering yet: the
      // replay, which waits for the feed's confirmation, reads it from the outbox.
      ok(await purchase(t, { programId, customerExternalId: "a", orderId: "a2", amount: 1, currency: "EUR" }));
      const all = await outbox(programId);
      await until(() => items.length >= all.length - 1, { what: `${all.length - 1} events replayed then live` });
      expect(bus.markersHeard).toBeGreaterThan(0);
      await feed.return!(undefined);
      await reading;
      expect(items.map((m) => m.sequence)).toEqual(all.slice(1).map((e) => e.sequence));
    } finally {
      await feeds.stop();
    }
  });

  it("lets go of the live feed as soon as the client leaves, even while the program is quiet", async () => {
    const programId = await griffinProgram(t);
    // A bus whose feed never brings anything (its markers never come back), and says when it is ended.
    const bus = new DelayedBus(Infinity);
    const feeds = new LiveFeeds(t.app.db, bus, t.app.log);
    const feed = replayThenLive(t.app.db, feeds, programId, "0", { topics: ["STAGE_CHANGED"], customerId: null });
    const first = feed.next(); // nothing to replay: it waits for live events
    await until(() => bus.subscribers === 1, { what: "the feed's bus subscription" });
    // A deadline, not a wait: leaving must not take until some event comes.
    const left = await Promise.race([feed.return!(undefined).then(() => "left"), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 2000))]);
    expect(left).toBe("left");
    expect(bus.subscribers).toBe(0);
    expect(await first).toEqual({ done: true, value: undefined });
    await feeds.stop();
  });

  it("keeps the customer filter, starts from the oldest with 0, and pages through long gaps", async () => {
    const programId = await griffinProgram(t);
    const a = (await purchase(t, { programId, customerExternalId: "a", orderId: "a1", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
    await purchase(t, { programId, customerExternalId: "b", orderId: "b1", amount: 1, currency: "EUR" });
    await purchase(t, { programId, customerId: a, orderId: "a2", amount: 1, currency: "EUR" });
    // More events than one replay statement reads, straight into the outbox (a long absence).
    const extra = REPLAY_PAGE * 2 + 7;
    await t.app.db.query(
      `INSERT INTO outbox (program_id, topic, customer_id, payload, published_at)
       SELECT $1, 'TOUCHPOINT_RECORDED', $2, jsonb_build_object('touchpointId', gen_random_uuid()::text, 'type', 'VISIT', 'externalId', 'bulk-' || g,
              'points', 0, 'balance', '2', 'occurredAt', now()), now()
         FROM generate_series(1, $3) g`,
      [programId, a, extra],
    );
    const mine = await outbox(programId, ["STAGE_CHANGED"]).then((es) => es.filter((e) => e.customerId === a));
    expect(mine.length).toBe(2);

    const moves = collect(t.ws(), STAGE_CHANGED, { p: programId, c: a, after: "0" });
    await moves.next(2);
    const everything = collect(t.ws(), LOYALTY_EVENTS, { p: programId, after: "0" });
    const all = await outbox(programId);
    await everything.next(all.length, 15_000);
    // Nothing more: markers written after (a's third and fourth purchases, which make it a client)
    // arrive, and before them came exactly these.
    for (const order of ["a3", "a4"]) await purchase(t, { programId, customerId: a, orderId: order, amount: 1, currency: "EUR" });
    const movesBefore = await moves.before((i: any) => i.stageChanged.to.key === "client");
    expect(movesBefore.map((i: any) => [i.stageChanged.sequence, i.stageChanged.customerId])).toEqual(mine.map((e) => [e.sequence, a]));
    const everythingBefore = await everything.before((i: any) => i.loyaltyEvents.externalId === "a3");
    const got = sequencesOf(everythingBefore, "loyaltyEvents");
    expect(got).toEqual(all.map((e) => e.sequence));
    expect(everythingBefore.at(-1).loyaltyEvents.externalId).toBe(`bulk-${extra}`);
  });

  it("refuses a bad, foreign or expired resume point with the field, and checks roles as live", async () => {
    const programId = await griffinProgram(t);
    const other = await griffinProgram(t);
    await purchase(t, { programId, customerExternalId: "a", orderId: "a1", amount: 1, currency: "EUR" });
    await purchase(t, { programId, customerExternalId: "b", orderId: "b1", amount: 1, currency: "EUR" });
    await purchase(t, { programId: other, customerExternalId: "z", orderId: "z1", amount: 1, currency: "EUR" });
    const [first, second, third, fourth] = await outbox(programId);
    const [foreign] = await outbox(other);

    const refused = async (vars: Record<string, unknown>, token?: string) => {
      const sub = collect(t.ws(token), LOYALTY_EVENTS, vars);
      await sub.failed();
      return sub.errors[0] as any;
    };
    expect((await refused({ p: programId, after: "12abc" })).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
    expect((await refused({ p: programId, after: "900000000000000000" })).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
    expect((await refused({ p: programId, after: foreign.sequence })).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
    const partner = await createKey(t, programId, "PARTNER");
    expect((await refused({ p: programId, after: first.sequence }, partner)).extensions.code).toBe("FORBIDDEN");

    // The first two events are pruned (published, older than the retention): a client that saw only
    // the first cannot resume completely; one that saw both can.
    await t.app.db.query(`UPDATE outbox SET created_at = now() - interval '30 days', published_at = now() WHERE id = ANY($1::bigint[])`, [
      [first.sequence, second.sequence],
    ]);
    expect(await t.app.outbox.pruneOnce(7)).toBeGreaterThanOrEqual(2);
    const expired = await refused({ p: programId, after: first.sequence });
    expect(expired.extensions).toMatchObject({ code: "EVENTS_EXPIRED", field: "after", oldestRetained: String(BigInt(third.sequence) - 1n) });
    // From what is kept, it goes on.
    const kept = collect(t.ws(), LOYALTY_EVENTS, { p: programId, after: expired.extensions.oldestRetained });
    await kept.next(2);
    // The server is still up and answers; a2 is also the marker: before it came exactly these two.
    expect((await purchase(t, { programId, customerExternalId: "a", orderId: "a2", amount: 1, currency: "EUR" })).errors).toBeUndefined();
    expect(sequencesOf(await kept.before((i: any) => i.loyaltyEvents.externalId === "a2"), "loyaltyEvents")).toEqual([third.sequence, fourth.sequence]);
  });
});
