/** One helper per GraphQL operation the tests use, so each test reads as a user's story. */
import { TestApp, ADMIN_KEY } from "./test-app";

export const CUSTOMER_FIELDS = `
  id externalId programId
  stage { key name rank }
  points { balance pending lifetime }
  stageHistory { id from { key } to { key } at cause reason { stage pathIndex summary criteria { metric op value windowDays have passed } } }
  nextStage { stage { key } pathIndex requirements { criterion { metric op value windowDays } have need met } }
`;

export const PAYLOAD_FIELDS = `
  touchpoint { id type externalId amount points occurredAt }
  pointsEarned replayed
  customer { ${CUSTOMER_FIELDS} }
  stageChange { id from { key } to { key } cause reason { summary pathIndex criteria { metric have passed } } }
`;

export async function createProgram(t: TestApp, input: Record<string, unknown>): Promise<string> {
  const res = await t.gql(`mutation($input: CreateProgramInput!) { createProgram(input: $input) { id } }`, { input });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data.createProgram.id;
}

/** The result, or a thrown error naming the GraphQL errors it carried. */
export function ok<T extends { errors?: unknown }>(res: T): T {
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res;
}

export const PURCHASE_RULE = { touchpointType: "PURCHASE", pointsPerUnit: 1 };

export async function griffinProgram(t: TestApp, extraRules: Array<Record<string, unknown>> = []): Promise<string> {
  return createProgram(t, { name: "Griffin shop", ladder: { preset: "griffin-7" }, earningRules: [PURCHASE_RULE, ...extraRules] });
}

export async function createKey(t: TestApp, programId: string, role: string, token: string = ADMIN_KEY): Promise<string> {
  const res = await t.gql(
    `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id role } } }`,
    { input: { programId, role, name: `${role} key` } },
    token,
  );
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data.createApiKey.secret;
}

export function purchase(t: TestApp, input: Record<string, unknown>, token?: string) {
  return t.gql(`mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { ${PAYLOAD_FIELDS} } }`, { input }, token);
}

export function refund(t: TestApp, input: Record<string, unknown>, token?: string) {
  return t.gql(`mutation($input: RecordRefundInput!) { recordRefund(input: $input) { ${PAYLOAD_FIELDS} } }`, { input }, token);
}

export function review(t: TestApp, input: Record<string, unknown>, token?: string) {
  return t.gql(`mutation($input: RecordReviewInput!) { recordReview(input: $input) { ${PAYLOAD_FIELDS} } }`, { input }, token);
}

export function touchpoint(t: TestApp, input: Record<string, unknown>, token?: string) {
  return t.gql(`mutation($input: RecordTouchpointInput!) { recordTouchpoint(input: $input) { ${PAYLOAD_FIELDS} } }`, { input }, token);
}

export function getCustomer(t: TestApp, id: string, token?: string) {
  return t.gql(`query($id: ID!) { customer(id: $id) { ${CUSTOMER_FIELDS} } }`, { id }, token);
}

export function recompute(t: TestApp, programId: string, token?: string) {
  return t.gql(`mutation($p: ID!) { recomputeStages(programId: $p) { evaluated changed skipped } }`, { p: programId }, token);
}

/** Row counts of the write tables: "the database is unchanged" is these being equal. */
export async function tableCounts(t: TestApp): Promise<Record<string, number>> {
  const [row] = await t.app.db.query(`SELECT
    (SELECT count(*) FROM customers)::int AS customers, (SELECT count(*) FROM touchpoints)::int AS touchpoints,
    (SELECT count(*) FROM ledger_entries)::int AS ledger, (SELECT count(*) FROM stage_transitions)::int AS transitions,
    (SELECT count(*) FROM outbox)::int AS outbox, (SELECT count(*) FROM programs)::int AS programs,
    (SELECT coalesce(sum(balance), 0)::int FROM customers) AS balance`);
  return row;
}

export const DAY = 86_400_000;

/**
 * Customers whose points disagree with their ledger or lots: balance = sum(ledger),
 * max(balance, 0) = spendable lots left, pending = pending lots left. Empty when all agree.
 */
export async function pointsDisagreements(t: TestApp, programId?: string): Promise<any[]> {
  return t.app.db.query(
    `SELECT c.id, c.balance, c.pending_points,
            (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.program_id = c.program_id AND l.customer_id = c.id) AS ledger,
            (SELECT coalesce(sum(remaining), 0) FROM point_lots p WHERE p.program_id = c.program_id AND p.customer_id = c.id AND p.status = 'ACTIVE') AS active,
            (SELECT coalesce(sum(remaining), 0) FROM point_lots p WHERE p.program_id = c.program_id AND p.customer_id = c.id AND p.status = 'PENDING') AS pending
       FROM customers c WHERE $1::uuid IS NULL OR c.program_id = $1
     EXCEPT
     SELECT c.id, c.balance, c.pending_points, c.balance, greatest(c.balance, 0), c.pending_points
       FROM customers c WHERE $1::uuid IS NULL OR c.program_id = $1`,
    [programId ?? null],
  );
}

/** Runs `run` with the app's clock moved forward by `ms`, and moves it back after. */
export async function withClock<T>(t: TestApp, ms: number, run: () => Promise<T>): Promise<T> {
  t.advanceClock(ms);
  try {
    return await run();
  } finally {
    t.advanceClock(-ms);
  }
}
