/**
 * Stage rewards through the API: entering a stage owes its reward, given before the answer, once
 * per customer or again after repeatAfterDays; moves by purchases and by time passing (recompute),
 * not by refunds; a purchase's reward waits for its return window and a full refund cancels it;
 * erased customers get nothing; concurrent first purchases; switching off; bad input and roles.
 */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, createProgram, DAY, griffinProgram, ok, PURCHASE_RULE, purchase, recompute, refund, tableCounts } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const CREATE = `mutation($i: CreateStageRewardInput!) { createStageReward(input: $i) { id name stageKey stage { key } rewardId repeatAfterDays active } }`;

async function rewardIn(programId: string, name = "Mug"): Promise<string> {
  return ok(await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, { i: { programId, name, pointsCost: 500 } })).data.createReward
    .id;
}

async function stageReward(programId: string, stage: string, rewardId: string, extra: Record<string, unknown> = {}) {
  return ok(await t.gql(CREATE, { i: { programId, name: `${stage} gift`, stage, rewardId, ...extra } })).data.createStageReward;
}

/** The customer's stage, grants and redemptions. */
async function customer(programId: string, externalId: string) {
  const res = await t.gql(
    `query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { stage { key } points { balance } grants { kind reason rewardId stageRewardId grantedAt code } redemptions { rewardId status code points } } }`,
    { p: programId, e: externalId },
  );
  return ok(res).data.customer;
}

const buy = (programId: string, who: string, orderId: string, amount = 20) =>
  purchase(t, { programId, customerExternalId: who, orderId, amount, currency: "EUR" });

