/**
 * Tiers through the API: upgrade as soon as touchpoints qualify, progress, tier-targeted rules and
 * rewards, downgrade only at review (window end + grace) by the policy, and manual tiers that are
 * neither a floor nor a ceiling.
 */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, DAY, pointsDisagreements, withClock } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());
afterEach(async () => expect(await pointsDisagreements(t)).toEqual([]));

const TIER_FIELDS = `tier { tier { key } since reviewAt manualUntil reason progress { have next { key } need by } }`;
const LEVELS = [
  { key: "silver", name: "Silver", threshold: 100 },
  { key: "gold", name: "Gold", threshold: 300 },
];

async function tiered(tiers: Record<string, unknown>, rules: Array<Record<string, unknown>> = []) {
  return createProgram(t, {
    name: "Tiered",
    ladder: { preset: "griffin-7" },
    earningRules: [{ name: "base", touchpointType: "PURCHASE", pointsPerUnit: 1, priority: 10 }, ...rules],
    tiers: { levels: LEVELS, windowDays: 365, graceDays: 30, ...tiers },
  });
}

async function tierOf(id: string) {
  return (await t.gql(`query($id: ID!) { customer(id: $id) { ${TIER_FIELDS} } }`, { id })).data.customer.tier;
}

function buy(programId: string, customer: Record<string, string>, orderId: string, amount: number) {
  return t.gql(`mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { pointsEarned appliedRules { name } customer { id ${TIER_FIELDS} } } }`, {
    i: { programId, ...customer, orderId, amount, currency: "EUR" },
  });
}

const review = (programId: string) => t.gql(`mutation($p: ID!) { runTierReview(programId: $p) { reviewed changed } }`, { p: programId });

