/** Writing a program's tier configuration (at creation and by setTiers). */
import { BadInput } from "../../api/errors";
import { Tx } from "../../db/db";
import { TiersInput } from "./tier.types";
import { lockProgramConfig } from "../program/config-lock";

/** `field`: where the tiers sit in the argument ("tiers" in createProgram's input, "" for setTiers' own argument). */
export function validateTiers(tiers: TiersInput, field = "tiers"): void {
  const at = (path: string) => (field ? `${field}.${path}` : path);
  const keys = new Set<string>();
  tiers.levels.forEach((level, i) => {
    if (keys.has(level.key)) throw new BadInput(at(`levels[${i}].key`), `tier "${level.key}" is listed twice`);
    keys.add(level.key);
    if (i > 0 && level.threshold <= tiers.levels[i - 1].threshold) {
      throw new BadInput(at(`levels[${i}].threshold`), "tiers are listed lowest first, each threshold above the one before");
    }
  });
}

export async function replaceTiers(tx: Tx, programId: string, tiers: TiersInput, field = "tiers"): Promise<void> {
  validateTiers(tiers, field);
  // First: one configuration change of a program at a time (see lockProgramConfig).
  await lockProgramConfig(tx, programId);
  await tx.query(`DELETE FROM tiers WHERE program_id = $1`, [programId]);
  await tx.query(
    `INSERT INTO tiers (program_id, key, rank, name, threshold)
     SELECT $1, key, rank, name, threshold FROM jsonb_to_recordset($2::jsonb) AS t(key text, rank int, name text, threshold numeric)`,
    [programId, JSON.stringify(tiers.levels.map((l, rank) => ({ ...l, rank })))],
  );
  await tx.query(
    `UPDATE programs SET tier_basis = $2, tier_window = $3, tier_window_days = $4, tier_grace_days = $5, tier_downgrade = $6, updated_at = now() WHERE id = $1`,
    [programId, tiers.basis, tiers.window, tiers.windowDays, tiers.graceDays, tiers.downgrade],
  );
  // Customers locked in id order, as every other writer of many customers does.
  await tx.query(
    `UPDATE customers SET tier_key = NULL, tier_review_at = NULL, tier_manual_until = NULL
      WHERE program_id = $1 AND id IN (
        SELECT id FROM customers WHERE program_id = $1 AND tier_key IS NOT NULL AND tier_key <> ALL($2::text[]) ORDER BY id FOR NO KEY UPDATE)`,
    [programId, tiers.levels.map((l) => l.key)],
  );
}
