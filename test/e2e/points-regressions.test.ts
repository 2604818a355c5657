/**
 * Regressions found by review of the points economy, each asserting the fixed behaviour through
 * the API: rule edits keep caps, free rewards can be cancelled, an order completes once, grants are
 * not blocked by a client key, referral races replay, caps are bounded by their period, lines are
 * kept for refunds, and expired points are not taken back twice.
 */
import { startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, DAY, pointsDisagreements, purchase } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());
afterEach(async () => expect(await pointsDisagreements(t)).toEqual([]));

async function createReward(input: Record<string, unknown>): Promise<string> {
  const res = await t.gql(`mutation($input: CreateRewardInput!) { createReward(input: $input) { id } }`, { input });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data.createReward.id;
}

function tp(programId: string, customerExternalId: string, type: string, externalId: string, occurredAt?: Date) {
  return t.gql(`mutation($i: RecordTouchpointInput!) { recordTouchpoint(input: $i) { pointsEarned appliedRules { points capped } customer { id } } }`, {
    i: { programId, customerExternalId, type, externalId, ...(occurredAt ? { occurredAt: occurredAt.toISOString() } : {}) },
  });
}

it("refuses a multiplier-only rule below 1 (it would take points earlier rules gave)", async () => {
  const res = await t.gql(`mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`, {
    i: {
      name: "Half",
      ladder: { preset: "griffin-7" },
      earningRules: [
        { touchpointType: "PURCHASE", pointsPerUnit: 1 },
        { touchpointType: "PURCHASE", multiplier: 0.5 },
      ],
    },
  });
  expect(res.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "earningRules[1].multiplier" });
});

it("keeps a rule's caps counting when the rules are edited with their ids", async () => {
  const programId = await createProgram(t, {
    name: "Capped",
    ladder: { preset: "griffin-7" },
    earningRules: [
      { name: "visit", touchpointType: "VISIT", fixedPoints: 10, capPoints: 10, capPeriod: "DAY" },
      { name: "review budget", touchpointType: "REVIEW", fixedPoints: 100, totalCap: 100 },
    ],
  });
  const review = (id: string, who: string) =>
    t.gql(`mutation($i: RecordReviewInput!) { recordReview(input: $i) { pointsEarned } }`, {
      i: { programId, customerExternalId: who, reviewId: id, rating: 5 },
    });
  expect((await tp(programId, "c1", "VISIT", "v1")).data.recordTouchpoint.pointsEarned).toBe(10);
  expect((await review("r1", "c1")).data.recordReview.pointsEarned).toBe(100);
  const rules = (await t.gql(`query($p: ID!) { program(id: $p) { earningRules { id name } } }`, { p: programId })).data.program.earningRules;
  const id = (name: string) => rules.find((r: any) => r.name === name).id;
  const set = await t.gql(`mutation($p: ID!, $r: [EarningRuleInput!]!) { setEarningRules(programId: $p, rules: $r) { earningRules { id name } } }`, {
    p: programId,
    r: [
      { id: id("visit"), name: "visit", touchpointType: "VISIT", fixedPoints: 12, capPoints: 10, capPeriod: "DAY" },
      { id: id("review budget"), name: "review budget", touchpointType: "REVIEW", fixedPoints: 100, totalCap: 100 },
      { name: "share", touchpointType: "SOCIAL_SHARE", fixedPoints: 1 },
    ],
  });
  expect(set.errors).toBeUndefined();
  expect(
    set.data.setEarningRules.earningRules
      .filter((r: any) => r.name !== "share")
      .map((r: any) => r.id)
      .sort(),
  ).toEqual([id("visit"), id("review budget")].sort());
  expect((await tp(programId, "c1", "VISIT", "v2")).data.recordTouchpoint.pointsEarned).toBe(0);
  expect((await review("r2", "c2")).data.recordReview.pointsEarned).toBe(0);
  const unknown = await t.gql(`mutation($p: ID!, $r: [EarningRuleInput!]!) { setEarningRules(programId: $p, rules: $r) { id } }`, {
    p: programId,
    r: [{ id: "00000000-0000-4000-8000-000000000000", touchpointType: "VISIT", fixedPoints: 1 }],
  });
  expect(unknown.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "rules[0].id" });
  const after = (await t.gql(`query($p: ID!) { program(id: $p) { earningRules { name } } }`, { p: programId })).data.program.earningRules;
  expect(after.map((r: any) => r.name).sort()).toEqual(["review budget", "share", "visit"]);
});

