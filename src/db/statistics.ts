/**
 * Planner statistics that follow the data (docs/operations.md, "Statistics and autovacuum").
 *
 * PostgreSQL plans from the row counts and column statistics ANALYZE last stored. Nothing else
 * refreshes them: with autovacuum off (as on the development machines), or behind on a busy server,
 * a program that grew from nothing keeps being planned as if it were empty. Worse, the write
 * worker's prepared statements run generic plans (write-worker.ts) made once per connection; only
 * new statistics make PostgreSQL plan them again (an ANALYZE invalidates the cached plans of every
 * statement that reads the table, on every connection, at its next execution). Measured before
 * this: 397 purchases/s in a program grown to 10,000 customers through the API, 1,236/s after one
 * ANALYZE.
 *
 * So: a bulk writer (the import, the demo seed, the bench's loaders, the CLI's recompute and points
 * lifecycle) ANALYZEs the tables it grew, a long one in chunks as they grow (GrowthAnalyzer), and
 * API processes run a StatisticsKeeper that ANALYZEs tables grown by ordinary traffic when
 * autovacuum does not. PGlite has pg_stat_user_tables and keeps its counts (PGlite 0.5.14), but no
 * autovacuum process: there the keeper is what analyzes.
 */
import type { Logger } from "pino";
import type { Db, Queryable } from "./db";

/** The tables a touchpoint written through the write path (purchase, refund, review, ...) may grow. */
export const WRITE_PATH_TABLES = [
  "customers",
  "touchpoints",
  "point_lots",
  "ledger_entries",
  "stage_transitions",
  "tier_changes",
  "grants",
  "outbox",
  "webhook_deliveries",
] as const;

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** A table name of ours, quoted; anything else is a programming error, never SQL. */
function quoted(table: string): string {
  if (!IDENTIFIER.test(table)) throw new Error(`"${table}" is not a table name`);
  return `"${table}"`;
}

export interface Analyzed {
  tables: string[];
  ms: number;
}

/**
 * ANALYZEs `tables` in one statement: their row counts (pg_class) and column statistics. A sample of
 * at most 300 × default_statistics_target rows each, so it costs about the same on a large table as
 * on a mid-sized one, and it takes no lock that blocks reads or writes. `skipLocked`: a table that
 * another ANALYZE or a VACUUM holds is skipped instead of waited for (the keeper's choice).
 */
export async function analyzeTables(db: Queryable, tables: readonly string[], options: { skipLocked?: boolean } = {}): Promise<Analyzed> {
  const unique = [...new Set(tables)];
  if (unique.length === 0) return { tables: [], ms: 0 };
  const started = performance.now();
  await db.query(`ANALYZE ${options.skipLocked ? "(SKIP_LOCKED) " : ""}${unique.map(quoted).join(", ")}`);
  return { tables: unique, ms: Math.round(performance.now() - started) };
}

export interface GrowthAnalyzerOptions {
  /** Rows (or records) written before the first ANALYZE. */
  firstAfter?: number;
  /** Each later ANALYZE once the count has grown by this factor since the previous one. */
  growth?: number;
  /** An ANALYZE that failed: the load goes on (its data does not depend on it). */
  onError?: (err: unknown) => void;
}

/**
 * ANALYZE during a long bulk write: after the first `firstAfter` records, then each time their count
 * has grown by `growth` (so statistics are never more than that factor behind, and early plans stop
 * treating the tables as empty), and once more at the end. Each runs in the background, one at a
 * time: ANALYZE blocks no write, so the load does not wait for it.
 */