describe("tiers", () => {
  it("upgrades as soon as touchpoints qualify, explains it, streams it, and shows the way to the next", async () => {
    const programId = await tiered({}, [{ name: "gold double", touchpointType: "PURCHASE", multiplier: 2, tiers: ["gold"], priority: 1 }]);
    const feed = collect(t.ws(), `subscription($p: ID!) { loyaltyEvents(programId: $p) { __typename ... on TierChangedEvent { from to cause } } }`, {
      p: programId,
    });
    await listening(t.app, programId);
    const first = await buy(programId, { customerExternalId: "ti" }, "t1", 150);
    const id = first.data.recordPurchase.customer.id;
    expect(first.data.recordPurchase.customer.tier).toMatchObject({
      tier: { key: "silver" },
      progress: { have: 150, next: { key: "gold" }, need: 150, by: null },
    });
    expect(first.data.recordPurchase.customer.tier.reason).toMatchObject({ basis: "POINTS_EARNED", value: 150, threshold: 100 });
    const second = await buy(programId, { customerId: id }, "t2", 160);
    expect(second.data.recordPurchase.customer.tier.tier.key).toBe("gold");
    expect(second.data.recordPurchase.appliedRules.map((r: any) => r.name)).toEqual(["base"]);
    // Gold now: the tier-only rule applies from the next purchase on.
    const third = await buy(programId, { customerId: id }, "t3", 10);
    expect(third.data.recordPurchase).toMatchObject({ pointsEarned: 20, appliedRules: [{ name: "base" }, { name: "gold double" }] });
    expect((await tierOf(id)).progress).toEqual({ have: 330, next: null, need: null, by: null });
    await feed.next(3);
    expect(
      feed.items.filter((e: any) => e.loyaltyEvents.__typename === "TierChangedEvent").map((e: any) => [e.loyaltyEvents.from, e.loyaltyEvents.to]),
    ).toEqual([
      [null, "silver"],
      ["silver", "gold"],
    ]);
    feed.unsubscribe();

    const goldOnly = (
      await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, { i: { programId, name: "Lounge", pointsCost: 1, tiers: ["gold"] } })
    ).data.createReward.id;
    const silverId = (await buy(programId, { customerExternalId: "ts" }, "s1", 120)).data.recordPurchase.customer.id;
    const redeem = (customerId: string, key: string) =>
      t.gql(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename } }`, { i: { customerId, rewardId: goldOnly, idempotencyKey: key } });
    expect((await redeem(silverId, "a")).data.redeemReward.__typename).toBe("NotEligible");
    expect((await redeem(id, "b")).data.redeemReward.__typename).toBe("Redemption");
  });

  it("downgrades only at review, one tier at a time (ONE_TIER) or to what the window supports (TO_QUALIFIED)", async () => {
    const oneTier = await tiered({ downgrade: "ONE_TIER" });
    const toQualified = await tiered({ downgrade: "TO_QUALIFIED" });
    const a = (await buy(oneTier, { customerExternalId: "d1" }, "d1", 400)).data.recordPurchase.customer.id;
    const b = (await buy(toQualified, { customerExternalId: "d2" }, "d2", 400)).data.recordPurchase.customer.id;
    expect((await tierOf(a)).tier.key).toBe("gold");
    // Half a year later, a small purchase: not enough for any tier on its own.
    await withClock(t, 200 * DAY, async () => {
      await buy(oneTier, { customerId: a }, "d1-later", 50);
      await buy(toQualified, { customerId: b }, "d2-later", 50);
    });
    // Within the window and the grace period nothing moves.
    await withClock(t, 380 * DAY, async () => {
      expect((await review(oneTier)).data.runTierReview).toEqual({ reviewed: 0, changed: 0 });
    });
    await withClock(t, 396 * DAY, async () => {
      expect((await review(oneTier)).data.runTierReview).toEqual({ reviewed: 1, changed: 1 });
      expect((await review(toQualified)).data.runTierReview).toEqual({ reviewed: 1, changed: 1 });
      expect((await review(oneTier)).data.runTierReview.reviewed).toBe(0);
    });
    // The year that ended holds 50 points: one tier down, or straight to what 50 supports (none).
    expect(await tierOf(a)).toMatchObject({ tier: { key: "silver" }, reason: { value: 50 } });
    expect((await tierOf(b)).tier).toBeNull();
  });

  it("a manual tier is no floor: after its date the review takes it down like any tier", async () => {
    const programId = await tiered({ downgrade: "TO_QUALIFIED", graceDays: 0 });
    const id = (await buy(programId, { customerExternalId: "m1" }, "m1", 20)).data.recordPurchase.customer.id;
    expect((await tierOf(id)).tier).toBeNull();
    const until = new Date(Date.now() + 10 * DAY).toISOString();
    const set = await t.gql(
      `mutation($c: ID!, $u: DateTime!) { setCustomerTier(customerId: $c, tier: "gold", until: $u, reason: "VIP guest") { ${TIER_FIELDS} } }`,
      { c: id, u: until },
    );
    expect(set.errors).toBeUndefined();
    expect(set.data.setCustomerTier.tier).toMatchObject({ tier: { key: "gold" }, manualUntil: until, reason: { summary: "VIP guest" } });
    await withClock(t, 5 * DAY, async () => expect((await review(programId)).data.runTierReview.reviewed).toBe(0));
    await withClock(t, 11 * DAY, async () => expect((await review(programId)).data.runTierReview).toEqual({ reviewed: 1, changed: 1 }));
    expect((await tierOf(id)).tier).toBeNull();
  });

  it("counts money spent to the cent: 42 + 8.02 reaches 50.02, not 50.019999999999996", async () => {
    const programId = await tiered({ basis: "AMOUNT_SPENT", levels: [{ key: "silver", name: "Silver", threshold: 50.02 }] });
    const id = (await buy(programId, { customerExternalId: "cents" }, "c1", 42)).data.recordPurchase.customer.id;
    const second = await buy(programId, { customerId: id }, "c2", 8.02);
    expect(second.data.recordPurchase.customer.tier.tier.key).toBe("silver");
    expect(second.data.recordPurchase.customer.tier.reason).toMatchObject({ basis: "AMOUNT_SPENT", value: 50.02, summary: "AMOUNT_SPENT 50.02 >= 50.02" });
  });

  it("a manual tier is no ceiling: qualifying higher upgrades at once", async () => {
    const programId = await tiered({});
    const id = (await buy(programId, { customerExternalId: "c1" }, "c1", 10)).data.recordPurchase.customer.id;
    const until = new Date(Date.now() + 100 * DAY).toISOString();
    await t.gql(`mutation($c: ID!, $u: DateTime!) { setCustomerTier(customerId: $c, tier: "silver", until: $u, reason: "welcome offer") { id } }`, {
      c: id,
      u: until,
    });
    const up = await buy(programId, { customerId: id }, "c2", 300);
    expect(up.data.recordPurchase.customer.tier).toMatchObject({ tier: { key: "gold" }, manualUntil: null });
    const bad = await t.gql(`mutation($c: ID!, $u: DateTime!) { setCustomerTier(customerId: $c, tier: "platinum", until: $u, reason: "typo") { id } }`, {
      c: id,
      u: until,
    });
    expect(bad.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "tier" });
  });
});
