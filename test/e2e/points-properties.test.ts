/**
 * Properties of the points economy over the real database, through the API (fast-check, 1,000
 * runs): whatever sequence of earn / spend / refund / adjust / expire a customer goes through,
 *   - the balance equals the sum of the ledger, and max(balance, 0) the points left in active lots,
 *     pending points the points left in pending lots;
 *   - no purchase ever has more points reversed than it earned;
 *   - expiry takes exactly what is left in expired lots (lots and ledger never disagree).
 * Each run uses a new customer; the clock only moves forward.
 */
import fc from "fast-check";
import { startTestApp, TestApp } from "../helpers/test-app";
import { createProgram, DAY, pointsDisagreements } from "../helpers/operations";

let t: TestApp;
const programs: string[] = [];
const rewards = new Map<string, string[]>();

beforeAll(async () => {
  t = await startTestApp();
  // Negative balances paid by new points; clamped refunds; and pending points activating into a debt.
  for (const [overdraft, pendingDays] of [
    ["ALLOW_NEGATIVE", 0],
    ["CLAMP_AT_ZERO", 0],
    ["ALLOW_NEGATIVE", 3],
  ] as const) {
    const programId = await createProgram(t, {
      name: `Properties ${overdraft} ${pendingDays}`,
      ladder: { preset: "griffin-7" },
      earningRules: [
        { touchpointType: "PURCHASE", pointsPerUnit: 1, priority: 2 },
        { touchpointType: "PURCHASE", multiplier: 2, skus: ["B"], priority: 1 },
      ],
      points: { pendingDays, expiry: "AFTER_DAYS", expiryDays: 20, overdraft },
    });
    programs.push(programId);
    const ids: string[] = [];
    for (const cost of [7, 30, 90]) {
      const r = await t.gql(`mutation($i: CreateRewardInput!) { createReward(input: $i) { id } }`, {
        i: { programId, name: `cost ${cost}`, pointsCost: cost },
      });
      ids.push(r.data.createReward.id);
    }
    rewards.set(programId, ids);
  }
});
afterAll(() => t.stop());

type Command =
  | { kind: "earn"; a: number; b: number }
  | { kind: "spend"; reward: number }
  | { kind: "refund"; order: number; part: number }
  | { kind: "adjust"; points: number }
  | { kind: "wait"; days: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("earn" as const), a: fc.integer({ min: 0, max: 60 }), b: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("spend" as const), reward: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("refund" as const), order: fc.nat(), part: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("adjust" as const), points: fc.integer({ min: -80, max: 80 }).filter((n) => n !== 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("wait" as const), days: fc.integer({ min: 1, max: 25 }) }) },
);

let run = 0;

async function check(programId: string, customerId: string | null): Promise<void> {
  const disagreements = (await pointsDisagreements(t, programId)).filter((d) => !customerId || d.id === customerId);
  if (disagreements.length > 0) throw new Error(`points disagree: ${JSON.stringify(disagreements)}`);
  const [over] = await t.app.db.query(
    `SELECT count(*)::int AS n FROM touchpoints WHERE program_id = $1 AND type = 'PURCHASE' AND (points_reversed > points OR points_reversed < 0)`,
    [programId],
  );
  if (over.n > 0) throw new Error("a purchase had more points reversed than it earned");
}

async function execute(programId: string, commands: Command[]): Promise<void> {
  run++;
  const external = `prop-${run}`;
  let customerId: string | null = null;
  const orders: Array<{ id: string; amount: number; refunded: number }> = [];
  for (const [i, c] of commands.entries()) {
    if (c.kind === "earn") {
      const lines = [
        { sku: "A", quantity: 1, unitPrice: c.a },
        { sku: "B", quantity: 1, unitPrice: c.b },
      ];
      const orderId = `${external}-o${i}`;
      const res = await t.gql(`mutation($i: RecordPurchaseInput!) { recordPurchase(input: $i) { customer { id } } }`, {
        i: { programId, customerExternalId: external, orderId, amount: c.a + c.b, currency: "EUR", lines },
      });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
      customerId = res.data.recordPurchase.customer.id;
      orders.push({ id: orderId, amount: c.a + c.b, refunded: 0 });
    } else if (!customerId) {
      continue;
    } else if (c.kind === "spend") {
      const res = await t.gql(`mutation($i: RedeemRewardInput!) { redeemReward(input: $i) { __typename } }`, {
        i: { customerId, rewardId: rewards.get(programId)![c.reward], idempotencyKey: `${external}-s${i}` },
      });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
    } else if (c.kind === "refund") {
      const order = orders[c.order % orders.length];
      const left = order.amount - order.refunded;
      if (left <= 0) continue;
      const amount = c.part === 4 ? left : Math.max(1, Math.floor(left / c.part));
      const res = await t.gql(`mutation($i: RecordRefundInput!) { recordRefund(input: $i) { pointsEarned } }`, {
        i: { programId, orderId: order.id, refundId: `${external}-r${i}`, amount },
      });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
      order.refunded += amount;
    } else if (c.kind === "adjust") {
      const res = await t.gql(`mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { points } }`, {
        i: { programId, customerId, points: c.points, reason: "property test", idempotencyKey: `${external}-a${i}` },
      });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
    } else {
      t.advanceClock(c.days * DAY);
      const res = await t.gql(`mutation($p: ID!) { runPointsLifecycle(programId: $p) { expired } }`, { p: programId });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
    }
    await check(programId, customerId);
  }
}

describe("points properties (1,000 runs)", () => {
  it("balance = ledger = lots, refunds never exceed what was earned, expiry keeps lots and ledger together", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.array(command, { minLength: 1, maxLength: 8 }), async (p, commands) => {
        await execute(programs[p], commands);
      }),
      { numRuns: 1000 },
    );
  }, 600_000);
});