it("cancels a reward a trigger gave (it cost nothing, nothing comes back) and returns the unit", async () => {
  const programId = await createProgram(t, { name: "Trig", ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }] });
  const rewardId = await createReward({ programId, name: "Welcome", pointsCost: 100, stock: 5 });
  await t.gql(`mutation($i: CreateRewardTriggerInput!) { createRewardTrigger(input: $i) { id } }`, {
    i: { programId, name: "one view", rewardId, touchpointType: "PRODUCT_VIEW", minCount: 1, windowHours: 24 },
  });
  await tp(programId, "tv1", "PRODUCT_VIEW", "pv-1");
  const [redemption] = await t.app.db.query(`SELECT * FROM redemptions WHERE program_id = $1`, [programId]);
  const cancel = await t.gql(`mutation($id: ID!) { cancelRedemption(id: $id, reason: "oops") { __typename ... on Redemption { status points } } }`, {
    id: redemption.id,
  });
  expect(cancel.data.cancelRedemption).toEqual({ __typename: "Redemption", status: "CANCELLED", points: 0 });
  const [reward] = await t.app.db.query(`SELECT issued FROM rewards WHERE id = $1`, [rewardId]);
  expect(reward.issued).toBe(0);
});

it("completes an order once: refunding a free line after the paid one does not take the purchase away twice", async () => {
  const programId = await createProgram(t, { name: "Gift", ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }] });
  const p = await purchase(t, {
    programId,
    customerExternalId: "g1",
    orderId: "g-o1",
    amount: 10,
    currency: "EUR",
    lines: [
      { sku: "A", quantity: 1, unitPrice: 10 },
      { sku: "GIFT", quantity: 1, unitPrice: 0 },
    ],
  });
  const customerId = p.data.recordPurchase.customer.id;
  const r = (refundId: string, sku: string) =>
    t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned } }`, {
      i: { programId, refundId, orderId: "g-o1", lines: [{ sku, quantity: 1 }] },
    });
  expect((await r("g-r1", "A")).data.recordRefund.pointsEarned).toBe(-10);
  expect((await r("g-r2", "GIFT")).data.recordRefund.pointsEarned).toBe(0);
  const [c] = await t.app.db.query(`SELECT purchase_count FROM customers WHERE id = $1`, [customerId]);
  expect(c.purchase_count).toBe(0);
});

it("keeps reward grants apart from client keys, and one failing grant never blocks the others", async () => {
  const programId = await createProgram(t, { name: "Keys", ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }] });
  const cheap = await createReward({ programId, name: "Sticker", pointsCost: 1 });
  const m = await purchase(t, { programId, customerExternalId: "mallory", orderId: "m-o1", amount: 5, currency: "EUR" });
  const reserved = await t.gql(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename } }`, {
    i: { customerId: m.data.recordPurchase.customer.id, rewardId: cheap, idempotencyKey: "grant:trigger:x" },
  });
  expect(reserved.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "idempotencyKey" });

  // A grant that cannot be given (its customer is gone from under it: simulated by a bad reward id).
  const prize = await createReward({ programId, name: "Prize", pointsCost: 1000 });
  await t.gql(`mutation($i: CreateRewardTriggerInput!) { createRewardTrigger(input: $i) { id } }`, {
    i: { programId, name: "viewer", rewardId: prize, touchpointType: "PRODUCT_VIEW", minCount: 1, windowHours: 24 },
  });
  await t.app.db.query(
    `INSERT INTO grants (program_id, key, customer_id, kind, points, reason, created_at) VALUES ($1, 'broken', $2, 'POINTS', 1, 'test', now() - interval '1 day')`,
    [programId, m.data.recordPurchase.customer.id],
  );
  await t.app.db.query(`ALTER TABLE point_lots ADD CONSTRAINT test_no_one_point CHECK (amount <> 1) NOT VALID`);
  try {
    await tp(programId, "victim", "PRODUCT_VIEW", "v-pv1");
  } finally {
    await t.app.db.query(`ALTER TABLE point_lots DROP CONSTRAINT test_no_one_point`);
  }
  const grants = await t.app.db.query(`SELECT key, granted_at, attempts FROM grants WHERE program_id = $1 ORDER BY created_at`, [programId]);
  expect(grants.map((g: any) => [g.key === "broken", g.granted_at !== null, g.attempts])).toEqual([
    [true, false, 1],
    [false, true, 0],
  ]);
  // The next run gives the broken one once it can be given.
  expect(await t.app.grants.process(programId)).toBe(1);
});

