/**
 * Two write batches in flight per program (WRITE_BATCHES_IN_FLIGHT=2, PostgreSQL server only):
 * batches in flight never share a customer, so each customer's records are written in arrival
 * order (their stage moves come from the 1st, 2nd and 4th purchase), and nothing is lost or doubled.
 */
import { createContext } from "../../src/context";
import { TouchpointType } from "../../src/modules/program/earning";
import { startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, pointsDisagreements } from "../helpers/operations";

const withServer = process.env.DATABASE_URL ? describe : describe.skip;

withServer("two batches in flight", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ writeBatchesInFlight: 2, poolSize: 6 });
  });
  afterAll(() => t.stop());

  it("keeps every customer's records in arrival order and every point once", async () => {
    const programId = await griffinProgram(t);
    const config = await t.app.programs.config(programId);
    const ctx = createContext(t.app, { kind: "root" }, "in-flight-test");
    const record = (customer: string, n: number) =>
      t.app.touchpoints.record(ctx, config, {
        programId,
        customerExternalId: customer,
        type: TouchpointType.PURCHASE,
        externalId: `${customer}-${n}`,
        keyField: "orderId",
        occurredAt: new Date(),
        amount: 10 + n,
        currency: "EUR",
        hashed: { customer, n },
      });
    // Count the batches in flight, to know the test ran two at once.
    const batcher = (t.app.touchpoints as any).batcher;
    const run = batcher.run.bind(batcher);
    let inFlight = 0;
    let most = 0;
    batcher.run = async (...args: unknown[]) => {
      most = Math.max(most, ++inFlight);
      try {
        return await run(...args);
      } finally {
        inFlight--;
      }
    };
    // Waves of records, each wave submitted while earlier batches are still in flight.
    const pending: Array<Promise<unknown>> = [];
    for (let n = 0; n < 8; n++) {
      for (let c = 0; c < 30; c++) pending.push(record(`c${c}`, n));
      for (let h = 0; h < 5; h++) pending.push(record("hot", n * 5 + h));
      // Customers of their own in each wave: they can go in a second batch while the first is in flight.
      for (let k = 0; k < 10; k++) pending.push(record(`w${n}x${k}`, 0));
      await new Promise((r) => setImmediate(r));
    }
    const results = await Promise.allSettled(pending);
    batcher.run = run;
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(most).toBe(2);

    const rows = await t.app.db.query(
      `SELECT c.external_id, c.purchase_count, c.balance,
              (SELECT array_agg(t.external_id ORDER BY t.id) FROM touchpoints t WHERE t.program_id = c.program_id AND t.customer_id = c.id) AS orders,
              (SELECT array_agg(t.external_id ORDER BY s.id) FROM stage_transitions s JOIN touchpoints t ON t.program_id = s.program_id AND t.id = s.touchpoint_id
                WHERE s.program_id = c.program_id AND s.customer_id = c.id) AS moves
         FROM customers c WHERE c.program_id = $1`,
      [programId],
    );
    expect(rows).toHaveLength(31 + 80);
    for (const row of rows.filter((r) => !/^w\d/.test(r.external_id))) {
      const count = row.external_id === "hot" ? 40 : 8;
      expect(row.purchase_count).toBe(count);
      // In arrival order: touchpoint ids follow n.
      expect(row.orders).toEqual(Array.from({ length: count }, (_, n) => `${row.external_id}-${n}`));
      expect(row.moves).toEqual([`${row.external_id}-0`, `${row.external_id}-1`, `${row.external_id}-3`]);
    }
    expect(await pointsDisagreements(t, programId)).toEqual([]);
  });
});