describe("stage rewards", () => {
  it("gives the reward to a customer entering the stage, before answering, once per customer", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId);
    const welcome = await stageReward(programId, "first_time_customer", rewardId);
    expect(welcome).toMatchObject({
      name: "first_time_customer gift",
      stageKey: "first_time_customer",
      stage: { key: "first_time_customer" },
      rewardId,
      repeatAfterDays: null,
      active: true,
    });

    const feed = collect(t.ws(), `subscription($p: ID!) { rewardEvents(programId: $p) { kind rewardId code reason grantKey } }`, { p: programId });
    await listening(t.app, programId);
    const first = ok(await buy(programId, "ann", "a1")).data.recordPurchase;
    expect(first.stageChange.to.key).toBe("first_time_customer");
    let ann = await customer(programId, "ann");
    // Internal tools hear of it, with why.
    await feed.next(1);
    expect(feed.items[0].rewardEvents).toEqual({
      kind: "REWARD_ISSUED",
      rewardId,
      code: ann.redemptions[0].code,
      reason: "first_time_customer gift",
      grantKey: `stage:${welcome.id}:${first.customer.id}`,
    });
    feed.unsubscribe();
    expect(ann.grants).toEqual([
      { kind: "REWARD", reason: "first_time_customer gift", rewardId, stageRewardId: welcome.id, grantedAt: expect.any(String), code: expect.any(String) },
    ]);
    // Free: the coupon costs no points (20 earned, 20 kept).
    expect(ann.redemptions).toEqual([{ rewardId, status: "ISSUED", code: ann.grants[0].code, points: 0 }]);
    expect(ann.points.balance).toBe(20);

    // A retry writes nothing; a refund takes Ann back down and a new purchase brings her up again: still one.
    expect(ok(await buy(programId, "ann", "a1")).data.recordPurchase.replayed).toBe(true);
    ok(await refund(t, { programId, orderId: "a1", refundId: "a1-r", amount: 20 }));
    expect((await customer(programId, "ann")).stage.key).not.toBe("first_time_customer");
    expect(ok(await buy(programId, "ann", "a2")).data.recordPurchase.stageChange.to.key).toBe("first_time_customer");
    ann = await customer(programId, "ann");
    expect([ann.grants.length, ann.redemptions.length]).toEqual([1, 1]);
    // Moving on to the next stage owes nothing (no reward there).
    expect(ok(await buy(programId, "ann", "a3")).data.recordPurchase.stageChange.to.key).toBe("repeat_customer");
    expect((await customer(programId, "ann")).grants).toHaveLength(1);
  });

  it("owes nothing for a move a refund makes: buying and returning collects no rewards", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId);
    await stageReward(programId, "first_time_customer", rewardId, { repeatAfterDays: 1 });
    ok(await buy(programId, "bob", "b1"));
    ok(await buy(programId, "bob", "b2"));
    expect((await customer(programId, "bob")).stage.key).toBe("repeat_customer");
    // Two days later a refund of the second order takes Bob back to first_time_customer: no new entry reward.
    t.advanceClock(2 * DAY);
    try {
      const back = ok(await refund(t, { programId, orderId: "b2", refundId: "b2-r", amount: 20 })).data.recordRefund;
      expect(back.stageChange.to.key).toBe("first_time_customer");
      expect((await customer(programId, "bob")).redemptions).toHaveLength(1);
    } finally {
      t.advanceClock(-2 * DAY);
    }
  });

  it("gives a purchase's reward when its return window ends, and a full refund before then cancels it", async () => {
    const programId = await createProgram(t, { name: "Returns", ladder: { preset: "griffin-7" }, earningRules: [PURCHASE_RULE], points: { pendingDays: 14 } });
    const rewardId = await rewardIn(programId);
    await stageReward(programId, "first_time_customer", rewardId);
    ok(await buy(programId, "kept", "k1"));
    ok(await buy(programId, "returned", "r1"));
    for (const who of ["kept", "returned"]) expect((await customer(programId, who)).grants).toEqual([expect.objectContaining({ grantedAt: null, code: null })]);
    ok(await refund(t, { programId, orderId: "r1", refundId: "r1-r", amount: 20 }));
    t.advanceClock(15 * DAY);
    try {
      ok(await t.gql(`mutation($p: ID!) { runPointsLifecycle(programId: $p) { activated } }`, { p: programId }));
    } finally {
      t.advanceClock(-15 * DAY);
    }
    const [kept, returned] = [await customer(programId, "kept"), await customer(programId, "returned")];
    expect(kept.redemptions).toEqual([expect.objectContaining({ rewardId, status: "ISSUED" })]);
    expect(returned.redemptions).toEqual([]);
    expect(returned.grants).toEqual([expect.objectContaining({ grantedAt: expect.any(String), code: null })]);
  });

  it("moves and rewards no erased customer when time passes", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId, "We miss you");
    await stageReward(programId, "lapsed", rewardId);
    ok(await buy(programId, "gone", "g1"));
    ok(await buy(programId, "stays", "s1"));
    const gone = ok(await t.gql(`query($p: ID!) { customer(programId: $p, externalId: "gone") { id } }`, { p: programId })).data.customer.id;
    ok(await t.gql(`mutation($c: ID!) { eraseCustomer(customerId: $c) { id } }`, { c: gone }));
    t.advanceClock(200 * DAY);
    try {
      expect(ok(await recompute(t, programId)).data.recomputeStages).toMatchObject({ evaluated: 1, changed: 1 });
    } finally {
      t.advanceClock(-200 * DAY);
    }
    const [row] = await t.app.db.query(
      `SELECT stage_key, (SELECT count(*)::int FROM grants g WHERE g.program_id = c.program_id AND g.customer_id = c.id) AS grants FROM customers c WHERE id = $1`,
      [gone],
    );
    expect(row).toEqual({ stage_key: "first_time_customer", grants: 0 });
    expect((await customer(programId, "stays")).redemptions).toHaveLength(1);
  });

  it("gives a win-back reward on each lapse found by recompute, at most once per repeatAfterDays", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId, "We miss you");
    const winBack = await stageReward(programId, "lapsed", rewardId, { repeatAfterDays: 365 });
    ok(await buy(programId, "cat", "c1"));
    const at = async (days: number, run: () => Promise<void>) => {
      t.advanceClock(days * DAY);
      try {
        await run();
      } finally {
        t.advanceClock(-days * DAY);
      }
    };
    const lapses = async () => (await customer(programId, "cat")).grants.filter((g: any) => g.stageRewardId === winBack.id).length;
    // 200 days on: lapsed (no purchase in 180 days), the offer given by the recompute itself.
    await at(200, async () => {
      expect(ok(await recompute(t, programId)).data.recomputeStages.changed).toBe(1);
      expect((await customer(programId, "cat")).stage.key).toBe("lapsed");
      ok(await buy(programId, "cat", "c2"));
    });
    expect(await lapses()).toBe(1);
    // Lapsed again 200 days after the offer: within the 365, nothing.
    await at(400, async () => {
      ok(await recompute(t, programId));
      expect((await customer(programId, "cat")).stage.key).toBe("lapsed");
      ok(await buy(programId, "cat", "c3"));
    });
    expect(await lapses()).toBe(1);
    // And again 600 days after it: a new offer.
    await at(600, async () => {
      ok(await recompute(t, programId));
    });
    expect(await lapses()).toBe(2);
    // The recompute's own run again changes and owes nothing more.
    await at(600, async () => {
      expect(ok(await recompute(t, programId)).data.recomputeStages.changed).toBe(0);
    });
    const cat = await customer(programId, "cat");
    expect(cat.redemptions.filter((r: any) => r.rewardId === rewardId && r.status === "ISSUED")).toHaveLength(2);
  });

  it("gives each of many concurrent first buyers their reward exactly once", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId);
    await stageReward(programId, "first_time_customer", rewardId);
    const buyers = Array.from({ length: 24 }, (_, i) => `p${i}`);
    // Each buyer's purchase sent three times at once: one write, two replays.
    const results = await Promise.all(buyers.flatMap((b) => [0, 1, 2].map(() => buy(programId, b, `${b}-1`))));
    for (const r of results) ok(r);
    const [row] = await t.app.db.query(
      `SELECT count(*)::int AS grants, count(DISTINCT customer_id)::int AS customers, count(*) FILTER (WHERE granted_at IS NOT NULL)::int AS given,
              (SELECT count(*)::int FROM redemptions r WHERE r.program_id = $1) AS redemptions
         FROM grants WHERE program_id = $1`,
      [programId],
    );
    expect(row).toEqual({ grants: 24, customers: 24, given: 24, redemptions: 24 });
  });

  it("owes nothing once switched off, and the program lists its stage rewards", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId);
    const welcome = await stageReward(programId, "first_time_customer", rewardId);
    const SET = `mutation($id: ID!, $a: Boolean!) { setStageRewardActive(stageRewardId: $id, active: $a) { id active } }`;
    expect(ok(await t.gql(SET, { id: welcome.id, a: false })).data.setStageRewardActive.active).toBe(false);
    ok(await buy(programId, "dan", "d1"));
    expect((await customer(programId, "dan")).grants).toEqual([]);
    expect(ok(await t.gql(SET, { id: welcome.id, a: true })).data.setStageRewardActive.active).toBe(true);
    ok(await buy(programId, "eve", "e1"));
    expect((await customer(programId, "eve")).grants).toHaveLength(1);
    const listed = ok(await t.gql(`query($p: ID!) { program(id: $p) { stageRewards { id stage { key } active } } }`, { p: programId })).data.program
      .stageRewards;
    expect(listed).toEqual([{ id: welcome.id, stage: { key: "first_time_customer" }, active: true }]);
  });

  it("refuses bad input with the field and writes nothing; only ADMIN keys of the program configure it", async () => {
    const programId = await griffinProgram(t);
    const rewardId = await rewardIn(programId);
    const other = await griffinProgram(t);
    const otherReward = await rewardIn(other);
    const off = await rewardIn(programId, "Retired");
    ok(await t.gql(`mutation($r: ID!) { setRewardActive(rewardId: $r, active: false) { id } }`, { r: off }));
    const partner = await createKey(t, programId, "PARTNER");
    const otherAdmin = await createKey(t, other, "ADMIN");
    const before = await tableCounts(t);
    const [stageCount] = await t.app.db.query(`SELECT count(*)::int AS n FROM stage_rewards`);
    const attempt = async (i: Record<string, unknown>, token?: string) =>
      (await t.gql(CREATE, { i: { programId, name: "Gift", stage: "client", rewardId, ...i } }, token)).errors?.[0];
    expect((await attempt({ stage: "vip" }))?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "stage" });
    // The bottom stage: customers start there, nobody enters it.
    expect((await attempt({ stage: "suspect" }))?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "stage" });
    expect((await attempt({ rewardId: off }))?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "rewardId" });
    expect((await attempt({ repeatAfterDays: 0 }))?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "repeatAfterDays" });
    expect((await attempt({ name: "" }))?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "name" });
    expect((await attempt({ rewardId: otherReward }))?.extensions).toMatchObject({ code: "NOT_FOUND", field: "rewardId" });
    expect((await attempt({}, partner))?.extensions?.code).toBe("FORBIDDEN");
    expect((await attempt({}, otherAdmin))?.extensions?.code).toBe("FORBIDDEN");
    expect(await tableCounts(t)).toEqual(before);
    expect((await t.app.db.query(`SELECT count(*)::int AS n FROM stage_rewards`))[0]).toEqual(stageCount);
    const mine = await stageReward(programId, "client", rewardId);
    const SET = `mutation($id: ID!) { setStageRewardActive(stageRewardId: $id, active: false) { id } }`;
    expect((await t.gql(SET, { id: mine.id }, otherAdmin)).errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND", field: "stageRewardId" });
    expect((await t.gql(SET, { id: mine.id }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});
