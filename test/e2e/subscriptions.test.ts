/** Live events over graphql-ws: every committed move arrives, in order; a rolled-back one never does. */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { until } from "../helpers/until";
import { createKey, griffinProgram, ok, purchase, touchpoint } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const STAGE_CHANGED = `subscription($p: ID!, $c: ID) { stageChanged(programId: $p, customerId: $c) { sequence customerId from { key } to { key } cause reason { summary } at } }`;
const LOYALTY_EVENTS = `subscription($p: ID!) { loyaltyEvents(programId: $p) {
  __typename
  ... on StageChangedEvent { sequence customerId to { key } }
  ... on TouchpointRecordedEvent { sequence customerId type externalId points balance }
} }`;

/** Makes any transaction that moves a customer whose externalId starts with "doomed" fail at COMMIT. */
async function installCommitFailure(): Promise<void> {
  await t.app.db.query(`
    CREATE OR REPLACE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM customers WHERE id = NEW.customer_id AND external_id LIKE 'doomed%') THEN
        RAISE EXCEPTION 'test: this transaction fails at commit';
      END IF;
      RETURN NULL;
    END $$`);
  await t.app.db.query(`
    CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON stage_transitions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit()`);
}

/**
 * A stage move committed but never published, as a writer that died between COMMIT and publish
 * leaves it: the relay publishes it (the row is a minute old, past its grace).
 */
async function unpublishedMove(programId: string, customerId: string, summary: string): Promise<void> {
  await t.app.db.query(
    `INSERT INTO outbox (program_id, topic, customer_id, payload, created_at) VALUES ($1, 'STAGE_CHANGED', $2, $3, now() - interval '1 minute')`,
    [
      programId,
      customerId,
      JSON.stringify({
        customerId,
        from: null,
        to: { key: "prospect", name: "Prospect", rank: 1 },
        reason: { stage: "prospect", pathIndex: 0, criteria: [], summary },
        cause: "TOUCHPOINT",
        at: new Date().toISOString(),
      }),
    ],
  );
}

