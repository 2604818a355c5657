/**
 * Switching a part of a program's configuration on or off (a reward trigger, a stage reward): the
 * row is read under lock, and only a real change makes a new configuration version (programs.updated_at),
 * so batches in flight are evaluated again with it; setting the value it has changes nothing.
 */
import { RequestContext } from "../../context";
import { NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";

/** The configuration tables with an `active` switch, and how their rows are named in errors. */
const SWITCHABLE = {
  reward_triggers: { entity: "RewardTrigger", field: "triggerId" },
  stage_rewards: { entity: "StageReward", field: "stageRewardId" },
} as const;

/** Sets `active` on a row of `table` (its policy: ADMIN of its program); returns the row as it is then. */
export async function setConfigRowActive(ctx: RequestContext, table: keyof typeof SWITCHABLE, rawId: string, active: boolean): Promise<any> {
  const { entity, field } = SWITCHABLE[table];
  const id = uuidArg(rawId, field);
  const [found] = await ctx.app.db.query(`SELECT program_id FROM ${table} WHERE id = $1`, [id]);
  // The policy checked the credential on this row: gone since, it is NOT_FOUND.
  if (!found) throw new NotFound(entity, field);
  const programId: string = found.program_id;
  const { row, changed } = await ctx.app.db.transaction(async (tx) => {
    const [current] = await tx.query(`SELECT * FROM ${table} WHERE program_id = $1 AND id = $2 FOR UPDATE`, [programId, id]);
    if (current.active === active) return { row: current, changed: false };
    const [updated] = await tx.query(`UPDATE ${table} SET active = $3 WHERE program_id = $1 AND id = $2 RETURNING *`, [programId, id, active]);
    await tx.query(`UPDATE programs SET updated_at = now() WHERE id = $1`, [programId]);
    return { row: updated, changed: true };
  });
  if (changed) ctx.app.programChanged(programId);
  return row;
}
