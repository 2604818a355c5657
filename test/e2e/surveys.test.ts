/**
 * Surveys through the API: ADMIN creates them, storefronts read them, partner apps and customer
 * tokens answer them; a response is an idempotent SURVEY_RESPONSE touchpoint that earns points and
 * sets the customer's NPS; bad answers are BAD_USER_INPUT with the field and write nothing.
 */
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, createProgram, ok, tableCounts, touchpoint } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const QUESTIONS = [
  { key: "recommend", kind: "NPS", text: "How likely are you to recommend us to a friend?" },
  { key: "buy_again", kind: "AGREEMENT", text: "I will buy here again." },
  { key: "comment", kind: "TEXT", text: "Anything else?", required: false },
];

const SUBMIT = `mutation($i: SubmitSurveyResponseInput!) { submitSurveyResponse(input: $i) {
  replayed pointsEarned touchpoint { id type externalId data } customer { id metrics { nps } loyalty { attitudinal } }
} }`;

async function setup() {
  const programId = await createProgram(t, {
    name: "Surveyed",
    ladder: { preset: "griffin-7" },
    earningRules: [
      { touchpointType: "PURCHASE", pointsPerUnit: 1 },
      { touchpointType: "SURVEY_RESPONSE", fixedPoints: 20 },
    ],
  });
  const res = await t.gql(`mutation($i: CreateSurveyInput!) { createSurvey(input: $i) { id active questions { key kind required min max } } }`, {
    i: { programId, name: "After purchase", questions: QUESTIONS },
  });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return { programId, survey: res.data.createSurvey };
}

// A customer token may not read loyalty scores (value.resolver.ts): its own answers ask for less.
const SUBMIT_OWN = SUBMIT.replace(" loyalty { attitudinal }", "");

const programOf = async (surveyId: string): Promise<string> =>
  (await t.gql(`query($s: ID!) { survey(id: $s) { programId } }`, { s: surveyId })).data.survey.programId;

const submit = (input: Record<string, unknown>, token?: string) => t.gql(token ? SUBMIT_OWN : SUBMIT, { i: input }, token);

