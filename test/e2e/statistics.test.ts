/**
 * Statistics that follow the data (docs/operations.md, "Statistics and autovacuum"): the demo seed
 * and the import ANALYZE what they grew (the import in chunks), the keeper ANALYZEs what traffic
 * grew when autovacuum does not, one process at a time, and the write worker's connections plan
 * their cached statements again after an ANALYZE.
 *
 * The machine's PostgreSQL runs with autovacuum off, and PGlite has no autovacuum process: whatever
 * ANALYZE happens here is ours. Statistics reach pg_stat_user_tables up to seconds after the
 * statements that made them, so every check on them waits for a condition, with a deadline.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { importFile } from "../../src/cli/import";
import { seedDemo } from "../../src/demo";
import { KEEPER_LOCK, StatisticsKeeper } from "../../src/db/statistics";
import { startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, ok } from "../helpers/operations";

const onServer = process.env.DATABASE_URL ? it : it.skip;

/** Polls `read` until `done` holds for what it returns, or fails after `ms` saying what it waited for. */
async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface TableState {
  table: string;
  analyzed: boolean;
  /** What the planner believes (pg_class.reltuples, -1 before any ANALYZE) and what is there. */
  reltuples: number;
  rows: number;
  modified: number;
}

/** Each table's statistics as the planner sees them, next to its real row count. */
async function tableStates(t: TestApp, tables: readonly string[]): Promise<Record<string, TableState>> {
  const states: Record<string, TableState> = {};
  for (const table of tables) {
    const [row] = await t.app.db.query(
      `SELECT s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL AS analyzed, c.reltuples::float8 AS reltuples,
              s.n_mod_since_analyze::float8 AS modified, (SELECT count(*) FROM ${table})::int AS rows
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE s.schemaname = current_schema() AND s.relname = $1`,
      [table],
    );
    states[table] = { table, ...row };
  }
  return states;
}

/**
 * ANALYZEd after its last write: the planner's row count is the table's (ANALYZE reads every row
 * of a table this small, so its count is exact).
 */
const upToDate = (state: TableState) => state.analyzed && state.reltuples === state.rows;

