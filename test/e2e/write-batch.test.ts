/**
 * Group commit: records that arrive together are written in one batch, and each still gets the
 * result it would have had alone, in arrival order; the ledger and the ladder stay exact.
 */
import fc from "fast-check";
import { createContext } from "../../src/context";
import { TouchpointType } from "../../src/modules/program/earning";
import { TouchpointRecord } from "../../src/modules/touchpoint/touchpoint.model";
import { startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, griffinProgram, purchase, recompute, refund } from "../helpers/operations";
import { presetLadder } from "../../src/domain/ladder/ladder.presets";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

/** Submits records in one tick, straight to the service, so they share a batch. */
async function together(programId: string, records: Array<Partial<TouchpointRecord>>) {
  const config = await t.app.programs.config(programId);
  const ctx = createContext(t.app, { kind: "root" }, "batch-test");
  return Promise.allSettled(
    records.map((r) =>
      t.app.touchpoints.record(ctx, config, {
        programId,
        keyField: "externalId",
        occurredAt: new Date(),
        amount: null,
        hashed: { ...r, occurredAt: undefined },
        ...r,
      } as TouchpointRecord),
    ),
  );
}

const ok = (r: PromiseSettledResult<any>) => {
  if (r.status === "rejected") throw r.reason;
  return r.value;
};

