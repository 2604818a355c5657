/** A customer's way up the griffin-7 ladder and down to lapsed, through the HTTP API. */
import { startTestApp, TestApp } from "../helpers/test-app";
import { DAY, getCustomer, griffinProgram, ok, purchase, recompute, refund, review, touchpoint, createProgram } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

describe("the ladder, end to end", () => {
  it("moves a customer prospect → first-time → repeat → client on purchases, explaining each move", async () => {
    const programId = await griffinProgram(t);
    const visit = await touchpoint(t, { programId, customerExternalId: "ana", type: "VISIT", externalId: "v1", channel: "web" });
    expect(visit.errors).toBeUndefined();
    const ana = visit.data.recordTouchpoint.customer;
    expect(visit.data.recordTouchpoint.stageChange).toMatchObject({ from: { key: "suspect" }, to: { key: "prospect" }, cause: "TOUCHPOINT" });
    expect(ana.stage).toEqual({ key: "prospect", name: "Prospect", rank: 1 });

    const stages: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const res = await purchase(t, { programId, customerId: ana.id, orderId: `o${i}`, amount: 25.5, currency: "EUR" });
      expect(res.errors).toBeUndefined();
      const p = res.data.recordPurchase;
      expect(p.pointsEarned).toBe(25);
      expect(p.replayed).toBe(false);
      expect(p.customer.points).toEqual({ balance: 25 * i, pending: 0, lifetime: 25 * i });
      if (p.stageChange) stages.push(p.stageChange.to.key);
      expect(p.customer.stage.key).toBe(p.stageChange?.to.key ?? p.customer.stage.key);
    }
    expect(stages).toEqual(["first_time_customer", "repeat_customer", "client"]);

    const read = await getCustomer(t, ana.id);
    const customer = read.data.customer;
    expect(customer.stage.key).toBe("client");
    expect(customer.stageHistory.map((h: any) => [h.from?.key, h.to.key])).toEqual([
      ["suspect", "prospect"],
      ["prospect", "first_time_customer"],
      ["first_time_customer", "repeat_customer"],
      ["repeat_customer", "client"],
    ]);
    const toClient = customer.stageHistory[3];
    expect(toClient.reason).toMatchObject({
      stage: "client",
      pathIndex: 0,
      summary: "PURCHASE_COUNT (365d) 4 >= 4",
      criteria: [{ metric: "PURCHASE_COUNT", op: "GTE", value: 4, windowDays: 365, have: 4, passed: true }],
    });
    // What would make her an advocate: the closest path, with what she has and needs.
    expect(customer.nextStage.stage.key).toBe("advocate");
    expect(customer.nextStage.requirements).toEqual([
      { criterion: { metric: "PURCHASE_COUNT", op: "GTE", value: 4, windowDays: 365 }, have: 4, need: 4, met: true },
      { criterion: { metric: "REFERRAL_COUNT", op: "GTE", value: 1, windowDays: null }, have: 0, need: 1, met: false },
    ]);

    // A 5-star review takes her to advocate by the review path.
    const rev = await review(t, { programId, customerId: ana.id, reviewId: "r1", rating: 5, productId: "espresso" });
    expect(rev.data.recordReview.stageChange).toMatchObject({ to: { key: "advocate" }, reason: { pathIndex: 1 } });
    expect((await getCustomer(t, ana.id)).data.customer.nextStage).toBeNull();
  });

  it("lapses a buyer when the clock moves past 180 days, by recompute, and brings them back on a purchase", async () => {
    const programId = await griffinProgram(t);
    const first = await purchase(t, { programId, customerExternalId: "ben", orderId: "b1", amount: 10, currency: "EUR" });
    const ben = first.data.recordPurchase.customer;
    expect(ben.stage.key).toBe("first_time_customer");
    const idle = await purchase(t, { programId, customerExternalId: "idle", orderId: "i1", amount: 10, currency: "EUR" });
    expect(idle.errors).toBeUndefined();

    const before = await recompute(t, programId);
    expect(before.data.recomputeStages).toEqual({ evaluated: 2, changed: 0, skipped: 0 });

    t.advanceClock(181 * DAY);
    try {
      const after = await recompute(t, programId);
      expect(after.data.recomputeStages).toEqual({ evaluated: 2, changed: 2, skipped: 0 });
      const lapsed = (await getCustomer(t, ben.id)).data.customer;
      expect(lapsed.stage.key).toBe("lapsed");
      const move = lapsed.stageHistory[lapsed.stageHistory.length - 1];
      expect(move).toMatchObject({ from: { key: "first_time_customer" }, to: { key: "lapsed" }, cause: "RECOMPUTE" });
      expect(move.reason.criteria).toEqual([
        { metric: "PURCHASE_COUNT", op: "GTE", value: 1, windowDays: null, have: 1, passed: true },
        { metric: "DAYS_SINCE_LAST_PURCHASE", op: "GTE", value: 180, windowDays: null, have: 181, passed: true },
      ]);
      // Recompute is idempotent: nothing more moves.
      expect((await recompute(t, programId)).data.recomputeStages.changed).toBe(0);
      // Reactivation: a new purchase brings him back on the ladder.
      const back = await purchase(t, { programId, customerId: ben.id, orderId: "b2", amount: 10, currency: "EUR" });
      expect(back.data.recordPurchase.stageChange).toMatchObject({ from: { key: "lapsed" }, to: { key: "repeat_customer" } });
    } finally {
      t.advanceClock(-181 * DAY);
    }
  });

  it("takes back the points of a refund, pro rata, and never more than the purchase earned", async () => {
    const programId = await griffinProgram(t);
    const p = await purchase(t, { programId, customerExternalId: "cy", orderId: "c1", amount: 100, currency: "EUR" });
    const id = p.data.recordPurchase.customer.id;
    const r1 = await refund(t, { programId, orderId: "c1", refundId: "rf1", amount: 30 });
    expect(r1.errors).toBeUndefined();
    expect(r1.data.recordRefund.pointsEarned).toBe(-30);
    expect(r1.data.recordRefund.customer.points).toEqual({ balance: 70, pending: 0, lifetime: 70 });

    const tooMuch = await refund(t, { programId, orderId: "c1", refundId: "rf2", amount: 70.01 });
    expect(tooMuch.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "amount" });

    const rest = await refund(t, { programId, orderId: "c1", refundId: "rf3", amount: 70 });
    expect(rest.data.recordRefund.pointsEarned).toBe(-70);
    const after = (await getCustomer(t, id)).data.customer;
    expect(after.points).toEqual({ balance: 0, pending: 0, lifetime: 0 });
    // A fully refunded order is no purchase: back to the bottom rung.
    expect(after.stage.key).toBe("suspect");

    const ledger = await t.gql(`query($id: ID!) { customer(id: $id) { ledger(first: 10) { nodes { amount kind } } } }`, { id });
    expect(ledger.data.customer.ledger.nodes).toEqual([
      { amount: -70, kind: "REVERSAL" },
      { amount: -30, kind: "REVERSAL" },
      { amount: 100, kind: "EARN" },
    ]);
    const unknown = await refund(t, { programId, orderId: "nope", refundId: "rf9", amount: 1 });
    expect(unknown.errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND", field: "orderId" });
  });

  it("creates a program with its own stages and paths, and an attitude path (NPS) that stands in for purchases", async () => {
    const programId = await createProgram(t, {
      name: "Own ladder",
      ladder: {
        stages: [
          { key: "newcomer", name: "Newcomer" },
          { key: "fan", name: "Fan", paths: [[{ metric: "PURCHASE_COUNT", op: "GTE", value: 3 }], [{ metric: "NPS", op: "GTE", value: 9 }]] },
          {
            key: "dormant",
            name: "Dormant",
            side: true,
            paths: [
              [
                { metric: "PURCHASE_COUNT", op: "GTE", value: 1 },
                { metric: "DAYS_SINCE_LAST_PURCHASE", op: "GT", value: 90 },
              ],
            ],
          },
        ],
      },
      earningRules: [{ touchpointType: "SURVEY_RESPONSE", fixedPoints: 20 }],
    });
    const program = await t.gql(
      `query($id: ID!) { program(id: $id) { ladderPreset stages { key rank side paths { metric op value windowDays } } earningRules { touchpointType fixedPoints } } }`,
      { id: programId },
    );
    expect(program.data.program.ladderPreset).toBeNull();
    expect(program.data.program.stages.map((s: any) => [s.key, s.rank, s.side, s.paths.length])).toEqual([
      ["newcomer", 0, false, 0],
      ["fan", 1, false, 2],
      ["dormant", 2, true, 1],
    ]);
    const res = await touchpoint(t, { programId, customerExternalId: "dee", type: "SURVEY_RESPONSE", externalId: "s1", data: { nps: 10 } });
    expect(res.data.recordTouchpoint).toMatchObject({
      pointsEarned: 20,
      stageChange: { to: { key: "fan" }, reason: { pathIndex: 1, summary: "NPS 10 >= 9" } },
    });
  });

  it("re-places every customer when the ladder is replaced", async () => {
    const programId = await griffinProgram(t);
    await purchase(t, { programId, customerExternalId: "eve", orderId: "e1", amount: 5, currency: "EUR" });
    const res = await t.gql(`mutation($p: ID!, $l: LadderInput!) { updateLadder(programId: $p, ladder: $l) { ladderPreset stages { key } } }`, {
      p: programId,
      l: { preset: "fourweekmba-5" },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.updateLadder.stages.map((s: any) => s.key)).toEqual(["prospect", "customer", "client", "supporter", "advocate"]);
    const eve = await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "eve") { stage { key } stageHistory { cause to { key } } } }`, {
      p: programId,
    });
    expect(eve.data.customer.stage.key).toBe("customer");
    expect(eve.data.customer.stageHistory.at(-1)).toEqual({ cause: "LADDER_UPDATE", to: { key: "customer" } });
  });

  it("lists customers as a Relay connection, filtered by stage, page by page", async () => {
    const programId = await griffinProgram(t);
    for (let i = 0; i < 5; i++) await purchase(t, { programId, customerExternalId: `buyer${i}`, orderId: `p${i}`, amount: 1, currency: "EUR" });
    for (let i = 0; i < 3; i++) await touchpoint(t, { programId, customerExternalId: `visitor${i}`, type: "VISIT", externalId: `v${i}` });
    const page = (after: string | null) =>
      t.gql(
        `query($p: ID!, $a: String) { customers(programId: $p, stage: "first_time_customer", first: 2, after: $a) { edges { cursor node { externalId stage { key } } } pageInfo { hasNextPage endCursor } } }`,
        { p: programId, a: after },
      );
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const res: any = await page(after);
      const conn = res.data.customers;
      for (const e of conn.edges) {
        expect(e.node.stage.key).toBe("first_time_customer");
        seen.push(e.node.externalId);
      }
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen.sort()).toEqual(["buyer0", "buyer1", "buyer2", "buyer3", "buyer4"]);
    const funnel = await t.gql(
      `query($p: ID!) { ladderFunnel(programId: $p) { stages { stage { key } customers entered left } transitions { from { key } to { key } count } } }`,
      { p: programId },
    );
    const byKey = Object.fromEntries(funnel.data.ladderFunnel.stages.map((s: any) => [s.stage.key, s]));
    expect(byKey.first_time_customer).toEqual({ stage: { key: "first_time_customer" }, customers: 5, entered: 5, left: 0 });
    expect(byKey.prospect).toMatchObject({ customers: 3, entered: 3 });
    expect(funnel.data.ladderFunnel.transitions).toContainEqual({ from: { key: "suspect" }, to: { key: "first_time_customer" }, count: 5 });
  });

  it("tells in the funnel how long customers stay on each stage, and had stayed when they left", async () => {
    const programId = await griffinProgram(t);
    const ids: Record<string, string> = {};
    for (const name of ["ann", "bob", "cy"]) {
      ids[name] = ok(
        await purchase(t, { programId, customerExternalId: name, orderId: `${name}-1`, amount: 10, currency: "EUR" }),
      ).data.recordPurchase.customer.id;
    }
    ok(await purchase(t, { programId, customerExternalId: "ann", orderId: "ann-2", amount: 10, currency: "EUR" }));
    // The history, dated: all three joined 20 days ago; ann bought first 10 days ago and again 4
    // days ago; bob and cy bought 6 days ago.
    const ago = (days: number) => new Date(Date.now() - days * DAY);
    const date = async (name: string, joined: number, moves: number[]) => {
      await t.app.db.query(`UPDATE customers SET created_at = $2, stage_entered_at = $3 WHERE id = $1`, [ids[name], ago(joined), ago(moves[moves.length - 1])]);
      const rows = await t.app.db.query(`SELECT id FROM stage_transitions WHERE customer_id = $1 ORDER BY id`, [ids[name]]);
      expect(rows).toHaveLength(moves.length);
      for (const [i, row] of rows.entries()) await t.app.db.query(`UPDATE stage_transitions SET at = $2 WHERE id = $1`, [row.id, ago(moves[i])]);
    };
    await date("ann", 20, [10, 4]);
    await date("bob", 20, [6]);
    await date("cy", 20, [6]);
    const funnel = ok(
      await t.gql(`query($p: ID!) { ladderFunnel(programId: $p) { stages { stage { key } customers left averageDaysOnStage averageDaysBeforeLeaving } } }`, {
        p: programId,
      }),
    );
    const byKey = Object.fromEntries(funnel.data.ladderFunnel.stages.map((s: any) => [s.stage.key, s]));
    // suspect: left by all three, after 10, 14 and 14 days in the program.
    expect(byKey.suspect).toEqual({ stage: { key: "suspect" }, customers: 0, left: 3, averageDaysOnStage: null, averageDaysBeforeLeaving: 12.7 });
    // first_time_customer: bob and cy on it for 6 days; ann left it after 6 days (10 - 4).
    expect(byKey.first_time_customer).toMatchObject({ customers: 2, left: 1, averageDaysOnStage: 6, averageDaysBeforeLeaving: 6 });
    expect(byKey.repeat_customer).toMatchObject({ customers: 1, left: 0, averageDaysOnStage: 4, averageDaysBeforeLeaving: null });
    // A period that ends before ann left first_time_customer: nobody left it then.
    const before = ok(
      await t.gql(`query($p: ID!, $to: DateTime) { ladderFunnel(programId: $p, to: $to) { stages { stage { key } averageDaysBeforeLeaving } } }`, {
        p: programId,
        to: ago(5).toISOString(),
      }),
    );
    expect(before.data.ladderFunnel.stages.find((s: any) => s.stage.key === "first_time_customer").averageDaysBeforeLeaving).toBeNull();
  });
});