describe("surveys", () => {
  it("are created by ADMIN with their scales, and listed on the program for a storefront", async () => {
    const { programId, survey } = await setup();
    expect(survey).toMatchObject({
      active: true,
      questions: [
        { key: "recommend", kind: "NPS", required: true, min: 0, max: 10 },
        { key: "buy_again", kind: "AGREEMENT", required: true, min: 1, max: 5 },
        { key: "comment", kind: "TEXT", required: false, min: null, max: null },
      ],
    });
    const storefront = await createKey(t, programId, "STOREFRONT");
    const listed = await t.gql(`query($p: ID!) { program(id: $p) { surveys { id name } } }`, { p: programId }, storefront);
    expect(listed.data.program.surveys).toEqual([{ id: survey.id, name: "After purchase" }]);
    const partner = await createKey(t, programId, "PARTNER");
    const denied = await t.gql(
      `mutation($i: CreateSurveyInput!) { createSurvey(input: $i) { id } }`,
      { i: { programId, name: "x", questions: QUESTIONS } },
      partner,
    );
    expect(denied.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("rejects malformed questions with the field", async () => {
    const { programId } = await setup();
    const create = (questions: unknown[]) =>
      t.gql(`mutation($i: CreateSurveyInput!) { createSurvey(input: $i) { id } }`, { i: { programId, name: "Bad", questions } });
    const twice = await create([QUESTIONS[0], { ...QUESTIONS[1], key: "recommend" }]);
    expect(twice.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "questions[1].key" });
    const twoNps = await create([QUESTIONS[0], { ...QUESTIONS[0], key: "again" }]);
    expect(twoNps.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "questions" });
    const badKey = await create([{ ...QUESTIONS[0], key: "Recommend!" }]);
    expect(badKey.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "questions[0].key" });
  });

  it("records a response once: points, the answers, and the customer's NPS; a retry replays it", async () => {
    const { programId, survey } = await setup();
    expect(await programOf(survey.id)).toBe(programId);
    const input = {
      surveyId: survey.id,
      customerExternalId: "ann",
      responseId: "r-1",
      answers: [
        { questionKey: "recommend", value: 9 },
        { questionKey: "buy_again", value: 4 },
        { questionKey: "comment", text: " Great shop " },
      ],
    };
    const first = await submit(input);
    expect(first.errors).toBeUndefined();
    expect(first.data.submitSurveyResponse).toMatchObject({
      replayed: false,
      pointsEarned: 20,
      touchpoint: {
        type: "SURVEY_RESPONSE",
        externalId: "r-1",
        data: { survey: { id: survey.id, responseId: "r-1", attitude: 82.5 }, answers: { recommend: 9, buy_again: 4, comment: "Great shop" } },
      },
      // Attitude: the response's answers on 0-100, NPS 9 → 90 and agreement 4 → 75.
      customer: { metrics: { nps: 9 }, loyalty: { attitudinal: 82.5 } },
    });
    // A client cannot pass its own data off as a survey response.
    const forged = await touchpoint(t, {
      programId,
      customerExternalId: "ann",
      type: "SURVEY_RESPONSE",
      externalId: "forged",
      data: { survey: { attitude: 100 } },
    });
    expect(forged.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "data.survey" });
    // A later NPS answer recorded as a plain touchpoint is the customer's latest word.
    const direct = await touchpoint(t, { programId, customerExternalId: "ann", type: "SURVEY_RESPONSE", externalId: "nps-later", data: { nps: 4 } });
    expect(direct.errors).toBeUndefined();
    const ann = await t.gql(`query($id: ID!) { customer(id: $id) { loyalty { attitudinal } } }`, { id: first.data.submitSurveyResponse.customer.id });
    expect(ann.data.customer.loyalty.attitudinal).toBe(40);
    const before = await tableCounts(t);
    const again = await submit({ ...input, answers: [...input.answers].reverse() });
    expect(again.data.submitSurveyResponse).toMatchObject({ replayed: true, pointsEarned: 20 });
    const changed = await submit({
      ...input,
      answers: [
        { questionKey: "recommend", value: 2 },
        { questionKey: "buy_again", value: 1 },
      ],
    });
    expect(changed.errors?.[0].extensions?.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("rejects answers that do not fit the survey, with the field, writing nothing", async () => {
    const { survey } = await setup();
    const before = await tableCounts(t);
    const base = { surveyId: survey.id, customerExternalId: "bob", responseId: "r-bad" };
    const cases: Array<[unknown[], string]> = [
      [
        [
          { questionKey: "recommend", value: 11 },
          { questionKey: "buy_again", value: 3 },
        ],
        "answers[0].value",
      ],
      [
        [
          { questionKey: "recommend", value: 5 },
          { questionKey: "buy_again", value: 0 },
        ],
        "answers[1].value",
      ],
      [
        [
          { questionKey: "recommend", value: 5 },
          { questionKey: "nope", value: 3 },
        ],
        "answers[1].questionKey",
      ],
      [[{ questionKey: "recommend", value: 5 }], "answers"],
      [
        [
          { questionKey: "recommend", value: 5 },
          { questionKey: "recommend", value: 6 },
        ],
        "answers[1].questionKey",
      ],
      [
        [
          { questionKey: "recommend", text: "ten" },
          { questionKey: "buy_again", value: 3 },
        ],
        "answers[0].text",
      ],
      [
        [
          { questionKey: "recommend", value: 5 },
          { questionKey: "buy_again", value: 3 },
          { questionKey: "comment", value: 3 },
        ],
        "answers[2].value",
      ],
      [[], "answers"],
    ];
    for (const [answers, field] of cases) {
      const res = await submit({ ...base, answers });
      expect(res.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    const noSuch = await submit({ ...base, surveyId: "00000000-0000-4000-8000-000000000000", answers: [{ questionKey: "recommend", value: 5 }] });
    expect(noSuch.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("takes a customer token's answers for its own customer only, and none once closed", async () => {
    const { programId, survey } = await setup();
    const answers = [
      { questionKey: "recommend", value: 10 },
      { questionKey: "buy_again", value: 5 },
    ];
    const cara = (await submit({ surveyId: survey.id, customerExternalId: "cara", responseId: "c-1", answers })).data.submitSurveyResponse.customer.id;
    const dan = (await submit({ surveyId: survey.id, customerExternalId: "dan", responseId: "d-1", answers })).data.submitSurveyResponse.customer.id;
    const token = (await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: cara })).data.issueCustomerToken.token;
    const own = await submit(
      {
        surveyId: survey.id,
        responseId: "c-2",
        answers: [
          { questionKey: "recommend", value: 3 },
          { questionKey: "buy_again", value: 2 },
        ],
      },
      token,
    );
    expect(own.errors).toBeUndefined();
    expect(own.data.submitSurveyResponse.customer).toMatchObject({ id: cara, metrics: { nps: 3 } });
    // A member answers a survey once: another responseId does not earn the survey's points again.
    const balance = async (id: string) => (await t.gql(`query($id: ID!) { customer(id: $id) { points { balance } } }`, { id })).data.customer.points.balance;
    const afterOne = await balance(cara);
    const again = await submit(
      {
        surveyId: survey.id,
        responseId: "c-9",
        answers: [
          { questionKey: "recommend", value: 3 },
          { questionKey: "buy_again", value: 2 },
        ],
      },
      token,
    );
    expect(again.errors?.[0].extensions?.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(await balance(cara)).toBe(afterOne);
    const backdated = await submit({ surveyId: survey.id, responseId: "c-8", occurredAt: "2020-01-01T00:00:00Z", answers }, token);
    expect(backdated.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "occurredAt" });
    // Dan's token sending Cara's very request gets Dan's own response, never Cara's replayed.
    const danToken = (await t.gql(`mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }`, { c: dan })).data.issueCustomerToken.token;
    const same = await submit(
      {
        surveyId: survey.id,
        responseId: "c-2",
        answers: [
          { questionKey: "recommend", value: 3 },
          { questionKey: "buy_again", value: 2 },
        ],
      },
      danToken,
    );
    expect(same.data.submitSurveyResponse).toMatchObject({ replayed: false, customer: { id: dan } });
    const forOther = await submit({ surveyId: survey.id, customerId: dan, responseId: "c-3", answers }, token);
    expect(forOther.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const storefront = await createKey(t, programId, "STOREFRONT");
    const byKey = await submit({ surveyId: survey.id, customerId: dan, responseId: "d-2", answers }, storefront);
    expect(byKey.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    // Another program's key cannot tell the survey exists.
    const other = await setup();
    const stranger = await createKey(t, other.programId, "PARTNER");
    const foreign = await submit({ surveyId: survey.id, customerId: dan, responseId: "d-3", answers }, stranger);
    expect(foreign.errors?.[0].extensions?.code).toBe("NOT_FOUND");

    const closed = await t.gql(`mutation($s: ID!) { setSurveyActive(surveyId: $s, active: false) { active } }`, { s: survey.id });
    expect(closed.data.setSurveyActive.active).toBe(false);
    const late = await submit({ surveyId: survey.id, customerId: dan, responseId: "d-4", answers });
    expect(late.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "surveyId" });
    // A retry of a response given while it was open still gets its first result.
    const retry = await submit({ surveyId: survey.id, customerExternalId: "dan", responseId: "d-1", answers });
    expect(retry.data.submitSurveyResponse).toMatchObject({ replayed: true, customer: { id: dan } });
  });

  it("alerts on detractors (NPS 0-6) after commit, from a survey or a SURVEY_RESPONSE touchpoint, once", async () => {
    const { programId, survey } = await setup();
    const feed = collect(
      t.ws(),
      `subscription($p: ID!) { loyaltyEvents(programId: $p) {
      __typename ... on DetractorAlertEvent { customerId nps previousNps surveyId externalId touchpointId }
      ... on TouchpointRecordedEvent { recorded: externalId }
    } }`,
      { p: programId },
    );
    await listening(t.app, programId);
    const answers = (nps: number) => [
      { questionKey: "recommend", value: nps },
      { questionKey: "buy_again", value: 3 },
    ];
    const promoter = ok(await submit({ surveyId: survey.id, customerExternalId: "fay", responseId: "f-1", answers: answers(9) }));
    const detractor = ok(await submit({ surveyId: survey.id, customerExternalId: "fay", responseId: "f-2", answers: answers(6) }));
    ok(await submit({ surveyId: survey.id, customerExternalId: "fay", responseId: "f-2", answers: answers(6) })); // a retry: no second alert
    const direct = ok(await touchpoint(t, { programId, customerExternalId: "gus", type: "SURVEY_RESPONSE", externalId: "g-1", data: { nps: 0 } }));
    ok(await touchpoint(t, { programId, customerExternalId: "gus", type: "SURVEY_RESPONSE", externalId: "g-2", data: { nps: 7 } }));
    await feed.next(6); // four touchpoints recorded (the retry records nothing) and two alerts
    // No second alert of the retry: a marker recorded after it arrives, and before it came these.
    ok(await touchpoint(t, { programId, customerExternalId: "gus", type: "SURVEY_RESPONSE", externalId: "g-marker", data: { nps: 8 } }));
    const beforeMarker = await feed.before((i: any) => i.loyaltyEvents.recorded === "g-marker");
    expect(beforeMarker).toHaveLength(6);
    const alerts = beforeMarker.map((i: any) => i.loyaltyEvents).filter((e: any) => e.__typename === "DetractorAlertEvent");
    const fay = promoter.data.submitSurveyResponse.customer.id;
    expect(alerts).toEqual([
      {
        __typename: "DetractorAlertEvent",
        customerId: fay,
        nps: 6,
        previousNps: 9,
        surveyId: survey.id,
        externalId: "f-2",
        touchpointId: detractor.data.submitSurveyResponse.touchpoint.id,
      },
      {
        __typename: "DetractorAlertEvent",
        customerId: direct.data.recordTouchpoint.customer.id,
        nps: 0,
        previousNps: null,
        surveyId: null,
        externalId: "g-1",
        touchpointId: direct.data.recordTouchpoint.touchpoint.id,
      },
    ]);
    feed.unsubscribe();
  });
});