export class GrowthAnalyzer {
  /** The record count at each ANALYZE that completed, the last one's at `finish`. */
  readonly analyzedAfter: number[] = [];
  private readonly growth: number;
  private next: number;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Queryable,
    private readonly tables: readonly string[],
    private readonly options: GrowthAnalyzerOptions = {},
  ) {
    this.next = Math.max(1, options.firstAfter ?? 1_000);
    this.growth = Math.max(1.1, options.growth ?? 2);
  }

  /** `done` records written so far. */
  progress(done: number): void {
    if (done < this.next) return;
    this.next = Math.ceil(done * this.growth);
    this.enqueue(done);
  }

  /** After the last record: the final ANALYZE (none when nothing was written), and any still running, before returning. */
  async finish(done: number): Promise<number[]> {
    if (done > 0 && this.queuedAt !== done) this.enqueue(done);
    await this.running;
    return this.analyzedAfter;
  }

  /** The record count of the last ANALYZE queued. */
  private queuedAt = 0;

  private enqueue(done: number): void {
    this.queuedAt = done;
    this.running = this.running.then(() =>
      analyzeTables(this.db, this.tables).then(
        () => void this.analyzedAfter.push(done),
        (err) => this.options.onError?.(err),
      ),
    );
  }
}

export interface StatisticsKeeperOptions {
  /** "off": never runs (autovacuum alone keeps the statistics). */
  mode: "auto" | "off";
  intervalMs: number;
  /**
   * A table is due once rows changed since its last ANALYZE exceed threshold + scaleFactor × its
   * rows; a table's own autovacuum_analyze_threshold and autovacuum_analyze_scale_factor win.
   */
  threshold: number;
  scaleFactor: number;
}

/**
 * The tables of this schema whose rows changed since their last ANALYZE passed the keeper's limit:
 * the table's own autovacuum_analyze_threshold and _scale_factor when it has them (the hot tables
 * do, see the AutovacuumSettings migration), else the keeper's ($1, $2). With what autovacuum would
 * do about them: whether it runs at all, whether the table opted out, and its own analyze limit (the
 * table's settings, else the server's).
 *
 * Autovacuum runs when it is on, with the statistics it needs (track_counts), in a server: PGlite
 * says "on" but is a single-user backend, with no launcher. A role allowed to see other processes
 * (a superuser, pg_read_all_stats) also sees whether the launcher is there; other roles see no
 * background process's type, and go by the settings.
 */
const DUE_TABLES = `
WITH processes AS (
  SELECT bool_or(backend_type = 'autovacuum launcher') AS launcher, bool_or(backend_type = 'checkpointer') AS visible,
         bool_or(pid = pg_backend_pid() AND backend_type = 'standalone backend') AS single_user
    FROM pg_stat_activity
), daemon AS (
  SELECT current_setting('autovacuum')::bool AND current_setting('track_counts')::bool
         AND NOT coalesce(p.single_user, false) AND (coalesce(p.launcher, false) OR NOT coalesce(p.visible, false)) AS running,
         (SELECT setting::float8 FROM pg_settings WHERE name = 'autovacuum_naptime') AS naptime_s
    FROM processes p
), t AS (
  SELECT s.relname AS table, s.n_mod_since_analyze::float8 AS modified, greatest(c.reltuples, 0)::float8 AS tuples,
         d.running AND coalesce(o.enabled, true) AS autovacuum, d.naptime_s, o.threshold, o.scale_factor
    FROM pg_stat_user_tables s
    JOIN pg_class c ON c.oid = s.relid
    CROSS JOIN daemon d
    CROSS JOIN LATERAL (
      SELECT bool_or(option_value::bool) FILTER (WHERE option_name = 'autovacuum_enabled') AS enabled,
             max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_analyze_threshold') AS threshold,
             max(option_value::float8) FILTER (WHERE option_name = 'autovacuum_analyze_scale_factor') AS scale_factor
        FROM pg_options_to_table(c.reloptions)
    ) o
   WHERE s.schemaname = current_schema()
)
SELECT t.table, t.modified, t.tuples, t.autovacuum, t.naptime_s,
       coalesce(t.threshold, current_setting('autovacuum_analyze_threshold')::float8)
         + coalesce(t.scale_factor, current_setting('autovacuum_analyze_scale_factor')::float8) * t.tuples AS autovacuum_limit
  FROM t
 WHERE t.modified > coalesce(t.threshold, $1) + coalesce(t.scale_factor, $2) * t.tuples
 ORDER BY t.table`;

