/**
 * `loyalty import`: a shop's history from an NDJSON file, each line through its API mutation in
 * process (same validation, same write path). Customers' lines run in file order, refunds after
 * their orders, bad lines are reported by number and skipped, and importing again writes nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestApp, TestApp } from "../helpers/test-app";
import { importFile } from "../../src/cli/import";
import { DAY, griffinProgram, ok, pointsDisagreements, tableCounts } from "../helpers/operations";

let t: TestApp;
let dir: string;
beforeAll(async () => {
  t = await startTestApp();
  dir = mkdtempSync(join(tmpdir(), "loyalty-import-"));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t.stop();
});

function file(name: string, lines: Array<Record<string, unknown> | string>): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return path;
}

async function customer(programId: string, externalId: string) {
  const res = await t.gql(
    `query($p: ID!, $e: String!) { customer(programId: $p, externalId: $e) { email name stage { key } points { balance lifetime } metrics { purchaseCount } stageHistory { to { key } cause } } }`,
    { p: programId, e: externalId },
  );
  return ok(res).data.customer;
}

describe("import", () => {
  it("imports customers and their history in order, reports bad lines by number, and replays when run again", async () => {
    const programId = await griffinProgram(t);
    const other = await griffinProgram(t);
    const ago = (days: number) => new Date(t.app.clock().getTime() - days * DAY).toISOString();
    // 40 more customers with two purchases each, interleaved, for the write path to batch.
    const crowd = Array.from({ length: 40 }, (_, i) =>
      [1, 2].map((n) => ({
        kind: "purchase",
        customerExternalId: `crowd-${i}`,
        orderId: `crowd-${i}-${n}`,
        amount: 15,
        currency: "EUR",
        occurredAt: ago(30 / n),
      })),
    ).flat();
    const path = file("history.ndjson", [
      { kind: "customer", externalId: "ana", email: "ana@example.com", name: "Ana", attributes: { since: 2019 } },
      { kind: "purchase", customerExternalId: "ana", orderId: "o1", amount: 40, currency: "EUR", occurredAt: ago(300) },
      { kind: "purchase", customerExternalId: "ana", orderId: "o2", amount: 60, currency: "EUR", occurredAt: ago(200) },
      { kind: "purchase", customerExternalId: "ana", orderId: "o3", amount: 10, currency: "EUR", occurredAt: ago(100) },
      { kind: "purchase", customerExternalId: "ana", orderId: "o4", amount: 10, currency: "EUR", occurredAt: ago(10) },
      { kind: "refund", orderId: "o2", refundId: "o2-r", amount: 60 },
      { kind: "review", customerExternalId: "ben", reviewId: "r1", rating: 5, productId: "sku-1" },
      { kind: "touchpoint", customerExternalId: "ben", type: "VISIT", externalId: "v1" },
      "",
      "not json",
      { kind: "gift", customerExternalId: "ben" },
      { kind: "purchase", customerExternalId: "cy", orderId: "c1", amount: -5, currency: "EUR" },
      { kind: "purchase", programId: other, customerExternalId: "cy", orderId: "c2", amount: 5, currency: "EUR" },
      { kind: "refund", orderId: "never-sold", refundId: "n-r", amount: 5 },
      ...crowd,
    ]);
    const progress: number[] = [];
    const summary = await importFile(t.app, programId, path, { onProgress: (n) => progress.push(n) });
    expect(summary).toMatchObject({
      programId,
      lines: 13 + crowd.length,
      written: 7 + crowd.length,
      replayed: 0,
      upserted: 1,
      failed: 5,
      byKind: {
        customer: { written: 0, replayed: 0, upserted: 1, failed: 0 },
        purchase: { written: 4 + crowd.length, replayed: 0, failed: 2 },
        refund: { written: 1, replayed: 0, failed: 1 },
        review: { written: 1, replayed: 0, failed: 0 },
        touchpoint: { written: 1, replayed: 0, failed: 0 },
      },
      errorsOmitted: 0,
    });
    expect(summary.errors.map((e) => [e.line, e.kind, e.code, e.field])).toEqual([
      [10, null, "BAD_JSON", null],
      [11, null, "BAD_USER_INPUT", "kind"],
      [12, "purchase", "BAD_USER_INPUT", "amount"],
      [13, "purchase", "BAD_USER_INPUT", "programId"],
      [14, "refund", "NOT_FOUND", "orderId"],
    ]);
    expect(progress).toHaveLength(summary.lines);
    expect(progress[progress.length - 1]).toBe(summary.lines);

    // Ana's lines ran in order, each evaluated as of now: her first purchase, 300 days old, made her
    // lapsed; the third (100 days ago) a repeat customer again, the fourth a client; the refund took her back.
    const ana = await customer(programId, "ana");
    expect(ana).toMatchObject({
      email: "ana@example.com",
      name: "Ana",
      stage: { key: "repeat_customer" },
      points: { balance: 60, lifetime: 60 },
      metrics: { purchaseCount: 3 },
    });
    expect(ana.stageHistory.map((m: any) => m.to.key)).toEqual(["lapsed", "repeat_customer", "client", "repeat_customer"]);
    expect((await customer(programId, "crowd-7")).points.balance).toBe(30);
    expect(await customer(other, "cy")).toBeNull();
    expect(await pointsDisagreements(t, programId)).toEqual([]);

    // Run again: every record is a replay (the customer line an upsert of the same fields), nothing is written.
    const before = await tableCounts(t);
    const again = await importFile(t.app, programId, path, { concurrency: 7 });
    expect(again).toMatchObject({ written: 0, replayed: 7 + crowd.length, upserted: 1, failed: 5 });
    expect(await tableCounts(t)).toEqual(before);
  });

  it("runs a refund after the lines before it and before the lines after it", async () => {
    const programId = await griffinProgram(t);
    // Twenty customers: a purchase, its full refund, another purchase.
    const lines = Array.from({ length: 20 }, (_, i) => [
      { kind: "purchase", customerExternalId: `z${i}`, orderId: `z${i}-1`, amount: 50, currency: "EUR" },
      { kind: "refund", orderId: `z${i}-1`, refundId: `z${i}-1-r`, amount: 50 },
      { kind: "purchase", customerExternalId: `z${i}`, orderId: `z${i}-2`, amount: 30, currency: "EUR" },
    ]).flat();
    expect(await importFile(t.app, programId, file("refunds.ndjson", lines))).toMatchObject({ written: 60, failed: 0 });
    const ledger = await t.app.db.query(
      `SELECT c.external_id, array_agg(l.amount::int ORDER BY l.id) AS amounts FROM ledger_entries l JOIN customers c ON c.program_id = l.program_id AND c.id = l.customer_id
        WHERE l.program_id = $1 GROUP BY 1`,
      [programId],
    );
    expect(ledger).toHaveLength(20);
    for (const row of ledger) expect(row.amounts).toEqual([50, -50, 30]);
  });

  it("reports each bad line with its number, code and field, as the API would, and keeps the first hundred", async () => {
    const programId = await griffinProgram(t);
    const good = { kind: "purchase", customerExternalId: "ok", orderId: "ok-1", amount: 10, currency: "EUR" };
    const badLines = [
      { ...good, orderId: undefined },
      { ...good, orderId: "s1", amount: "40" },
      { ...good, orderId: "s2", coupon: "X" },
      { ...good, orderId: "nul\u0000id" },
      { ...good, orderId: "s3", occurredAt: "yesterday" },
      "[1, 2]",
      "x".repeat(1_000_001),
    ];
    const summary = await importFile(t.app, programId, file("bad.ndjson", [good, ...badLines]));
    expect(summary).toMatchObject({ written: 1, failed: badLines.length });
    expect(summary.errors.map((e) => [e.line, e.code, e.field])).toEqual([
      [2, "BAD_USER_INPUT", "orderId"],
      [3, "BAD_USER_INPUT", "amount"],
      [4, "BAD_USER_INPUT", "coupon"],
      [5, "BAD_USER_INPUT", "orderId"],
      [6, "BAD_USER_INPUT", "occurredAt"],
      [7, "BAD_USER_INPUT", null],
      [8, "BAD_USER_INPUT", null],
    ]);
    expect(summary.errors.every((e) => !/Internal server error/i.test(e.message))).toBe(true);

    const many = await importFile(
      t.app,
      programId,
      file(
        "many.ndjson",
        Array.from({ length: 150 }, (_, i) => ({ ...good, orderId: `m${i}`, amount: -1 })),
      ),
      { concurrency: 50 },
    );
    expect([many.failed, many.errors.length, many.errorsOmitted]).toEqual([150, 100, 50]);
    expect(many.errors.map((e) => e.line)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });
});