const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned } }`;

describe("bulk writers", () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    // The keeper off: every ANALYZE seen here is the bulk writer's own.
    t = await startTestApp({ env: { STATS_KEEPER: "off" } });
    dir = mkdtempSync(join(tmpdir(), "loyalty-statistics-"));
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the demo seed leaves the tables it wrote analyzed", async () => {
    const demo = await seedDemo(t.app);
    expect(demo).not.toBeNull();
    const states = await tableStates(t, [
      "programs",
      "stages",
      "earning_rules",
      "rewards",
      "api_keys",
      "customers",
      "touchpoints",
      "ledger_entries",
      "point_lots",
      "stage_transitions",
      "outbox",
    ]);
    expect(Object.values(states).filter((s) => !upToDate(s))).toEqual([]);
    expect(states.customers.rows).toBe(5);
  });

  it("the import ANALYZEs as the tables grow (after 50 lines, then each doubling) and at the end", async () => {
    const programId = await griffinProgram(t);
    const lines: string[] = [];
    for (let c = 0; c < 60; c++) lines.push(JSON.stringify({ kind: "customer", externalId: `imp-${c}`, name: `Customer ${c}` }));
    for (let i = 0; lines.length < 300; i++) {
      lines.push(JSON.stringify({ kind: "purchase", customerExternalId: `imp-${i % 60}`, orderId: `imp-order-${i}`, amount: 10 + (i % 7), currency: "EUR" }));
    }
    const file = join(dir, "history.ndjson");
    writeFileSync(file, lines.join("\n"));

    const summary = await importFile(t.app, programId, file, { analyzeFirstAfter: 50 });
    expect([summary.lines, summary.failed]).toEqual([300, 0]);
    expect(summary.analyzedAfterLines).toEqual([50, 100, 200, 300]);
    const states = await tableStates(t, ["customers", "touchpoints", "ledger_entries", "point_lots", "stage_transitions", "outbox"]);
    expect(Object.values(states).filter((s) => !upToDate(s))).toEqual([]);

    // Run again, every line replays: nothing grew, yet the import still ends on fresh statistics.
    const again = await importFile(t.app, programId, file, { analyzeFirstAfter: 50 });
    expect([again.replayed, again.analyzedAfterLines.at(-1)]).toEqual([240, 300]);
  });
});

describe("the statistics keeper", () => {
  let t: TestApp;
  beforeAll(async () => {
    // A keeper turn every 200 ms, due after 50 changed rows (+ 10% of the table, or the table's own share).
    t = await startTestApp({ env: { STATS_KEEPER: "auto", STATS_KEEPER_INTERVAL_MS: "200", STATS_KEEPER_ANALYZE_THRESHOLD: "50" } });
  });
  afterAll(async () => t?.stop());

  it("ANALYZEs a table grown through the API, and leaves the small ones alone", async () => {
    const programId = await griffinProgram(t);
    for (let i = 0; i < 120; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          t.gql(PURCHASE, { input: { programId, customerExternalId: `api-${i + k}`, orderId: `api-order-${i + k}`, amount: 20, currency: "EUR" } }).then(ok),
        ),
      );
    }
    // Caught up: analyzed until what changed since is under its limit (customers: 50 + 5% of its
    // rows, touchpoints 50 + 2%), so the planner's counts are within that of the 120 rows.
    const states = await waitFor(
      "the keeper to analyze customers and touchpoints",
      () => tableStates(t, ["customers", "touchpoints", "programs"]),
      (s) => s.customers.analyzed && s.touchpoints.analyzed && s.customers.reltuples >= 90 && s.touchpoints.reltuples >= 70,
    );
    expect([states.customers.rows, states.touchpoints.rows]).toEqual([120, 120]);
    // One program, one row written: far under any limit.
    expect(states.programs.analyzed).toBe(false);
  });
});

describe("statistics and the write path's cached plans", () => {
  let t: TestApp;
  beforeAll(async () => {
    // The keeper off: this test decides when its turn comes.
    t = await startTestApp({ env: { STATS_KEEPER: "off" } });
  });
  afterAll(async () => t?.stop());

  // PostgreSQL server only: PGlite is one connection, so no other process can hold the turn.
  onServer("one keeper at a time: a turn another process holds is skipped", async () => {
    const keeper = new StatisticsKeeper(t.app.db, t.app.log, { mode: "auto", intervalMs: 60_000, threshold: 50, scaleFactor: 0.1 });
    await t.app.db.query(`CREATE TABLE keeper_probe (id int PRIMARY KEY)`);
    await t.app.db.query(`INSERT INTO keeper_probe SELECT generate_series(1, 200)`);
    await waitFor(
      "keeper_probe's inserts in the statistics",
      () => tableStates(t, ["keeper_probe"]),
      (s) => s.keeper_probe.modified >= 200,
    );
    const other = new Client({ connectionString: t.app.config.databaseUrl });
    await other.connect();
    try {
      await other.query(`BEGIN`);
      await other.query(`SELECT pg_advisory_xact_lock($1)`, [KEEPER_LOCK]);
      expect(await keeper.tick()).toEqual([]);
      await other.query(`COMMIT`);
      expect(await keeper.tick()).toContain("keeper_probe");
      expect(upToDate((await tableStates(t, ["keeper_probe"])).keeper_probe)).toBe(true);
    } finally {
      await other.end();
      await t.app.db.query(`DROP TABLE keeper_probe`);
    }
  });

  // PostgreSQL server only: on PGlite the write path runs on the main thread and prepares no statements.
  onServer(
    "a program grown from empty through the API: after the keeper's ANALYZE, the write worker's connections plan again",
    async () => {
      const programId = await griffinProgram(t);
      // Another program, for the purchases that make the writer report its statistics (below).
      const markerProgramId = await griffinProgram(t);
      let order = 0;
      const purchases = async (count: number, customer: (i: number) => string, program = programId) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            while (next < count) {
              const i = next++;
              ok(
                await t.gql(PURCHASE, {
                  input: { programId: program, customerExternalId: customer(i), orderId: `plan-${order++}`, amount: 10, currency: "EUR" },
                }),
              );
            }
          }),
        );
      };
      const touchpointReads = async () => {
        const [row] = await t.app.db.query(
          `SELECT n_tup_ins::float8 AS inserted, (seq_tup_read + coalesce(idx_tup_fetch, 0))::float8 AS read FROM pg_stat_user_tables WHERE relname = 'touchpoints' AND schemaname = current_schema()`,
        );
        return row as { inserted: number; read: number };
      };
      /**
       * The touchpoint rows read so far, once the writer has reported its statistics of every insert
       * up to `inserted`. A backend reports them at the end of a transaction at most once a second
       * (else after 10 s idle): one purchase of the other program at a time nudges it, and keeps the
       * writer's connection in use meanwhile. The last nudge's own insert may not be reported yet.
       */
      let nudges = 0;
      const readsOnceReported = async (inserted: number) => {
        for (let attempt = 0; ; attempt++) {
          const counters = await touchpointReads();
          if (counters.inserted >= inserted + Math.max(0, nudges - 1)) return counters;
          if (attempt > 300) throw new Error(`the writer never reported its statistics: ${JSON.stringify(counters)}`);
          await purchases(1, () => "marker", markerProgramId);
          nudges++;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      const writers = async () =>
        (
          await t.app.db.query(
            `SELECT pid, backend_start::text AS started FROM pg_stat_activity WHERE application_name = 'loyalty-ladder-writer' AND datname = current_database()`,
          )
        ).map((r) => `${r.pid}@${r.started}`);

      // From empty to 1,000 customers (a first purchase each), planned all along as empty.
      const grown = 1000;
      await purchases(20, (i) => `plan-${i}`);
      await purchases(grown, (i) => `plan-${i}`);
      let inserted = grown + 20;
      const before = await readsOnceReported(inserted);
      await purchases(200, (i) => `plan-${i % grown}`);
      inserted += 200;
      const staleReads = (await readsOnceReported(inserted)).read - before.read;
      // The situation this test is about: the generic plans made while the program was empty read
      // scores of touchpoint rows per purchase (about 170 here) where an index lookup reads one or two.
      expect(staleReads / 200).toBeGreaterThan(20);

      const connections = await writers();
      expect(connections.length).toBeGreaterThan(0);
      expect(await t.app.statistics.tick()).toEqual(expect.arrayContaining(["customers", "touchpoints"]));
      const analyzed = await readsOnceReported(inserted);
      await purchases(200, (i) => `plan-${i % grown}`);
      inserted += 200;
      const freshReads = (await readsOnceReported(inserted)).read - analyzed.read;
      // The same connections (no new one planned afresh), now reading about one row per key.
      expect(connections).toEqual(expect.arrayContaining(await writers()));
      expect(freshReads / 200).toBeLessThan(5);
    },
    180_000,
  );
});
