import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Autovacuum settings for the tables every purchase writes (docs/operations.md, "Statistics and
 * autovacuum"). The server's defaults wait for 10% of a table to change before an ANALYZE and 20%
 * before a VACUUM: on a touchpoints table of 10 million rows, a million new purchases planned on old
 * statistics. These tables get fresher statistics, and the tables whose rows are updated or deleted
 * (customers, outbox, deliveries) earlier vacuums. The append-only ones (touchpoints, the ledger,
 * stage moves) also get an earlier insert-driven vacuum (PostgreSQL 13+), which keeps their
 * visibility map current for index-only scans and freezes rows in small steps rather than in one
 * anti-wraparound pass.
 *
 * Storage parameters only: taken with a lock that blocks neither reads nor writes, harmless where
 * autovacuum is off, and the statistics keeper (src/db/statistics.ts) follows the analyze settings
 * too.
 */
const SETTINGS: Record<string, Record<string, number>> = {
  // Append-only: one row per record, per point movement, per stage move.
  touchpoints: { autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_scale_factor: 0.05, autovacuum_vacuum_insert_scale_factor: 0.05 },
  ledger_entries: { autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_scale_factor: 0.05, autovacuum_vacuum_insert_scale_factor: 0.05 },
  stage_transitions: { autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_scale_factor: 0.05, autovacuum_vacuum_insert_scale_factor: 0.05 },
  // Inserted by purchases, updated as points are spent, activated and expire.
  point_lots: { autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_scale_factor: 0.05 },
  // Every write batch updates its customers' rows (counters, balance): dead rows pile up fastest here.
  customers: { autovacuum_analyze_scale_factor: 0.05, autovacuum_vacuum_scale_factor: 0.02 },
  // Queues: inserted, marked published or delivered moments later, deleted after retention.
  outbox: { autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_scale_factor: 0.01 },
  webhook_deliveries: { autovacuum_analyze_scale_factor: 0.05, autovacuum_vacuum_scale_factor: 0.02 },
};

export class AutovacuumSettings1765420000000 implements MigrationInterface {
  name = "AutovacuumSettings1765420000000";

  public async up(q: QueryRunner): Promise<void> {
    for (const [table, settings] of Object.entries(SETTINGS)) {
      const list = Object.entries(settings).map(([name, value]) => `${name} = ${value}`);
      await q.query(`ALTER TABLE ${table} SET (${list.join(", ")})`);
    }
  }

  public async down(q: QueryRunner): Promise<void> {
    for (const [table, settings] of Object.entries(SETTINGS)) {
      await q.query(`ALTER TABLE ${table} RESET (${Object.keys(settings).join(", ")})`);
    }
  }
}
