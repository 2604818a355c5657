/**
 * Grants: points or rewards owed to a customer by something another transaction committed (a
 * referral, a referee's first purchase, a triggered reward). The owing row is written with that
 * transaction; giving it is a transaction of its own that locks the grant row, gives, and marks
 * it given, so a grant is never lost (a crash leaves it for the next run) nor given twice.
 */
import type { App } from "../../app";
import { Tx } from "../../db/db";
import { LoyaltyEventMessage } from "../../events/event.types";
import { ProgramConfig } from "../program/program.config";
import { expiryOf } from "../points/points.policy";
import { CREDIT_POINTS } from "../touchpoint/touchpoint.sql";
import { issueUnit, redemptionPayload, Refusal, writeEvent } from "../rewards/reward.service";
import { rewardFromRow } from "../rewards/reward.types";
import { FIRST_PURCHASE_GRANTS, TRIGGER_GRANTS } from "./grant.sql";

/** Inside a write batch: what its touchpoints owe (referral first purchases, triggered rewards). Returns how many grants were written. */
export async function owedByBatch(
  tx: Tx,
  config: ProgramConfig,
  written: Array<{ customerId: string; type: string }>,
  now: Date,
): Promise<number> {
  let owed = 0;
  const buyers = [...new Set(written.filter((w) => w.type === "PURCHASE").map((w) => w.customerId))];
  if (buyers.length > 0 && config.rules.some((r) => r.referralTrigger === "FIRST_PURCHASE")) {
    owed += (await tx.query(FIRST_PURCHASE_GRANTS, [config.program.id, buyers, now])).length;
  }
  const types = new Set(written.map((w) => w.type));
  const triggers = config.triggers.filter((t) => types.has(t.touchpointType)).map((t) => t.id);
  if (triggers.length > 0) {
    const customers = [...new Set(written.filter((w) => config.triggers.some((t) => t.touchpointType === w.type)).map((w) => w.customerId))];
    owed += (await tx.query(TRIGGER_GRANTS, [config.program.id, customers, now, triggers])).length;
  }
  return owed;
}

export class GrantService {
  constructor(private readonly app: App) {}

  /** Gives every pending grant of a program, one transaction each. Returns how many were given. */
  async process(programId: string): Promise<number> {
    let given = 0;
    for (;;) {
      const done = await this.giveOne(programId);
      if (!done) return given;
      given++;
    }
  }

  private async giveOne(programId: string): Promise<boolean> {
    const { app } = this;
    const events: LoyaltyEventMessage[] = [];
    const config = await app.programs.config(programId);
    let found = false;
    try {
      await app.db.transaction(async (tx) => {
        events.length = 0;
        const [grant] = await tx.query(
          `SELECT * FROM grants WHERE program_id = $1 AND granted_at IS NULL ORDER BY created_at, key LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [programId],
        );
        if (!grant) return;
        found = true;
        const now = app.clock();
        let result: Record<string, unknown>;
        if (grant.kind === "POINTS") {
          const [credit] = await tx.query(
            CREDIT_POINTS,
            [programId, grant.customer_id, grant.points, "GRANT", "GRANT", null, now, expiryOf(config.points, now, config.program.timeZone), grant.key, grant.reason, true],
            { prepare: true },
          );
          result = { points: Number(grant.points), lotId: String(credit.lot_id) };
          events.push(await writeEvent(tx, programId, "POINTS_ADJUSTED", grant.customer_id, { points: String(grant.points), reason: grant.reason }));
        } else {
          await tx.query(`SELECT 1 FROM customers WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE`, [programId, grant.customer_id]);
          const [rewardRow] = await tx.query(`SELECT * FROM rewards WHERE program_id = $1 AND id = $2`, [programId, grant.reward_id]);
          const reward = rewardFromRow(rewardRow);
          const issued = reward.active ? await this.issue(tx, reward, grant, now) : { unavailable: "INACTIVE" };
          if ("unavailable" in issued) result = issued;
          else {
            result = { redemptionId: issued.id, code: issued.code };
            events.push(await writeEvent(tx, programId, "REWARD_ISSUED", grant.customer_id, redemptionPayload(issued, reward.name)));
          }
        }
        await tx.query(`UPDATE grants SET granted_at = $3, result = $4 WHERE program_id = $1 AND key = $2`, [programId, grant.key, now, JSON.stringify(result)]);
      });
    } catch (err) {
      app.log.error({ err, programId }, "grant failed; the next run tries again");
      return false;
    }
    if (events.length > 0) app.outbox.publishCommitted(events);
    return found;
  }

  private async issue(tx: Tx, reward: ReturnType<typeof rewardFromRow>, grant: any, now: Date): Promise<any> {
    try {
      await tx.query(`SAVEPOINT issue`);
      const issued = await issueUnit(tx, reward, grant.customer_id, { key: grant.key, hash: "grant", points: 0, now });
      await tx.query(`RELEASE SAVEPOINT issue`);
      return "id" in issued ? issued : { unavailable: issued.reason };
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      await tx.query(`ROLLBACK TO SAVEPOINT issue`);
      return { unavailable: (err.result as { reason?: string }).reason ?? "UNAVAILABLE" };
    }
  }
}
