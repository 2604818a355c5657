/**
 * Erasure, the right to be forgotten, through the API: who the customer was and what they wrote
 * go, what they did stays (anonymous, the ledger exact); nobody can name them again, their partner
 * id starts a new customer, and subscribed systems hear of it once.
 */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, createProgram, ok, pointsDisagreements, purchase, review } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const ERASE = `mutation($c: ID!) { eraseCustomer(customerId: $c) { id externalId email name attributes erasedAt points { balance lifetime } stage { key } stageHistory { to { key } } } }`;
const code = (res: any) => res.errors?.[0]?.extensions?.code;

describe("eraseCustomer", () => {
  it("forgets who the customer was and what they wrote, keeps what they did, and lets nobody name them again", async () => {
    const programId = await createProgram(t, {
      name: "Forgetful",
      ladder: { preset: "griffin-7" },
      earningRules: [
        { touchpointType: "PURCHASE", pointsPerUnit: 1 },
        { touchpointType: "REVIEW", fixedPoints: 5 },
      ],
    });
    const eve = ok(
      await t.gql(`mutation($i: UpsertCustomerInput!) { upsertCustomer(input: $i) { id } }`, {
        i: { programId, externalId: "eve@example.com", email: "eve@example.com", name: "Eve Example", attributes: { city: "Lyon" } },
      }),
    ).data.upsertCustomer.id;
    ok(await purchase(t, { programId, customerExternalId: "eve@example.com", orderId: "e1", amount: 30, currency: "EUR" }));
    ok(await purchase(t, { programId, customerExternalId: "eve@example.com", orderId: "e2", amount: 12, currency: "EUR" }));
    ok(await review(t, { programId, customerId: eve, reviewId: "r1", rating: 2, text: "Eve here: the parcel came late" }));
    const survey = ok(
      await t.gql(`mutation($i: CreateSurveyInput!) { createSurvey(input: $i) { id } }`, {
        i: {
          programId,
          name: "How was it?",
          questions: [
            { key: "nps", kind: "NPS", text: "Recommend us?" },
            { key: "why", kind: "TEXT", text: "Why?", required: false },
          ],
        },
      }),
    ).data.createSurvey.id;
    ok(
      await t.gql(`mutation($i: SubmitSurveyResponseInput!) { submitSurveyResponse(input: $i) { replayed } }`, {
        i: {
          surveyId: survey,
          customerId: eve,
          responseId: "s1",
          answers: [
            { questionKey: "nps", value: 3 },
            { questionKey: "why", text: "call me on 06 12 34 56 78" },
          ],
        },
      }),
    );
    const token = ok(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: eve })).data.issueCustomerToken.token;
    // In use (so this process has it cached as good) until the erasure.
    expect(ok(await t.gql(`{ programs { id } }`, {}, token)).data.programs).toEqual([{ id: programId }]);
    const events = collect(
      t.ws(),
      `subscription($p: ID!) { loyaltyEvents(programId: $p) { __typename ... on CustomerErasedEvent { sequence customerId at } } }`,
      { p: programId },
    );
    await listening(t.app, programId);

    // Only the program's ADMIN.
    expect(code(await t.gql(ERASE, { c: eve }, await createKey(t, programId, "PARTNER")))).toBe("FORBIDDEN");
    const otherProgram = await createProgram(t, { name: "Other", ladder: { preset: "griffin-7" } });
    expect(code(await t.gql(ERASE, { c: eve }, await createKey(t, otherProgram, "ADMIN")))).toBe("NOT_FOUND");

    const erased = ok(await t.gql(ERASE, { c: eve })).data.eraseCustomer;
    // Her token is refused at once, on reads of the program that name no customer too.
    for (const [query, variables] of [
      [`{ programs { id } }`, {}],
      [`query($p: ID!) { program(id: $p) { id } }`, { p: programId }],
      [`query($s: ID!) { survey(id: $s) { id } }`, { s: survey }],
      [`{ me { id } }`, {}],
    ] as const) {
      const refused = await t.gql(query, variables, token);
      expect([query, refused.status, code(refused)]).toEqual([query, 401, "UNAUTHENTICATED"]);
    }
    expect(erased).toMatchObject({ id: eve, externalId: `erased:${eve}`, email: null, name: null, attributes: {}, points: { balance: 47, lifetime: 47 } });
    expect(erased.erasedAt).toBeTruthy();
    expect(erased.stageHistory.map((h: any) => h.to.key)).toEqual(["first_time_customer", "repeat_customer"]);
    // What they wrote is gone; a survey response keeps only its survey and derived attitude.
    const stored = await t.app.db.query(`SELECT type, data, request_hash FROM touchpoints WHERE program_id = $1 AND customer_id = $2 ORDER BY id`, [
      programId,
      eve,
    ]);
    expect(stored).toHaveLength(4);
    expect(JSON.stringify(stored)).not.toMatch(/Eve|06 12|late|eve@example/);
    expect(stored.every((r) => r.request_hash === "erased")).toBe(true);
    expect(stored.find((r) => r.type === "SURVEY_RESPONSE").data).toEqual({ survey: expect.objectContaining({ id: survey, responseId: "s1" }) });
    expect(JSON.stringify(await t.app.db.query(`SELECT * FROM customers WHERE id = $1`, [eve]))).not.toMatch(/Eve|Lyon|eve@example/);
    expect(await pointsDisagreements(t, programId)).toEqual([]);

    // Subscribed systems hear it once; erasing again changes nothing.
    await events.next(1);
    expect(events.items[0].loyaltyEvents).toMatchObject({ __typename: "CustomerErasedEvent", customerId: eve });
    const again = ok(await t.gql(ERASE, { c: eve })).data.eraseCustomer;
    expect(again.erasedAt).toBe(erased.erasedAt);
    // Erasing again sent nothing: a marker written after it (another customer's visit) arrives,
    // and before it came the one erasure event only.
    ok(
      await t.gql(`mutation($i: RecordTouchpointInput!) { recordTouchpoint(input: $i) { replayed } }`, {
        i: { programId, customerExternalId: "marker", type: "VISIT", externalId: "marker-1" },
      }),
    );
    const beforeMarker = await events.before((e: any) => e.loyaltyEvents.__typename === "TouchpointRecordedEvent");
    expect(beforeMarker.filter((e: any) => e.loyaltyEvents.__typename === "CustomerErasedEvent")).toHaveLength(1);
    events.unsubscribe();

    // Nobody can name them again: not by our id, not by the erased id; their old partner id is a new customer.
    expect(code(await purchase(t, { programId, customerId: eve, orderId: "e3", amount: 5, currency: "EUR" }))).toBe("NOT_FOUND");
    const reuse = await purchase(t, { programId, customerExternalId: `erased:${eve}`, orderId: "e4", amount: 5, currency: "EUR" });
    expect(code(reuse)).toBe("BAD_USER_INPUT");
    expect(reuse.errors?.[0].extensions?.field).toBe("customerExternalId");
    expect(
      code(
        await t.gql(`mutation($i: UpsertCustomerInput!) { upsertCustomer(input: $i) { id } }`, { i: { programId, externalId: `erased:${eve}`, name: "Eve" } }),
      ),
    ).toBe("BAD_USER_INPUT");
    const back = ok(await purchase(t, { programId, customerExternalId: "eve@example.com", orderId: "e5", amount: 5, currency: "EUR" })).data.recordPurchase;
    expect(back.customer.id).not.toBe(eve);
    expect(back.customer.points.balance).toBe(5);
    // Nor by her orders, or any other write that names her by id.
    expect(
      code(
        await t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned } }`, {
          i: { programId, orderId: "e1", refundId: "e1-r", amount: 10 },
        }),
      ),
    ).toBe("NOT_FOUND");
    expect(
      code(
        await t.gql(`mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { points } }`, {
          i: { programId, customerId: eve, points: 5, reason: "goodwill", idempotencyKey: "adj" },
        }),
      ),
    ).toBe("NOT_FOUND");
    const reward = ok(await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, { i: { programId, name: "Mug", pointsCost: 5 } })).data
      .createReward.id;
    const REDEEM = `mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename } }`;
    expect(code(await t.gql(REDEEM, { i: { customerId: eve, rewardId: reward, idempotencyKey: "mug" } }))).toBe("NOT_FOUND");
    // Her own token no longer names anyone: refused before any operation looks at her.
    const redeemed = await t.gql(REDEEM, { i: { customerId: eve, rewardId: reward, idempotencyKey: "mug" } }, token);
    expect([redeemed.status, code(redeemed)]).toEqual([401, "UNAUTHENTICATED"]);
    const referral = await t.gql(`mutation($i: RecordReferralInput!) { recordReferral(input: $i) { replayed } }`, {
      i: { programId, referrerId: eve, refereeExternalId: "friend", referralId: "ref1" },
    });
    expect(code(referral)).toBe("NOT_FOUND");
    expect(await t.app.db.query(`SELECT 1 FROM customers WHERE program_id = $1 AND external_id = 'friend'`, [programId])).toEqual([]);
    expect(await pointsDisagreements(t, programId)).toEqual([]);
    expect(ok(await t.gql(`query($c: ID!) { customer(id: $c) { points { balance } } }`, { c: eve })).data.customer.points.balance).toBe(47);
    // Her sessions end: the token she held, and no new one.
    expect(code(await t.gql(`{ me { id } }`, {}, token))).toBe("UNAUTHENTICATED");
    expect(code(await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: eve }))).toBe("NOT_FOUND");
    const after = ok(await t.gql(`query($c: ID!) { customer(id: $c) { points { balance } erasedAt } }`, { c: eve })).data.customer;
    expect(after).toEqual({ points: { balance: 47 }, erasedAt: erased.erasedAt });
  });
});
