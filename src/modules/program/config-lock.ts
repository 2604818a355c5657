/** The lock every change of a program's configuration starts with. */
import { NotFound } from "../../api/errors";
import { Tx } from "../../db/db";

/**
 * Starts a change of a program's configuration in `tx`: locks the program row and makes a new
 * configuration version (updated_at). Changes that replace sets of rows (stages, rules, tiers) are
 * DELETE-then-INSERT: two of them at once each deleted the rows they saw and the second inserted
 * stages the first had just inserted (duplicate key, INTERNAL_SERVER_ERROR). Taken first, this lock
 * makes every configuration change of a program wait for the one before it, and what it validates
 * against is read after it. It is the row lock an UPDATE takes (FOR NO KEY UPDATE): it waits for a
 * locked write batch (FOR SHARE on the program) but not for inserts referencing the program.
 */
export async function lockProgramConfig(tx: Tx, programId: string): Promise<void> {
  const [row] = await tx.query(`UPDATE programs SET updated_at = now() WHERE id = $1 RETURNING id`, [programId]);
  if (!row) throw new NotFound("Program", "programId");
}
