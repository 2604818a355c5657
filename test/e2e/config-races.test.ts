/**
 * Concurrent configuration changes of one program: each replaces a set of rows (stages, rules,
 * tiers) after locking the program, so they run one after the other. Six identical updateLadder at
 * once used to answer INTERNAL_SERVER_ERROR (duplicate key on stages) for most of them.
 */
import { startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, ok, purchase, PURCHASE_RULE } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const UPDATE_LADDER = `mutation($p: ID!, $l: LadderInput!) { updateLadder(programId: $p, ladder: $l) { id stages { key } } }`;
const SET_RULES = `mutation($p: ID!, $r: [EarningRuleInput!]!) { setEarningRules(programId: $p, rules: $r) { id earningRules { id } } }`;
const SET_TIERS = `mutation($p: ID!, $t: TiersInput!) { setTiers(programId: $p, tiers: $t) { id } }`;
const CREATE_STAGE_REWARD = `mutation($i: CreateStageRewardInput!) { createStageReward(input: $i) { id } }`;
const CREATE_TRIGGER = `mutation($i: CreateRewardTriggerInput!) { createRewardTrigger(input: $i) { id } }`;

const GRIFFIN = ["suspect", "prospect", "disqualified_prospect", "first_time_customer", "repeat_customer", "client", "advocate", "lapsed"];
const FOURWEEK = ["prospect", "customer", "client", "supporter", "advocate"];

/** Every answer is data, or an error the client caused, with its field: never INTERNAL_SERVER_ERROR. */
function expectTyped(results: Array<{ status: number; errors?: any[] }>, allowed: string[] = []) {
  for (const r of results) {
    expect(r.status).not.toBe(500);
    for (const e of r.errors ?? []) {
      expect(allowed).toContain(e.extensions?.code);
      expect(e.extensions?.field).toBeTruthy();
    }
  }
}

async function stageKeys(programId: string): Promise<string[]> {
  const rows = await t.app.db.query(`SELECT key FROM stages WHERE program_id = $1 ORDER BY rank`, [programId]);
  return rows.map((r: any) => r.key);
}

async function programWithCustomers(): Promise<string> {
  const programId = await createProgram(t, { name: "Racing", ladder: { preset: "griffin-7" }, earningRules: [PURCHASE_RULE] });
  for (let i = 0; i < 3; i++) ok(await purchase(t, { programId, customerExternalId: `c${i}`, orderId: `o${i}`, amount: 10, currency: "EUR" }));
  return programId;
}

/** Every customer stands on a stage of the program's ladder as it is now. */
async function customersOnLadder(programId: string): Promise<void> {
  const strays = await t.app.db.query(
    `SELECT c.id, c.stage_key FROM customers c WHERE c.program_id = $1 AND NOT EXISTS (SELECT 1 FROM stages s WHERE s.program_id = c.program_id AND s.key = c.stage_key)`,
    [programId],
  );
  expect(strays).toEqual([]);
}

describe("concurrent configuration changes", () => {
  it("six identical updateLadder at once all succeed, leaving one ladder", async () => {
    const programId = await programWithCustomers();
    const results = await Promise.all(Array.from({ length: 6 }, () => t.gql(UPDATE_LADDER, { p: programId, l: { preset: "fourweekmba-5" } })));
    expectTyped(results);
    for (const r of results) expect(r.data.updateLadder.stages.map((s: any) => s.key)).toEqual(FOURWEEK);
    expect(await stageKeys(programId)).toEqual(FOURWEEK);
    await customersOnLadder(programId);
  });

  it("a mix of ladder, rule, tier and reward changes at once: each typed, the final state whole", async () => {
    const programId = await programWithCustomers();
    const rewardId = ok(await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, { i: { programId, name: "Mug", pointsCost: 10 } }))
      .data.createReward.id;
    const rules = [PURCHASE_RULE, { touchpointType: "REVIEW", fixedPoints: 5 }];
    const tiers = {
      levels: [
        { key: "silver", name: "Silver", threshold: 10 },
        { key: "gold", name: "Gold", threshold: 100 },
      ],
    };
    const calls: Array<Promise<any>> = [];
    for (let i = 0; i < 4; i++) {
      calls.push(t.gql(UPDATE_LADDER, { p: programId, l: { preset: i % 2 ? "griffin-7" : "fourweekmba-5" } }));
      // Rules without ids replace the whole list: two at once used to be able to leave both lists.
      calls.push(t.gql(SET_RULES, { p: programId, r: rules }));
      calls.push(t.gql(SET_TIERS, { p: programId, t: tiers }));
      // Its stage exists in one of the two ladders only: created, or refused with the field.
      calls.push(t.gql(CREATE_STAGE_REWARD, { i: { programId, name: `gift ${i}`, stage: "first_time_customer", rewardId } }));
      calls.push(t.gql(CREATE_TRIGGER, { i: { programId, name: `views ${i}`, rewardId, touchpointType: "PRODUCT_VIEW", minCount: 3, windowHours: 24 } }));
    }
    const results = await Promise.all(calls);
    expectTyped(results, ["BAD_USER_INPUT"]);
    // The ladder is one of the two, whole; the rules one list; the tiers one set.
    expect([GRIFFIN, FOURWEEK]).toContainEqual(await stageKeys(programId));
    const [counts] = await t.app.db.query(
      `SELECT (SELECT count(*) FROM earning_rules WHERE program_id = $1)::int AS rules, (SELECT count(*) FROM tiers WHERE program_id = $1)::int AS tiers,
              (SELECT count(*) FROM reward_triggers WHERE program_id = $1)::int AS triggers`,
      [programId],
    );
    expect(counts).toEqual({ rules: 2, tiers: 2, triggers: 4 });
    // A stage reward was created only while its stage existed.
    const created = results.filter((r) => r.data?.createStageReward).length;
    expect((await t.app.db.query(`SELECT count(*)::int AS n FROM stage_rewards WHERE program_id = $1`, [programId]))[0].n).toBe(created);
    // The API reads the same configuration as the tables (the cache was told of every change).
    const program = ok(await t.gql(`query($p: ID!) { program(id: $p) { stages { key } earningRules { id } tiers { key } } }`, { p: programId })).data.program;
    expect(program.stages.map((s: any) => s.key)).toEqual(await stageKeys(programId));
    expect(program.earningRules).toHaveLength(2);
    await customersOnLadder(programId);
  });
});
