/** A nested page costs the same number of SQL statements for 5 customers as for 50. */
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, purchase, touchpoint } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const NESTED = `query($p: ID!) {
  customers(programId: $p, first: 50) {
    nodes {
      stage { key }
      stageHistory { to { key } }
      touchpoints(first: 5) { nodes { type } }
      ledger(first: 3) { nodes { amount } }
      nextStage { stage { key } requirements { have need } }
      points { balance }
      rfm { score }
      clv
      loyalty { quadrant }
    }
  }
}`;

async function programWith(customers: number): Promise<string> {
  const programId = await griffinProgram(t);
  await Promise.all(
    Array.from({ length: customers }, async (_, i) => {
      await touchpoint(t, { programId, customerExternalId: `c${i}`, type: "VISIT", externalId: `v${i}` });
      for (let k = 0; k < 2; k++) await purchase(t, { programId, customerExternalId: `c${i}`, orderId: `o${i}-${k}`, amount: 5, currency: "EUR" });
    }),
  );
  return programId;
}

async function statementsFor(programId: string): Promise<{ count: number; nodes: any[] }> {
  await t.gql(NESTED, { p: programId }); // warm the program's configuration cache
  const res = await fetch(t.server.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ query: NESTED, variables: { p: programId } }),
  });
  const body = (await res.json()) as any;
  expect(body.errors).toBeUndefined();
  return { count: Number(res.headers.get("x-sql-statements")), nodes: body.data.customers.nodes };
}

it("does not grow with the number of customers", async () => {
  const small = await statementsFor(await programWith(5));
  const large = await statementsFor(await programWith(50));
  expect(small.nodes).toHaveLength(5);
  expect(large.nodes).toHaveLength(50);
  for (const node of large.nodes) {
    expect(node.stage.key).toBe("repeat_customer");
    expect(node.stageHistory.map((h: any) => h.to.key)).toEqual(["prospect", "first_time_customer", "repeat_customer"]);
    expect(node.touchpoints.nodes.map((n: any) => n.type)).toEqual(["PURCHASE", "PURCHASE", "VISIT"]);
    expect(node.ledger.nodes).toEqual([{ amount: 5 }, { amount: 5 }]);
    expect(node.nextStage).toEqual({ stage: { key: "client" }, requirements: [{ have: 2, need: 4 }] });
  }
  // The page, stage history, touchpoints, ledger, the windowed metrics of nextStage, the latest
  // survey responses and the redemptions of the customers whose loyalty quadrant depends on them
  // (they all buy alike, and recently: INERTIA or MERCENARY): one each. RFM's percentiles are cached.
  expect(large.count).toBe(small.count);
  expect(large.count).toBe(7);
});