describe("subscriptions", () => {
  it("delivers exactly the committed stage moves, filtered by program and customer", async () => {
    await installCommitFailure();
    const programId = await griffinProgram(t);
    const otherProgram = await griffinProgram(t);
    const x = (await touchpoint(t, { programId, customerExternalId: "x", type: "PRODUCT_VIEW", externalId: "pv0" })).data.recordTouchpoint.customer.id;

    const admin = t.ws();
    const all = collect(admin, STAGE_CHANGED, { p: programId });
    const onlyX = collect(admin, STAGE_CHANGED, { p: programId, c: x });
    const everything = collect(admin, LOYALTY_EVENTS, { p: programId });
    const elsewhere = collect(admin, STAGE_CHANGED, { p: otherProgram });
    await listening(t.app, programId, 3);
    await listening(t.app, otherProgram, 1);

    expect((await touchpoint(t, { programId, customerId: x, type: "VISIT", externalId: "v1" })).errors).toBeUndefined(); // no move: already prospect
    expect((await purchase(t, { programId, customerId: x, orderId: "x1", amount: 10, currency: "EUR" })).errors).toBeUndefined();
    expect((await purchase(t, { programId, customerExternalId: "y", orderId: "y1", amount: 20, currency: "EUR" })).errors).toBeUndefined();
    const doomed = await purchase(t, { programId, customerExternalId: "doomed-1", orderId: "d1", amount: 30, currency: "EUR" });
    expect(doomed.errors?.[0].extensions?.code).toBe("INTERNAL_SERVER_ERROR");
    expect(doomed.errors?.[0].message).not.toContain("test:");
    expect((await purchase(t, { programId, customerId: x, orderId: "x2", amount: 10, currency: "EUR" })).errors).toBeUndefined();
    const z = (await purchase(t, { programId: otherProgram, customerExternalId: "z", orderId: "z1", amount: 5, currency: "EUR" })).data.recordPurchase.customer
      .id;

    await all.next(3);
    await onlyX.next(2);
    await everything.next(7);
    await elsewhere.next(1);
    // Nothing more came of those writes (no copy, nothing of the rolled-back one): a marker written
    // after them arrives, and only what is asserted below came before it. x's fourth purchase
    // makes it a client; z2 is a new customer of the other program.
    for (const order of ["x3", "x4"]) ok(await purchase(t, { programId, customerId: x, orderId: order, amount: 10, currency: "EUR" }));
    ok(await purchase(t, { programId: otherProgram, customerExternalId: "z2", orderId: "z2", amount: 5, currency: "EUR" }));
    const toClient = (i: any) => i.stageChanged.to.key === "client";

    const moves = (await all.before(toClient)).map((i: any) => i.stageChanged);
    expect(moves.map((m: any) => [m.customerId === x ? "x" : "y", m.from.key, m.to.key])).toEqual([
      ["x", "prospect", "first_time_customer"],
      ["y", "suspect", "first_time_customer"],
      ["x", "first_time_customer", "repeat_customer"],
    ]);
    expect(moves[0]).toMatchObject({ cause: "TOUCHPOINT", reason: { summary: "PURCHASE_COUNT 1 >= 1" } });
    const sequences = moves.map((m: any) => Number(m.sequence));
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect((await onlyX.before(toClient)).map((i: any) => i.stageChanged.to.key)).toEqual(["first_time_customer", "repeat_customer"]);
    expect(await elsewhere.before((i: any) => i.stageChanged.customerId !== z)).toHaveLength(1);

    const events = (await everything.before((i: any) => i.loyaltyEvents.externalId === "x3")).map((i: any) => i.loyaltyEvents);
    expect(events.map((e: any) => (e.__typename === "StageChangedEvent" ? `move:${e.to.key}` : `tp:${e.externalId}`))).toEqual([
      "tp:v1",
      "tp:x1",
      "move:first_time_customer",
      "tp:y1",
      "move:first_time_customer",
      "tp:x2",
      "move:repeat_customer",
    ]);
    expect(events[1]).toMatchObject({ type: "PURCHASE", points: 10, balance: 10 });
    // Nothing of the rolled-back purchase was kept.
    const [row] = await t.app.db.query(`SELECT count(*)::int AS n FROM customers WHERE external_id = 'doomed-1'`);
    expect(row.n).toBe(0);
    for (const s of [all, onlyX, everything, elsewhere]) s.unsubscribe();
  });

  it("publishes, by the relay sweep, events committed but never published", async () => {
    const programId = await griffinProgram(t);
    const sub = collect(t.ws(), STAGE_CHANGED, { p: programId });
    await listening(t.app, programId);
    // A writer that died between COMMIT and publish: the row is in the outbox, unpublished.
    const [customer] = await t.app.db.query(`INSERT INTO customers (program_id, external_id, stage_key) VALUES ($1, 'ghost', 'suspect') RETURNING id`, [
      programId,
    ]);
    await unpublishedMove(programId, customer.id, "x");
    await sub.next(1, 5000);
    expect(sub.items[0].stageChanged).toMatchObject({ customerId: customer.id, to: { key: "prospect" } });
    const [row] = await t.app.db.query(`SELECT count(*)::int AS n FROM outbox WHERE program_id = $1 AND published_at IS NULL`, [programId]);
    expect(row.n).toBe(0);
    sub.unsubscribe();
  });

  it("prunes published events past the retention, and only those", async () => {
    // The relay would publish (and so mark) the old unpublished row under our feet: pause it.
    await t.app.outbox.stop();
    const programId = await griffinProgram(t);
    const insert = (age: string, published: boolean) =>
      t.app.db.query(
        `INSERT INTO outbox (program_id, topic, payload, created_at, published_at)
         VALUES ($1, 'TOUCHPOINT_RECORDED', '{}', now() - $2::interval, CASE WHEN $3 THEN now() END) RETURNING id`,
        [programId, age, published],
      );
    const [oldPublished] = await insert("10 days", true);
    const [oldUnpublished] = await insert("10 days", false);
    const [recent] = await insert("1 day", true);
    await t.app.outbox.pruneOnce(7);
    const left = (await t.app.db.query(`SELECT id FROM outbox WHERE program_id = $1`, [programId])).map((r) => r.id);
    expect(left).not.toContain(oldPublished.id);
    expect(left).toEqual(expect.arrayContaining([oldUnpublished.id, recent.id]));
    // A fake event: remove it before the relay runs again, which would publish it.
    await t.app.db.query(`DELETE FROM outbox WHERE id = $1`, [oldUnpublished.id]);
    t.app.outbox.startRelay(500, 7);
  });

  it("checks roles when a subscription starts and when the socket connects", async () => {
    const programId = await griffinProgram(t);
    const c = (await purchase(t, { programId, customerExternalId: "me", orderId: "m1", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
    const other = (await purchase(t, { programId, customerExternalId: "other", orderId: "o1", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
    const storefront = await createKey(t, programId, "STOREFRONT");
    const partner = await createKey(t, programId, "PARTNER");
    const token = (await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c }, partner)).data.issueCustomerToken.token;

    const denied = collect(t.ws(storefront), STAGE_CHANGED, { p: programId });
    await denied.failed();
    expect(JSON.stringify(denied.errors)).toContain("FORBIDDEN");

    const partnerEverything = collect(t.ws(partner), LOYALTY_EVENTS, { p: programId });
    await partnerEverything.failed();
    expect(JSON.stringify(partnerEverything.errors)).toContain("FORBIDDEN");

    const peek = collect(t.ws(token), STAGE_CHANGED, { p: programId, c: other });
    await peek.failed();
    expect(JSON.stringify(peek.errors)).toContain("FORBIDDEN");

    const own = collect(t.ws(token), STAGE_CHANGED, { p: programId, c });
    await listening(t.app, programId);
    await purchase(t, { programId, customerId: c, orderId: "m2", amount: 1, currency: "EUR" });
    await purchase(t, { programId, customerId: other, orderId: "o2", amount: 1, currency: "EUR" });
    await own.next(1);
    // The other customer's move never comes: a marker for c, written after it, arrives with
    // nothing else before it but c's own move. (A fake event, so the purchases below still move c.)
    await unpublishedMove(programId, c, "marker");
    const mine = await own.before((i: any) => i.stageChanged.reason?.summary === "marker");
    expect(mine.map((i: any) => [i.stageChanged.customerId, i.stageChanged.to.key])).toEqual([[c, "repeat_customer"]]);
    own.unsubscribe();
    // Counted from 0 again below, for the next subscription.
    await until(() => t.app.feeds.listenerCount(programId) === 0, { what: "the first subscription to end" });

    // The socket stays open, but the token's rights end with the token.
    const expiring = collect(t.ws(token), STAGE_CHANGED, { p: programId, c });
    await listening(t.app, programId);
    t.advanceClock(2 * 3600_000);
    try {
      await purchase(t, { programId, customerId: c, orderId: "m3", amount: 1, currency: "EUR" });
      await purchase(t, { programId, customerId: c, orderId: "m4", amount: 1, currency: "EUR" });
      await expiring.failed();
      expect(JSON.stringify(expiring.errors)).toContain("UNAUTHENTICATED");
      expect(expiring.items).toHaveLength(0);
    } finally {
      t.advanceClock(-2 * 3600_000);
    }

    const invalid = collect(t.ws(), /* invalid on purpose */ `subscription($p: ID!) { stageChanged(programId: $p) { nope } }`, { p: programId });
    await invalid.failed();
    expect(JSON.stringify(invalid.errors)).toContain("GRAPHQL_VALIDATION_FAILED");

    const stranger = collect(t.ws("lk_00000000000000000000000000000000_notarealkeynotarealkey"), STAGE_CHANGED, { p: programId });
    await stranger.failed();
    expect(JSON.stringify(stranger.errors)).toMatch(/4403|Forbidden/);
  });
});