it("replays concurrent first attempts of one referral", async () => {
  const programId = await createProgram(t, {
    name: "Ref",
    ladder: { preset: "griffin-7" },
    earningRules: [
      { touchpointType: "PURCHASE", pointsPerUnit: 1 },
      { touchpointType: "REFERRAL", fixedPoints: 25, referralTrigger: "SIGNUP", beneficiary: "REFEREE" },
    ],
  });
  const referrerId = (await purchase(t, { programId, customerExternalId: "alice", orderId: "a-o1", amount: 5, currency: "EUR" })).data.recordPurchase.customer
    .id;
  for (let round = 0; round < 5; round++) {
    const results = await Promise.all(
      [1, 2, 3].map(() =>
        t.gql(`mutation($i: RecordReferralInput!) { recordReferral(input: $i) { replayed referee { points { balance } } } }`, {
          i: { programId, referrerId, refereeExternalId: `bob-${round}`, referralId: `ref-${round}` },
        }),
      ),
    );
    expect(results.map((r) => r.errors)).toEqual([undefined, undefined, undefined]);
    expect(results.map((r) => r.data.recordReferral.replayed).sort()).toEqual([false, true, true]);
    for (const r of results) expect(r.data.recordReferral.referee.points.balance).toBe(25);
  }
  const reused = await t.gql(`mutation($i: RecordReferralInput!) { recordReferral(input: $i) { replayed } }`, {
    i: { programId, referrerId, refereeExternalId: "carol", referralId: "ref-0" },
  });
  expect(reused.errors?.[0].extensions).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED", field: "referralId" });
});

it("bounds a per-period cap by its period: a late visit from yesterday earns yesterday's room", async () => {
  const programId = await createProgram(t, {
    name: "Late",
    ladder: { preset: "griffin-7" },
    timeZone: "UTC",
    earningRules: [{ name: "visit", touchpointType: "VISIT", fixedPoints: 10, capPoints: 10, capPeriod: "DAY" }],
  });
  expect((await tp(programId, "l1", "VISIT", "today")).data.recordTouchpoint.pointsEarned).toBe(10);
  const late = await tp(programId, "l1", "VISIT", "yesterday", new Date(t.app.clock().getTime() - DAY));
  expect(late.data.recordTouchpoint.pointsEarned).toBe(10);
});

