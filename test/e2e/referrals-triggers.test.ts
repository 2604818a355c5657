/**
 * Referrals and triggered rewards through the API: signup and first-purchase bonuses for referrer
 * and referee, once; a reward issued when a customer shows a pattern (10 product views in 24
 * hours, no purchase yet), once per window; rewardEvents carries REWARD_ISSUED.
 */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, DAY, pointsDisagreements, purchase } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());
afterEach(async () => expect(await pointsDisagreements(t)).toEqual([]));

const REFER = `mutation($i: RecordReferralInput!) { recordReferral(input: $i) {
  replayed referrer { id points { balance } metrics { referralCount } } referee { id externalId points { balance } }
  grants { kind points reason customerId grantedAt } } }`;

async function balance(id: string): Promise<number> {
  return (await t.gql(`query($id: ID!) { customer(id: $id) { points { balance } } }`, { id })).data.customer.points.balance;
}

describe("referrals", () => {
  it("rewards referrer and referee on signup and on the referee's first purchase, each once", async () => {
    const programId = await createProgram(t, {
      name: "Refer",
      ladder: { preset: "griffin-7" },
      earningRules: [
        { touchpointType: "PURCHASE", pointsPerUnit: 1 },
        { name: "thanks for referring", touchpointType: "REFERRAL", fixedPoints: 10 },
        { name: "welcome gift", touchpointType: "REFERRAL", fixedPoints: 25, referralTrigger: "SIGNUP", beneficiary: "REFEREE" },
        { name: "friend bought", touchpointType: "PURCHASE", fixedPoints: 100, referralTrigger: "FIRST_PURCHASE", beneficiary: "REFERRER" },
        { name: "first order bonus", touchpointType: "PURCHASE", fixedPoints: 50, referralTrigger: "FIRST_PURCHASE", beneficiary: "REFEREE" },
      ],
    });
    const referrerId = (await purchase(t, { programId, customerExternalId: "alice", orderId: "a1", amount: 20, currency: "EUR" })).data.recordPurchase.customer
      .id;
    const res = await t.gql(REFER, { i: { programId, referrerId, refereeExternalId: "bob", referralId: "ref-1" } });
    expect(res.errors).toBeUndefined();
    const p = res.data.recordReferral;
    expect(p.replayed).toBe(false);
    expect(p.referrer).toMatchObject({ points: { balance: 30 }, metrics: { referralCount: 1 } });
    expect(p.referee).toMatchObject({ externalId: "bob", points: { balance: 25 } });
    expect(p.grants).toHaveLength(1);
    expect(p.grants[0].grantedAt).not.toBeNull();

    const again = await t.gql(REFER, { i: { programId, referrerId, refereeExternalId: "bob", referralId: "ref-1" } });
    expect(again.data.recordReferral).toMatchObject({ replayed: true, referrer: { points: { balance: 30 } }, referee: { points: { balance: 25 } } });
    const twice = await t.gql(REFER, { i: { programId, referrerId, refereeExternalId: "bob", referralId: "ref-2" } });
    expect(twice.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "refereeExternalId" });

    // The referee's first purchase owes both first-purchase bonuses; the second owes nothing.
    const bobId = p.referee.id;
    await Promise.all([
      purchase(t, { programId, customerId: bobId, orderId: "b1", amount: 40, currency: "EUR" }),
      purchase(t, { programId, customerId: bobId, orderId: "b2", amount: 10, currency: "EUR" }),
    ]);
    expect(await balance(bobId)).toBe(25 + 50 + 50);
    expect(await balance(referrerId)).toBe(30 + 100);
    const grants = await t.gql(`query($id: ID!) { customer(id: $id) { grants { reason points grantedAt } } }`, { id: referrerId });
    expect(grants.data.customer.grants.map((g: any) => [g.reason, g.points, g.grantedAt !== null])).toEqual([["friend bought", 100, true]]);
  });
});

