/**
 * The statistics keeper's decision (docs/operations.md): a table past its limit is analyzed at once
 * when autovacuum will not do it, and, when autovacuum runs, only after it has left the table past
 * autovacuum's own limit for three naps. The database here is a double that answers the keeper's
 * two queries with the rows a test gives (the e2e tests run it against PostgreSQL and PGlite).
 */
import pino from "pino";
import type { Db } from "../../src/db/db";
import { DueRow as Row, StatisticsKeeper } from "../../src/db/statistics";

/** A database whose statistics view shows `rows`; it records the ANALYZE statements it gets. */
function database(rows: () => Row[], lockFree = () => true) {
  const analyzed: string[] = [];
  const tx = {
    async query(sql: string) {
      if (sql.includes("pg_try_advisory_xact_lock")) return [{ locked: lockFree() }];
      if (sql.startsWith("ANALYZE")) {
        analyzed.push(sql);
        return [];
      }
      return rows();
    },
  };
  const db = { transaction: (work: (t: typeof tx) => Promise<unknown>) => work(tx) } as unknown as Db;
  return { db, analyzed };
}

const keeper = (db: Db) => new StatisticsKeeper(db, pino({ level: "silent" }), { mode: "auto", intervalMs: 1000, threshold: 500, scaleFactor: 0.1 });
const MINUTE = 60_000;

describe("the statistics keeper's turn", () => {
  it("analyzes at once what autovacuum will not (off, not running, or the table opted out)", async () => {
    const { db, analyzed } = database(() => [{ table: "customers", modified: 900, tuples: 1000, autovacuum: false, naptime_s: 60, autovacuum_limit: 150 }]);
    expect(await keeper(db).tick(0)).toEqual(["customers"]);
    expect(analyzed).toEqual([`ANALYZE (SKIP_LOCKED) "customers"`]);
  });

  it("leaves a table to a running autovacuum for three naps past its limit, then analyzes it", async () => {
    const { db, analyzed } = database(() => [{ table: "touchpoints", modified: 5000, tuples: 20_000, autovacuum: true, naptime_s: 60, autovacuum_limit: 450 }]);
    const k = keeper(db);
    expect(await k.tick(0)).toEqual([]);
    expect(await k.tick(2 * MINUTE)).toEqual([]);
    expect(await k.tick(3 * MINUTE)).toEqual(["touchpoints"]);
    expect(analyzed).toHaveLength(1);
  });

  it("follows autovacuum's own limit while autovacuum runs, and restarts the wait once someone analyzed", async () => {
    let rows: Row[] = [{ table: "outbox", modified: 700, tuples: 1000, autovacuum: true, naptime_s: 60, autovacuum_limit: 800 }];
    const { db, analyzed } = database(() => rows);
    const k = keeper(db);
    // Past the keeper's limit (600) but not autovacuum's (800): autovacuum's settings rule.
    expect(await k.tick(0)).toEqual([]);
    expect(await k.tick(10 * MINUTE)).toEqual([]);
    rows = [{ ...rows[0], modified: 900 }];
    expect(await k.tick(11 * MINUTE)).toEqual([]);
    // Autovacuum got to it (the table left the list), then it grew past the limit again: a new wait.
    rows = [];
    expect(await k.tick(12 * MINUTE)).toEqual([]);
    rows = [{ table: "outbox", modified: 900, tuples: 1000, autovacuum: true, naptime_s: 60, autovacuum_limit: 800 }];
    expect(await k.tick(13 * MINUTE)).toEqual([]);
    expect(await k.tick(16 * MINUTE)).toEqual(["outbox"]);
    expect(analyzed).toHaveLength(1);
  });

  it("skips its turn while another process holds it", async () => {
    let free = false;
    const { db, analyzed } = database(
      () => [{ table: "customers", modified: 900, tuples: 1000, autovacuum: false, naptime_s: 60, autovacuum_limit: 150 }],
      () => free,
    );
    const k = keeper(db);
    expect(await k.tick(0)).toEqual([]);
    free = true;
    expect(await k.tick(1000)).toEqual(["customers"]);
    expect(analyzed).toHaveLength(1);
  });
});