describe("write batches", () => {
  it("gives each record of a batch its own result, in arrival order", async () => {
    const programId = await griffinProgram(t);
    const first = await purchase(t, { programId, customerExternalId: "anna", orderId: "warm", amount: 1, currency: "EUR" });
    const anna = first.data.recordPurchase.customer.id;
    const results = await together(programId, [
      { customerId: anna, type: TouchpointType.PURCHASE, externalId: "a1", amount: 10, currency: "EUR" },
      { customerId: anna, type: TouchpointType.PURCHASE, externalId: "a2", amount: 10, currency: "EUR" },
      { customerId: anna, type: TouchpointType.PURCHASE, externalId: "a1", amount: 10, currency: "EUR" }, // a retry in the same batch
      { customerExternalId: "bob", type: TouchpointType.PURCHASE, externalId: "b1", amount: 5, currency: "EUR" },
      { customerId: "00000000-0000-4000-8000-000000000000", type: TouchpointType.PURCHASE, externalId: "ghost", amount: 5, currency: "EUR" },
      { customerId: anna, type: TouchpointType.PURCHASE, externalId: "a3", amount: 10, currency: "EUR" },
      { customerId: anna, type: TouchpointType.REFERRAL, externalId: "ref1" },
    ]);
    const [a1, a2, a1again, b1, ghost, a3, ref] = results;
    expect(ok(a1)).toMatchObject({ pointsEarned: 10, replayed: false, stageChange: { from: { key: "first_time_customer" }, to: { key: "repeat_customer" } } });
    expect(ok(a1).customer.row.balance).toBe(11);
    expect(ok(a2)).toMatchObject({ pointsEarned: 10, stageChange: null });
    expect(ok(a2).customer.row.balance).toBe(21);
    expect(ok(a1again)).toMatchObject({ replayed: true, pointsEarned: 10 });
    expect(ok(a1again).touchpoint.id).toBe(ok(a1).touchpoint.id);
    expect(ok(b1)).toMatchObject({ pointsEarned: 5, stageChange: { from: { key: "suspect" }, to: { key: "first_time_customer" } } });
    expect(ghost.status).toBe("rejected");
    expect((ghost as PromiseRejectedResult).reason.extensions).toMatchObject({ code: "NOT_FOUND", field: "customerId" });
    expect(ok(a3)).toMatchObject({ stageChange: { to: { key: "client" }, reason: { summary: "PURCHASE_COUNT (365d) 4 >= 4" } } });
    expect(ok(a3).customer.row.balance).toBe(31);
    expect(ok(ref)).toMatchObject({ stageChange: { from: { key: "client" }, to: { key: "advocate" }, reason: { pathIndex: 0 } } });
    // Touchpoint ids follow arrival, so "newest first" lists are right within a batch too.
    const ids = [a1, a2, b1, a3, ref].map((r) => Number(ok(r).touchpoint.id));
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);

    const history = await t.app.db.query(`SELECT from_key, to_key, touchpoint_id FROM stage_transitions WHERE customer_id = $1 ORDER BY id`, [anna]);
    expect(history.map((h) => h.to_key)).toEqual(["first_time_customer", "repeat_customer", "client", "advocate"]);
    expect(history[1].touchpoint_id).toBe(ok(a1).touchpoint.id);
    const [row] = await t.app.db.query(`SELECT balance::int, purchase_count, stage_key, referral_count FROM customers WHERE id = $1`, [anna]);
    expect(row).toEqual({ balance: 31, purchase_count: 4, stage_key: "advocate", referral_count: 1 });
    const events = await t.app.db.query(
      `SELECT topic, payload->>'externalId' AS key, payload->'to'->>'key' AS "to" FROM outbox WHERE customer_id = $1 ORDER BY id`,
      [anna],
    );
    expect(events.slice(2).map((e) => e.key ?? `move:${e.to}`)).toEqual(["a1", "move:repeat_customer", "a2", "a3", "move:client", "ref1", "move:advocate"]);
  });

  it("keeps a windowed average exact across a batch", async () => {
    const programId = await createProgram(t, {
      name: "Critics",
      ladder: {
        stages: [
          { key: "reader", name: "Reader" },
          {
            key: "fan",
            name: "Fan",
            paths: [
              [
                { metric: "REVIEW_COUNT", op: "GTE", value: 2, windowDays: 30 },
                { metric: "AVERAGE_RATING", op: "GTE", value: 4, windowDays: 30 },
              ],
            ],
          },
        ],
      },
    });
    const results = await together(programId, [
      { customerExternalId: "c", type: TouchpointType.REVIEW, externalId: "r1", rating: 5 },
      { customerExternalId: "c", type: TouchpointType.REVIEW, externalId: "r2", rating: 2 }, // average 3.5: not yet
      { customerExternalId: "c", type: TouchpointType.REVIEW, externalId: "r3", rating: 5 }, // average 4: fan
    ]);
    expect(results.map((r) => ok(r).stageChange?.to.key ?? null)).toEqual([null, null, "fan"]);
    expect(ok(results[2]).stageChange.reason.criteria.map((c: any) => c.have)).toEqual([3, 4]);
  });

  it("reads windows of several touchpoint types from what is stored, whatever else the customer did", async () => {
    const programId = await createProgram(t, {
      name: "Engaged",
      ladder: {
        stages: [
          { key: "browser", name: "Browser" },
          {
            key: "engaged",
            name: "Engaged",
            paths: [
              [
                { metric: "VISIT_COUNT", op: "GTE", value: 2, windowDays: 30 },
                { metric: "PURCHASE_COUNT", op: "GTE", value: 1, windowDays: 30 },
              ],
            ],
          },
        ],
      },
    });
    // One batch each, so every record is evaluated on windows read back from the database.
    const one = async (type: TouchpointType, externalId: string, extra: Partial<TouchpointRecord> = {}) =>
      ok((await together(programId, [{ customerExternalId: "g", type, externalId, ...extra }]))[0]);
    await one(TouchpointType.VISIT, "v1");
    for (const n of [1, 2, 3]) await one(TouchpointType.PRODUCT_VIEW, `pv${n}`);
    await one(TouchpointType.PURCHASE, "p1", { amount: 10, currency: "EUR" });
    const moved = await one(TouchpointType.VISIT, "v2");
    expect(moved.stageChange?.to.key).toBe("engaged");
    expect(moved.stageChange.reason.criteria.map((c: any) => [c.metric, c.have])).toEqual([
      ["VISIT_COUNT", 2],
      ["PURCHASE_COUNT", 1],
    ]);
    // The storefront's view reads the same windows.
    const res = await t.gql(
      `query($p: ID!) { customers(programId: $p, first: 1) { nodes { stage { key } stageHistory { reason { criteria { metric have } } } } } }`,
      { p: programId },
    );
    const [customer] = res.data.customers.nodes;
    expect(customer.stage.key).toBe("engaged");
    expect(customer.stageHistory.at(-1).reason.criteria).toEqual([
      { metric: "VISIT_COUNT", have: 2 },
      { metric: "PURCHASE_COUNT", have: 1 },
    ]);
  });

  it("evaluates an average exactly at each step, and a move away and back still renews the entry time", async () => {
    const programId = await createProgram(t, {
      name: "Exact",
      ladder: {
        stages: [
          { key: "reader", name: "Reader" },
          { key: "fan", name: "Fan", paths: [[{ metric: "AVERAGE_RATING", op: "GTE", value: 4, windowDays: 30 }]] },
        ],
      },
    });
    // 4, 1, 5, 5, 4 average 3.8: a reader.
    for (const [i, rating] of [4, 1, 5, 5, 4].entries())
      ok((await together(programId, [{ customerExternalId: "e", type: TouchpointType.REVIEW, externalId: `p${i}`, rating }]))[0]);
    const [before] = await t.app.db.query(`SELECT stage_key, stage_entered_at FROM customers WHERE program_id = $1`, [programId]);
    expect(before.stage_key).toBe("reader");
    // Then 5 (24/6 = 4 exactly: fan), 5, 1 (30/8 < 4: back to reader), 1.
    const results = await together(
      programId,
      [5, 5, 1, 1].map((rating, i) => ({ customerExternalId: "e", type: TouchpointType.REVIEW, externalId: `b${i}`, rating })),
    );
    expect(results.map((r) => ok(r).stageChange?.to.key ?? null)).toEqual(["fan", null, "reader", null]);
    expect(ok(results[0]).stageChange.reason.criteria[0].have).toBe(4);
    const [after] = await t.app.db.query(`SELECT stage_key, stage_entered_at FROM customers WHERE program_id = $1`, [programId]);
    expect(after.stage_key).toBe("reader");
    expect(after.stage_entered_at.getTime()).toBeGreaterThan(before.stage_entered_at.getTime());
  });

  it("writes with the ladder as it is when a batch commits, even if this process's cache is stale", async () => {
    const programId = await griffinProgram(t);
    await t.app.programs.config(programId); // cached with griffin-7
    // Another process replaces the ladder; this one has not heard of it yet.
    await t.app.db.transaction(async (tx) => {
      await t.app.programs.writeLadder(tx, programId, {
        stages: [
          { key: "member", name: "Member", side: false, paths: [] },
          { key: "buyer", name: "Buyer", side: false, paths: [[{ metric: "PURCHASE_COUNT" as any, op: "GTE" as any, value: 1 }]] },
        ],
      });
    });
    const [result] = await together(programId, [{ customerExternalId: "z", type: TouchpointType.PURCHASE, externalId: "z1", amount: 1, currency: "EUR" }]);
    expect(ok(result).stageChange).toMatchObject({ from: { key: "member" }, to: { key: "buyer" } });
    // The same for a refund, which is written on its own.
    await t.app.programs.config(programId);
    await t.app.db.transaction((tx) => t.app.programs.writeLadder(tx, programId, presetLadder("griffin-7")!));
    const back = await refund(t, { programId, orderId: "z1", refundId: "zr", amount: 1 });
    expect(back.data.recordRefund.stageChange).toMatchObject({ from: { key: "buyer" }, to: { key: "suspect" } });
  });

  const withWorker = process.env.DATABASE_URL ? it : it.skip;
  withWorker("keeps writing on the main thread when the write worker dies", async () => {
    const worker = t.app.touchpoints.worker!;
    expect(worker.alive).toBe(true);
    await (worker as any).worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(worker.alive).toBe(false);
    const programId = await griffinProgram(t);
    const results = await together(
      programId,
      [1, 2, 3].map((i) => ({ customerExternalId: `w${i}`, type: TouchpointType.PURCHASE, externalId: `w${i}`, amount: 2, currency: "EUR" })),
    );
    expect(results.map((r) => ok(r).pointsEarned)).toEqual([2, 2, 2]);
  });

  it("leaves the ledger, the counters and the ladder exact under random concurrent traffic", async () => {
    const kinds = fc.constantFrom("purchase", "visit", "review", "referral", "nps");
    const event = fc.record({
      customer: fc.integer({ min: 0, max: 3 }),
      kind: kinds,
      amount: fc.integer({ min: 0, max: 5000 }),
      rating: fc.integer({ min: 1, max: 5 }),
      nps: fc.integer({ min: 0, max: 10 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(event, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }), async (waves) => {
        const programId = await griffinProgram(t, [
          { touchpointType: "REVIEW", fixedPoints: 7 },
          { touchpointType: "REFERRAL", fixedPoints: 11 },
        ]);
        let n = 0;
        for (const wave of waves) {
          await together(
            programId,
            wave.map((e) => {
              const key = `k${n++}`;
              const base = { customerExternalId: `cust${e.customer}`, externalId: key };
              if (e.kind === "purchase") return { ...base, type: TouchpointType.PURCHASE, amount: e.amount / 100, currency: "EUR" };
              if (e.kind === "review") return { ...base, type: TouchpointType.REVIEW, rating: e.rating };
              if (e.kind === "referral") return { ...base, type: TouchpointType.REFERRAL };
              if (e.kind === "nps") return { ...base, type: TouchpointType.SURVEY_RESPONSE, nps: e.nps };
              return { ...base, type: TouchpointType.VISIT };
            }),
          ).then((rs) => rs.forEach(ok));
        }
        const bad = await t.app.db.query(
          `SELECT c.external_id FROM customers c
            WHERE c.program_id = $1 AND (
              c.balance <> (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.program_id = c.program_id AND l.customer_id = c.id)
              OR c.balance <> (SELECT coalesce(sum(points), 0) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id)
              OR c.purchase_count <> (SELECT count(*) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id AND t.type = 'PURCHASE')
              OR c.purchase_amount <> (SELECT coalesce(sum(amount), 0) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id AND t.type = 'PURCHASE')
              OR c.review_count <> (SELECT count(*) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id AND t.type = 'REVIEW')
              OR c.rating_sum <> (SELECT coalesce(sum(rating), 0) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id AND t.type = 'REVIEW')
              OR c.stage_key <> coalesce((SELECT to_key FROM stage_transitions s WHERE s.program_id = c.program_id AND s.customer_id = c.id ORDER BY id DESC LIMIT 1), 'suspect')
              OR c.last_purchase_at IS DISTINCT FROM (SELECT max(occurred_at) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id AND t.type = 'PURCHASE'))`,
          [programId],
        );
        expect(bad).toEqual([]);
        // Every move starts where the previous one ended.
        const chains = await t.app.db.query(
          `SELECT count(*)::int AS broken FROM (
             SELECT from_key, lag(to_key) OVER (PARTITION BY customer_id ORDER BY id) AS prev FROM stage_transitions WHERE program_id = $1) x
            WHERE prev IS NOT NULL AND prev <> from_key`,
          [programId],
        );
        expect(chains[0].broken).toBe(0);
        // The stage each customer was left on is the one a fresh evaluation gives.
        const check = await recompute(t, programId);
        expect(check.data.recomputeStages.changed).toBe(0);
      }),
      { numRuns: 15 },
    );
  });
});
