/**
 * Re-evaluates the stages of a whole program: time passing (lapse, windows) and ladder changes move
 * customers without any touchpoint. Set-based: one statement reads a batch of customers, one reads
 * their windowed metrics, the pure engine decides, one statement applies every move of the batch.
 */
import { App } from "../../app";
import { evaluateLadder } from "../../domain/ladder/ladder.engine";
import { messageFromOutboxRow, LoyaltyEventMessage } from "../../events/event.types";
import { loadWindowValues, metricReader } from "../customer/customer.metrics";
import { ProgramConfig, stageOf } from "../program/program.config";
import { owedForStageEntries } from "../grants/grant.service";
import { scanLifecycle } from "../customer/lifecycle.scan";

export interface RecomputeReport {
  evaluated: number;
  changed: number;
  /** Customers still being written after several re-reads: left for the next recompute. */
  skipped: number;
  /** Stage rewards the moves owed (given at the end of the recompute). */
  grantsOwed: number;
  /** Customers whose lifecycle phase changed since the last recompute (LIFECYCLE_CHANGED events). */
  lifecycleChanged: number;
}

const APPLY_MOVES = `
WITH ch AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb)
    AS x(customer_id uuid, version text, from_key text, to_key text, reason jsonb, payload jsonb)
), u AS (
  UPDATE customers c SET stage_key = ch.to_key, stage_entered_at = now()
    FROM ch
   WHERE c.program_id = $1 AND c.id = ch.customer_id AND c.xmin::text = ch.version
  RETURNING c.id
), t AS (
  INSERT INTO stage_transitions (program_id, customer_id, from_key, to_key, cause, reason)
  SELECT $1, ch.customer_id, ch.from_key, ch.to_key, $3, ch.reason FROM ch JOIN u ON u.id = ch.customer_id
  RETURNING id, customer_id, at
)
INSERT INTO outbox (program_id, topic, customer_id, payload)
SELECT $1, 'STAGE_CHANGED', ch.customer_id, ch.payload || jsonb_build_object('transitionId', t.id::text, 'at', t.at)
  FROM ch JOIN t ON t.customer_id = ch.customer_id
RETURNING *`;

const MAX_ROUNDS = 5;
/** Configuration changes a recompute follows before it gives up (each means a fresh read of every pending customer's evaluation). */
const MAX_RELOADS = 20;

class ConfigurationChanged extends Error {}

export class StageService {
  constructor(private readonly app: App) {}

  async recompute(
    config: ProgramConfig,
    cause: "RECOMPUTE" | "LADDER_UPDATE",
    batchSize = 2000,
    onBatch?: (report: RecomputeReport) => void,
  ): Promise<RecomputeReport> {
    const programId = config.program.id;
    const report: RecomputeReport = { evaluated: 0, changed: 0, skipped: 0, grantsOwed: 0, lifecycleChanged: 0 };
    try {
      await this.recomputeBatches(config, cause, batchSize, report, onBatch);
    } finally {
      // Given once every move is applied, or as far as the run got (one transaction each; what fails stays owed for the next run).
      if (report.grantsOwed > 0) await this.app.grants.process(programId);
    }
    // Time passing moves lifecycle phases too (a ladder edit does not).
    if (cause === "RECOMPUTE") report.lifecycleChanged = await scanLifecycle(this.app, config, this.app.clock());
    return report;
  }