/** pg_try_advisory_xact_lock's key: one keeper at a time per database, whatever the number of API processes. */
export const KEEPER_LOCK = 0x4c59_5354; // "LYST"

/** How many autovacuum naps a table may wait past its limit before the keeper analyzes it instead. */
const AUTOVACUUM_GRACE_NAPS = 3;

/** A table past the keeper's limit, as DUE_TABLES reads it. */
export interface DueRow {
  table: string;
  modified: number;
  tuples: number;
  autovacuum: boolean;
  naptime_s: number;
  autovacuum_limit: number;
}

/**
 * ANALYZEs the tables that traffic grew, like autovacuum's analyze: every `intervalMs`, a table
 * whose rows changed since its last ANALYZE (pg_stat_user_tables.n_mod_since_analyze) exceed
 * `threshold + scaleFactor × rows` (the table's own autovacuum settings, else the keeper's) is
 * analyzed, when autovacuum will not do it: it is off (or not running, as in PGlite), the table
 * opted out, or the table has been past autovacuum's own limit for three naps of the launcher
 * without autovacuum getting to it (busy workers). With autovacuum keeping up, the keeper only
 * reads the statistics view.
 *
 * One process at a time analyzes (a transaction-level advisory lock); the others skip that turn.
 */
export class StatisticsKeeper {
  /** Since when (ms) each table has been past autovacuum's limit, as this process saw it. */
  private readonly pastAutovacuumSince = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<unknown>;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: StatisticsKeeperOptions,
  ) {}

  start(): void {
    if (this.options.mode === "off" || this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      // One turn at a time: a slow ANALYZE makes the next turn wait, not overlap.
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((err) => this.log.warn({ err }, "statistics keeper: turn failed"))
        .finally(() => (this.ticking = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the turns and waits for one in progress (before the pool closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** One turn: the tables it analyzed (none when another process holds the turn). */
  async tick(now = Date.now()): Promise<string[]> {
    const { threshold, scaleFactor } = this.options;
    const result = await this.db.transaction(async (tx) => {
      const [{ locked }] = await tx.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [KEEPER_LOCK]);
      if (!locked) return null;
      const rows = await tx.query<DueRow>(DUE_TABLES, [threshold, scaleFactor]);
      // A table no longer past the limit was analyzed by someone else: its wait starts afresh.
      for (const table of this.pastAutovacuumSince.keys()) if (!rows.some((row) => row.table === table)) this.pastAutovacuumSince.delete(table);
      const due = rows.filter((row) => this.isDue(row, now));
      if (due.length === 0) return null;
      // In this transaction: the lock is held until the statistics are committed (and with them the
      // invalidation that makes every connection plan its statements again). A table skipped as
      // locked (being analyzed or vacuumed by someone else) keeps its count and comes up next turn.
      return {
        rows: due,
        analyzed: await analyzeTables(
          tx,
          due.map((row) => row.table),
          { skipLocked: true },
        ),
      };
    });
    if (!result) return [];
    for (const table of result.analyzed.tables) this.pastAutovacuumSince.delete(table);
    this.log.info(
      { tables: result.rows.map(({ table, modified, tuples }) => ({ table, modified, rows: tuples })), ms: result.analyzed.ms },
      "statistics keeper: ANALYZE",
    );
    return result.analyzed.tables;
  }

  private isDue(row: DueRow, now: number): boolean {
    if (!row.autovacuum) return true;
    if (row.modified <= row.autovacuum_limit) {
      // Autovacuum's own settings say it is not due yet: they rule while autovacuum runs.
      this.pastAutovacuumSince.delete(row.table);
      return false;
    }
    const since = this.pastAutovacuumSince.get(row.table) ?? now;
    this.pastAutovacuumSince.set(row.table, since);
    return now - since >= AUTOVACUUM_GRACE_NAPS * row.naptime_s * 1000;
  }
}
