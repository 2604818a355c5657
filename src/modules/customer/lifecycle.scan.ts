/**
 * Who moved between lifecycle phases since the last scan: the phase is a function of the clock, so
 * nothing writes it as it changes; the recompute (scheduled, or recomputeStages) compares each
 * customer's phase now with the one last recorded, records the new one and writes a
 * LIFECYCLE_CHANGED event, in one statement per chunk of customers (set-based, as the stage
 * recompute). A customer whose phase was never recorded gets it without an event. Erased customers
 * are left out.
 */
import type { App } from "../../app";
import { messageFromOutboxRow } from "../../events/event.types";
import { ProgramConfig } from "../program/program.config";
import { lifecyclePhaseSql } from "./value.sql";
import { ValuePolicy } from "../../domain/value/customer-value";

/**
 * $1 program, $2 the last id of the previous chunk, $3 as of, $4 chunk size. The customers that
 * changed are locked in id order, as every writer locks customers (no deadlock with a write batch),
 * and updated only if their row is still the one read (its xmin): a customer written, erased or
 * scanned by a concurrent recompute meanwhile is left for the next scan, so one change is one event.
 */
const scanSql = (policy: ValuePolicy) => `
WITH cur AS (
  SELECT c.id, c.xmin::text AS version, c.lifecycle_phase AS prev, ${lifecyclePhaseSql("$3::timestamptz", policy)} AS phase
    FROM customers c
   WHERE c.program_id = $1 AND c.id > $2 AND c.erased_at IS NULL
   ORDER BY c.id LIMIT $4
), locked AS (
  SELECT c.id FROM customers c JOIN cur ON cur.id = c.id
   WHERE c.program_id = $1 AND cur.phase IS DISTINCT FROM cur.prev
   ORDER BY c.id FOR NO KEY UPDATE OF c
), ch AS (
  UPDATE customers c SET lifecycle_phase = cur.phase, lifecycle_phase_at = $3
    FROM cur
   WHERE c.program_id = $1 AND c.id = cur.id AND c.id IN (SELECT id FROM locked) AND c.xmin::text = cur.version
  RETURNING c.id, cur.prev, cur.phase
), ev AS (
  INSERT INTO outbox (program_id, topic, customer_id, payload)
  SELECT $1, 'LIFECYCLE_CHANGED', ch.id, jsonb_build_object('customerId', ch.id, 'from', ch.prev, 'to', ch.phase, 'at', $3::timestamptz)
    FROM ch WHERE ch.prev IS NOT NULL ORDER BY ch.id
  RETURNING *
)
SELECT (SELECT id FROM cur ORDER BY id DESC LIMIT 1) AS last, (SELECT count(*)::int FROM cur) AS scanned,
       (SELECT coalesce(jsonb_agg(to_jsonb(ev.*) ORDER BY ev.id), '[]'::jsonb) FROM ev) AS events`;

/** Scans the program's customers; returns how many changed phase (events written). */
export async function scanLifecycle(app: App, config: ProgramConfig, asOf: Date, chunk = 5000): Promise<number> {
  const sql = scanSql(config.valuePolicy);
  let after = "00000000-0000-0000-0000-000000000000";
  let changed = 0;
  for (;;) {
    const [row] = await app.db.query(sql, [config.program.id, after, asOf, chunk]);
    const events = row.events.map(messageFromOutboxRow);
    if (events.length > 0) app.outbox.publishCommitted(events);
    changed += events.length;
    if (row.scanned < chunk) return changed;
    after = row.last;
  }
}