it("refunds by lines an order that earned no points", async () => {
  const programId = await createProgram(t, { name: "NoRule", ladder: { preset: "griffin-7" }, earningRules: [{ touchpointType: "REVIEW", fixedPoints: 5 }] });
  await purchase(t, { programId, customerExternalId: "n1", orderId: "n-o1", amount: 10, currency: "EUR", lines: [{ sku: "A", quantity: 2, unitPrice: 5 }] });
  const r = await t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned touchpoint { amount } } }`, {
    i: { programId, refundId: "n-r1", orderId: "n-o1", lines: [{ sku: "A", quantity: 1 }] },
  });
  expect(r.data.recordRefund).toEqual({ pointsEarned: 0, touchpoint: { amount: 5 } });
});

it("does not take back points of the order that already expired", async () => {
  const programId = await createProgram(t, {
    name: "Exp",
    ladder: { preset: "griffin-7" },
    earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }],
    points: { expiry: "AFTER_DAYS", expiryDays: 1, overdraft: "ALLOW_NEGATIVE" },
  });
  const id = (await purchase(t, { programId, customerExternalId: "e1", orderId: "e-o1", amount: 100, currency: "EUR" })).data.recordPurchase.customer.id;
  t.advanceClock(2 * DAY);
  try {
    expect((await t.gql(`mutation($p: ID!) { runPointsLifecycle(programId: $p) { expired } }`, { p: programId })).data.runPointsLifecycle.expired).toBe(1);
    const r = await t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned customer { points { balance } } } }`, {
      i: { programId, refundId: "e-r1", orderId: "e-o1", amount: 100 },
    });
    expect(r.data.recordRefund).toEqual({ pointsEarned: 0, customer: { points: { balance: 0 } } });
    expect(id).toBeDefined();
  } finally {
    t.advanceClock(-2 * DAY);
  }
});