describe("referral bonuses in a return window", () => {
  it("gives the first-purchase bonus when the window ends, and a full refund before that cancels it", async () => {
    const programId = await createProgram(t, {
      name: "Refer pending",
      ladder: { preset: "griffin-7" },
      earningRules: [
        { touchpointType: "PURCHASE", pointsPerUnit: 1 },
        { name: "friend bought", touchpointType: "PURCHASE", fixedPoints: 100, referralTrigger: "FIRST_PURCHASE", beneficiary: "REFERRER" },
      ],
      points: { pendingDays: 14 },
    });
    const referrerId = (await t.gql(`mutation($i: UpsertCustomerInput!) { upsertCustomer(input: $i) { id } }`, { i: { programId, externalId: "ref-a" } })).data
      .upsertCustomer.id;
    const bobId = (await t.gql(REFER, { i: { programId, referrerId, refereeExternalId: "ref-b", referralId: "pr-1" } })).data.recordReferral.referee.id;
    await purchase(t, { programId, customerId: bobId, orderId: "pb1", amount: 30, currency: "EUR" });
    const grantsOf = async (id: string) => (await t.gql(`query($id: ID!) { customer(id: $id) { grants { points grantedAt } } }`, { id })).data.customer.grants;
    expect(await grantsOf(referrerId)).toEqual([{ points: 100, grantedAt: null }]);
    // Refunded in full within the window: the bonus is cancelled, and the next purchase counts as the first.
    await t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned } }`, {
      i: { programId, orderId: "pb1", refundId: "pb1-r", amount: 30 },
    });
    expect((await grantsOf(referrerId))[0].grantedAt).not.toBeNull();
    expect(await balance(referrerId)).toBe(0);
    await purchase(t, { programId, customerId: bobId, orderId: "pb2", amount: 20, currency: "EUR" });
    t.advanceClock(15 * DAY);
    try {
      await t.gql(`mutation($p: ID!) { runPointsLifecycle(programId: $p) { activated } }`, { p: programId });
    } finally {
      t.advanceClock(-15 * DAY);
    }
    expect(await balance(referrerId)).toBe(100);
    expect(await balance(bobId)).toBe(20);
  });
});

describe("triggered rewards", () => {
  it("issues the coupon after 10 product views in 24 hours with no purchase yet, once per window", async () => {
    const programId = await createProgram(t, {
      name: "Trigger",
      ladder: { preset: "griffin-7" },
      earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }],
    });
    const rewardId = (
      await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, {
        i: { programId, name: "10% off your first order", pointsCost: 1, couponValidDays: 7 },
      })
    ).data.createReward.id;
    const trig = await t.gql(`mutation($i: CreateRewardTriggerInput!) { createRewardTrigger(input: $i) { id minCount } }`, {
      i: { programId, name: "curious browser", rewardId, touchpointType: "PRODUCT_VIEW", minCount: 10, windowHours: 24, requireNoPurchase: true },
    });
    expect(trig.errors).toBeUndefined();
    const view = (customer: string, n: number) =>
      t.gql(`mutation($i: RecordTouchpointInput!) { recordTouchpoint(input: $i) { customer { id } } }`, {
        i: { programId, customerExternalId: customer, type: "PRODUCT_VIEW", externalId: `${customer}-view-${n}` },
      });

    const viewerId = (await view("viewer", 0)).data.recordTouchpoint.customer.id;
    const feed = collect(t.ws(), `subscription($p: ID!, $c: ID) { rewardEvents(programId: $p, customerId: $c) { kind rewardName code points status } }`, {
      p: programId,
      c: viewerId,
    });
    await listening(t.app, programId);
    for (let i = 1; i < 9; i++) await view("viewer", i);
    const redemptions = async (id: string) =>
      (await t.gql(`query($id: ID!) { customer(id: $id) { redemptions { status points code } } }`, { id })).data.customer.redemptions;
    expect(await redemptions(viewerId)).toEqual([]);
    // The tenth view, and a burst after it: one coupon, not one per view.
    await Promise.all([9, 10, 11, 12].map((i) => view("viewer", i)));
    const issued = await redemptions(viewerId);
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ status: "ISSUED", points: 0 });
    await feed.next(1);
    expect(feed.items[0].rewardEvents).toMatchObject({ kind: "REWARD_ISSUED", rewardName: "10% off your first order", points: 0, code: issued[0].code });
    feed.unsubscribe();

    // Switched off, the pattern issues nothing; switched on again, the next view that completes it does.
    const SET = `mutation($id: ID!, $a: Boolean!) { setRewardTriggerActive(triggerId: $id, active: $a) { id active } }`;
    expect((await t.gql(SET, { id: trig.data.createRewardTrigger.id, a: false })).data.setRewardTriggerActive.active).toBe(false);
    const quietId = (await view("quiet", 0)).data.recordTouchpoint.customer.id;
    for (let i = 1; i < 10; i++) await view("quiet", i);
    expect(await redemptions(quietId)).toEqual([]);
    expect((await t.gql(SET, { id: trig.data.createRewardTrigger.id, a: true })).data.setRewardTriggerActive.active).toBe(true);
    // Set as it is: no new configuration version.
    const version = async () => (await t.app.db.query(`SELECT updated_at::text AS v FROM programs WHERE id = $1`, [programId]))[0].v;
    const before = await version();
    expect((await t.gql(SET, { id: trig.data.createRewardTrigger.id, a: true })).data.setRewardTriggerActive.active).toBe(true);
    expect(await version()).toBe(before);
    await view("quiet", 10);
    expect(await redemptions(quietId)).toHaveLength(1);

    // A buyer never gets it.
    const buyerId = (await purchase(t, { programId, customerExternalId: "buyer", orderId: "x1", amount: 5, currency: "EUR" })).data.recordPurchase.customer.id;
    for (let i = 0; i < 10; i++) await view("buyer", i);
    expect(await redemptions(buyerId)).toEqual([]);

    // The next window may issue again.
    t.advanceClock(DAY + 60_000);
    try {
      for (let i = 100; i < 110; i++) await view("viewer", i);
    } finally {
      t.advanceClock(-(DAY + 60_000));
    }
    expect(await redemptions(viewerId)).toHaveLength(2);
  });
});