  private async recomputeBatches(
    given: ProgramConfig,
    cause: string,
    batchSize: number,
    report: RecomputeReport,
    onBatch?: (report: RecomputeReport) => void,
  ): Promise<void> {
    const programId = given.program.id;
    let config = given;
    let reloads = 0;
    let after = "00000000-0000-0000-0000-000000000000";
    for (;;) {
      const customers = await this.app.db.query(
        // Erased customers are left where they are: nothing new is written for them.
        `SELECT *, xmin::text AS version FROM customers WHERE program_id = $1 AND id > $2 AND erased_at IS NULL ORDER BY id LIMIT $3`,
        [programId, after, batchSize],
      );
      if (customers.length === 0) break;
      after = customers[customers.length - 1].id;
      report.evaluated += customers.length;
      let pending = customers;
      // A customer written meanwhile (its row version changed) is read again and evaluated again:
      // not every write evaluates the ladder (upsertCustomer does not), nor with the newest ladder.
      for (let round = 0; pending.length > 0; round++) {
        let skipped: string[];
        try {
          skipped = await this.evaluateAndApply(config, cause, pending, report);
        } catch (err) {
          if (!(err instanceof ConfigurationChanged) || ++reloads > MAX_RELOADS) throw err;
          // The configuration changed since it was read: these customers are evaluated again with
          // the new one (a ladder change's own recompute comes after it, but a rule or tier change
          // has none, and a scheduled recompute must still move its customers).
          this.app.programConfigs.invalidate(programId);
          config = await this.app.programs.config(programId);
          round--;
          continue;
        }
        if (skipped.length === 0) break;
        if (round === MAX_ROUNDS) {
          report.skipped += skipped.length;
          break;
        }
        pending = await this.app.db.query(
          `SELECT *, xmin::text AS version FROM customers WHERE program_id = $1 AND id = ANY($2::uuid[]) AND erased_at IS NULL`,
          [programId, skipped],
        );
      }
      onBatch?.(report);
      if (customers.length < batchSize) break;
    }
  }

  /** Evaluates a set of customers and applies every move in one statement; returns the ids it had to skip. */
  private async evaluateAndApply(config: ProgramConfig, cause: string, customers: any[], report: RecomputeReport): Promise<string[]> {
    const programId = config.program.id;
    const asOf = this.app.clock();
    const windows = await loadWindowValues(
      this.app.db,
      programId,
      customers.map((c) => c.id),
      config.windows,
      asOf,
    );
    const moves: Array<Record<string, any>> = [];
    for (const row of customers) {
      const reason = evaluateLadder(config.ladder, metricReader(row, windows.get(row.id)!, asOf));
      if (reason.stage === row.stage_key) continue;
      const from = stageOf(config, row.stage_key);
      const to = config.stageByKey.get(reason.stage)!;
      moves.push({
        customer_id: row.id,
        version: row.version,
        from_key: row.stage_key,
        to_key: reason.stage,
        reason,
        payload: {
          customerId: row.id,
          from: from ? { key: from.key, name: from.name, rank: from.rank } : null,
          to: { key: to.key, name: to.name, rank: to.rank },
          reason,
          cause,
          touchpointId: null,
        },
      });
    }
    if (moves.length === 0) return [];
    const events: LoyaltyEventMessage[] = await this.app.db.transaction(async (tx) => {
      // Moves are written only with the configuration they were evaluated with: a ladder change
      // committed meanwhile would otherwise be followed by moves onto stages it removed (two
      // updateLadder at once left customers on a stage of neither). Shared, so a configuration
      // change waits for these moves, and its own recompute then sees them.
      const [current] = await tx.query(`SELECT updated_at::text AS version FROM programs WHERE id = $1 FOR SHARE`, [programId]);
      if (current?.version !== config.version) throw new ConfigurationChanged();
      const written = (await tx.query(APPLY_MOVES, [programId, JSON.stringify(moves), cause])).map(messageFromOutboxRow);
      // Time moved these customers (lapse, windows): a stage reward is owed as for any move. Not for
      // a ladder edit, whose moves are the configuration's doing, not the customers'.
      if (cause === "RECOMPUTE") {
        const entries = written.map((e) => ({ customerId: e.customerId!, toKey: e.payload.to.key, transitionId: e.payload.transitionId, touchpoint: null }));
        report.grantsOwed += await owedForStageEntries(tx, config, entries, asOf, false);
      }
      return written;
    });
    events.sort((a, b) => Number(a.sequence) - Number(b.sequence));
    this.app.outbox.publishCommitted(events);
    report.changed += events.length;
    const applied = new Set(events.map((e) => e.customerId));
    return moves.filter((m) => !applied.has(m.customer_id)).map((m) => m.customer_id);
  }
}