describe("API edges found by review", () => {
  it("refills a pool after redemptions, and keeps a code unique across the program's rewards", async () => {
    const programId = await createProgram(t, {
      name: "Pools",
      ladder: { preset: "griffin-7" },
      earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }],
    });
    const a = await createReward({ programId, name: "A", pointsCost: 1, couponSource: "POOL" });
    const b = await createReward({ programId, name: "B", pointsCost: 1, couponSource: "POOL" });
    const add = (rewardId: string, codes: string[]) =>
      t.gql(`mutation($r: ID!, $c: [String!]!) { addRewardCoupons(rewardId: $r, codes: $c) }`, { r: rewardId, c: codes });
    expect((await add(a, ["SAME-CODE", "A-ONLY"])).data.addRewardCoupons).toBe(2);
    expect((await add(b, ["SAME-CODE", "B-ONLY"])).data.addRewardCoupons).toBe(1);
    const id = (await purchase(t, { programId, customerExternalId: "p1", orderId: "p1", amount: 10, currency: "EUR" })).data.recordPurchase.customer.id;
    const redeem = (rewardId: string, key: string) =>
      t.gql(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename ... on Redemption { code } } }`, {
        i: { customerId: id, rewardId, idempotencyKey: key },
      });
    expect((await redeem(a, "a1")).data.redeemReward.code).toBe("A-ONLY");
    expect((await add(a, ["FRESH-1", "FRESH-2"])).data.addRewardCoupons).toBe(2);
    expect((await redeem(b, "b1")).data.redeemReward.code).toBe("B-ONLY");
    // A retry with the ids in upper case is the same request.
    const again = await t.gql(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { ... on Redemption { code replayed } } }`, {
      i: { customerId: id.toUpperCase(), rewardId: b.toUpperCase(), idempotencyKey: "b1" },
    });
    expect(again.data.redeemReward).toEqual({ code: "B-ONLY", replayed: true });
  });

  it("names the item and the field of a bad list argument, and refuses duplicates, unknown tiers and empty stage keys", async () => {
    const programId = await createProgram(t, {
      name: "Lists",
      ladder: { preset: "griffin-7" },
      tiers: { levels: [{ key: "gold", name: "Gold", threshold: 10 }] },
    });
    const set = (rules: unknown[]) =>
      t.gql(`mutation($p: ID!, $r: [EarningRuleInput!]!) { setEarningRules(programId: $p, rules: $r) { id } }`, { p: programId, r: rules });
    const ok = { touchpointType: "VISIT", fixedPoints: 1 };
    expect((await set([ok, { touchpointType: "PURCHASE", pointsPerUnit: -1 }])).errors?.[0].extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "rules[1].pointsPerUnit",
    });
    expect((await set([ok, { ...ok, tiers: ["platinum"] }])).errors?.[0].extensions).toMatchObject({ field: "rules[1].tiers" });
    expect((await set([{ ...ok, tiers: ["gold"] }])).errors).toBeUndefined();
    expect((await set([{ ...ok, stages: [""] }])).errors?.[0].extensions).toMatchObject({ field: "rules[0].stages" });
    const rules = (await t.gql(`query($p: ID!) { program(id: $p) { earningRules { id } } }`, { p: programId })).data.program.earningRules;
    expect(
      (
        await set([
          { ...ok, id: rules[0].id },
          { ...ok, id: rules[0].id },
        ])
      ).errors?.[0].extensions,
    ).toMatchObject({ field: "rules[1].id" });
    const reward = await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, {
      i: { programId, name: "R", pointsCost: 1, tiers: ["platinum"] },
    });
    expect(reward.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "tiers[0]" });
    const id = (await purchase(t, { programId, customerExternalId: "far", orderId: "far", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
    const far = await t.gql(`mutation($c: ID!) { setCustomerTier(customerId: $c, tier: "gold", until: "9999-12-31T00:00:00Z", reason: "because") { id } }`, {
      c: id,
    });
    expect(far.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "until" });
  });

  it("answers a key of another program NOT_FOUND for rows of that program, and no credential UNAUTHENTICATED first", async () => {
    const mine = await createProgram(t, { name: "Mine", ladder: { preset: "griffin-7" } });
    const theirs = await createProgram(t, { name: "Theirs", ladder: { preset: "griffin-7" } });
    const rewardId = await createReward({ programId: theirs, name: "Theirs", pointsCost: 1 });
    const key = (await t.gql(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }`, { i: { programId: mine, role: "ADMIN", name: "a" } }))
      .data.createApiKey.secret;
    const read = (id: string, token: string | null) => t.gql(`query($id: ID!) { reward(id: $id) { id } }`, { id }, token);
    expect((await read(rewardId, key)).errors?.[0].extensions?.code).toBe("NOT_FOUND");
    expect((await read("00000000-0000-4000-8000-000000000000", key)).errors?.[0].extensions?.code).toBe("NOT_FOUND");
    expect((await read(rewardId, null)).errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
    const cancel = await t.gql(`mutation { cancelRedemption(id: "00000000-0000-4000-8000-000000000000") { __typename } }`, {}, null);
    expect(cancel.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("gives owed grants when the lifecycle runs on demand", async () => {
    const programId = await createProgram(t, {
      name: "Owed",
      ladder: { preset: "griffin-7" },
      earningRules: [{ touchpointType: "PURCHASE", pointsPerUnit: 1 }],
    });
    const id = (await purchase(t, { programId, customerExternalId: "ow", orderId: "ow", amount: 1, currency: "EUR" })).data.recordPurchase.customer.id;
    // As a crash between the commit that owed it and its giving would leave it.
    await t.app.db.query(
      `INSERT INTO grants (program_id, key, customer_id, kind, points, reason, created_at) VALUES ($1, 'left-over', $2, 'POINTS', 9, 'left over', now())`,
      [programId, id],
    );
    await t.gql(`mutation($p: ID!) { runPointsLifecycle(programId: $p) { activated } }`, { p: programId });
    const balance = (await t.gql(`query($id: ID!) { customer(id: $id) { points { balance } grants { key grantedAt } } }`, { id })).data.customer;
    expect(balance.points.balance).toBe(10);
    expect(balance.grants[0].grantedAt).not.toBeNull();
  });
});

it("gives a refunded purchase's room under a per-customer cap back", async () => {
  const programId = await createProgram(t, {
    name: "Cap refund",
    ladder: { preset: "griffin-7" },
    timeZone: "UTC",
    earningRules: [{ name: "daily", touchpointType: "PURCHASE", pointsPerUnit: 1, capPoints: 50, capPeriod: "DAY" }],
  });
  const buy = (orderId: string, amount: number) => purchase(t, { programId, customerExternalId: "cr", orderId, amount, currency: "EUR" });
  expect((await buy("cr1", 50)).data.recordPurchase.pointsEarned).toBe(50);
  expect((await buy("cr2", 10)).data.recordPurchase.pointsEarned).toBe(0);
  await t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned } }`, {
    i: { programId, orderId: "cr1", refundId: "cr1-r", amount: 50 },
  });
  expect((await buy("cr3", 30)).data.recordPurchase.pointsEarned).toBe(30);
});
