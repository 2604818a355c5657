/**
 * What a retried record gets back: the stored touchpoint, the stage move it caused, and the
 * customer as it is now, with replayed: true. A key reused for a different request is refused.
 */
import { Queryable } from "../../db/db";
import { IdempotencyKeyReused } from "../../api/errors";
import { customerFromRow } from "../customer/customer.types";
import { ProgramConfig, stageOf } from "../program/program.config";
import { RecordResult, TouchpointRecord } from "./touchpoint.model";
import { FIND_RECORDED } from "./touchpoint.sql";
import { touchpointFromRow } from "./touchpoint.types";

/** The stored result of the record's key, or null when the key was never used. */
export async function loadReplay(db: Queryable, config: ProgramConfig, record: TouchpointRecord, hash: string): Promise<RecordResult | null> {
  const programId = config.program.id;
  const [stored] = await db.query(FIND_RECORDED, [programId, record.type, record.externalId], { prepare: true });
  if (!stored) return null;
  if (stored.request_hash !== hash) throw new IdempotencyKeyReused(record.keyField, record.externalId);
  const [customerRow] = await db.query(`SELECT * FROM customers WHERE program_id = $1 AND id = $2`, [programId, stored.customer_id]);
  const t = stored.transition;
  return {
    touchpoint: touchpointFromRow(stored),
    pointsEarned: stored.points,
    pointsPending: stored.earning?.pending ? stored.points : 0,
    appliedRules: stored.earning?.applied ?? [],
    pointsShortfall: stored.points_shortfall,
    customer: customerFromRow(customerRow),
    stageChange: t
      ? {
          id: String(t.id),
          from: t.from_key ? stageOf(config, t.from_key) : null,
          to: stageOf(config, t.to_key),
          at: new Date(t.at),
          cause: t.cause,
          touchpointId: String(stored.id),
          reason: t.reason,
        }
      : null,
    replayed: true,
  };
}
