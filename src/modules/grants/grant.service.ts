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
import { GRANT_KEY_PREFIX, issueUnit, redemptionPayload, Refusal, writeEvent } from "../rewards/reward.service";
import { rewardFromRow } from "../rewards/reward.types";
import { FIRST_PURCHASE_GRANTS, STAGE_ENTRY_GRANTS, TRIGGER_GRANTS } from "./grant.sql";
import { LOCK_CUSTOMER } from "../customer/customer.sql";

/** Whether a program's write batches can owe grants (owedByBatch then has something to look for). */
export function owesGrantsOnWrite(config: ProgramConfig): boolean {
  return config.triggers.length > 0 || config.stageRewards.length > 0 || config.rules.some((r) => r.referralTrigger === "FIRST_PURCHASE");
}

/** A stage move a transaction wrote: who, into which stage, its transition, and the touchpoint that made it (none for time passing). */
export interface StageEntry {
  customerId: string;
  toKey: string;
  transitionId: string;
  touchpoint: { id: string; type: string; occurredAt: Date } | null;
}

/**
 * Inside the transaction of stage moves: the stage rewards they owe (STAGE_ENTRY_GRANTS). Costs
 * nothing unless a move enters a stage with an active stage reward in `config`; `fresh`: the
 * configuration may be older than the moves (a recompute has no version check), so every move is
 * looked up. Returns how many grants were written.
 */
export async function owedForStageEntries(tx: Tx, config: ProgramConfig, entries: StageEntry[], now: Date, fresh = true): Promise<number> {
  const rewarded = new Set(config.stageRewards.map((r) => r.stageKey));
  const due = fresh ? entries.filter((e) => rewarded.has(e.toKey)) : entries;
  if (due.length === 0) return 0;
  const rows = await tx.query(STAGE_ENTRY_GRANTS, [
    config.program.id,
    due.map((e) => e.customerId),
    now,
    due.map((e) => e.toKey),
    due.map((e) => e.transitionId),
    due.map((e) => e.touchpoint?.id ?? null),
    due.map((e) => e.touchpoint?.type ?? null),
    due.map((e) => e.touchpoint?.occurredAt ?? null),
    config.points.pendingDays,
  ]);
  return rows.length;
}

/**
 * Inside a write batch: what its touchpoints owe (referral first purchases, triggered rewards) and
 * what its stage moves owe (stage rewards). Returns how many grants were written.
 */
export async function owedByBatch(
  tx: Tx,
  config: ProgramConfig,
  written: Array<{ customerId: string; type: string; touchpointId: string; occurredAt: Date }>,
  entries: StageEntry[],
  now: Date,
): Promise<number> {
  let owed = await owedForStageEntries(tx, config, entries, now);
  // Each buyer's first purchase in the batch (arrival order).
  const firsts = new Map<string, { touchpointId: string; occurredAt: Date }>();
  for (const w of written) if (w.type === "PURCHASE" && !firsts.has(w.customerId)) firsts.set(w.customerId, w);
  if (firsts.size > 0 && config.rules.some((r) => r.referralTrigger === "FIRST_PURCHASE")) {
    const buyers = [...firsts.keys()];
    owed += (
      await tx.query(FIRST_PURCHASE_GRANTS, [
        config.program.id,
        buyers,
        now,
        buyers.map((b) => firsts.get(b)!.touchpointId),
        buyers.map((b) => firsts.get(b)!.occurredAt),
        config.points.pendingDays,
      ])
    ).length;
  }
  const types = new Set(written.map((w) => w.type));
  const triggers = config.triggers.filter((t) => types.has(t.touchpointType)).map((t) => t.id);
  if (triggers.length > 0) {
    const customers = [...new Set(written.filter((w) => config.triggers.some((t) => t.touchpointType === w.type)).map((w) => w.customerId))];
    owed += (await tx.query(TRIGGER_GRANTS, [config.program.id, customers, now, triggers])).length;
  }
  return owed;
}

/** How many times a failing grant is tried (each lifecycle run tries it once more). */
const MAX_ATTEMPTS = 5;

export class GrantService {
  constructor(private readonly app: App) {}

  /** Gives every pending grant of a program, one transaction each. Returns how many were given. */
  /**
   * Gives every pending grant of a program (or only those whose key starts with `keyPrefix`,
   * waiting for one another process is giving rather than skipping it: the caller then reads the
   * result). One transaction each. Returns how many were given.
   */
  async process(programId: string, keyPrefix?: string): Promise<number> {
    let given = 0;
    // Grants that failed in this run are passed over, so one bad grant never blocks the others.
    const failed = new Set<string>();
    try {
      for (;;) {
        const outcome = await this.giveOne(programId, failed, keyPrefix);
        if (outcome === "none") return given;
        if (outcome === "given") given++;
      }
    } catch (err) {
      // The database is unreachable, say: what is owed stays owed, for the next run.
      this.app.log.error({ err, programId }, "giving grants failed");
      return given;
    }
  }

  private async giveOne(programId: string, failed: Set<string>, keyPrefix?: string): Promise<"given" | "failed" | "none"> {
    const { app } = this;
    const events: LoyaltyEventMessage[] = [];
    const config = await app.programs.config(programId);
    let found: string | null = null;
    try {
      await app.db.transaction(async (tx) => {
        events.length = 0;
        const [grant] = await tx.query(
          `SELECT * FROM grants WHERE program_id = $1 AND granted_at IS NULL AND attempts < $2 AND NOT (key = ANY($3::text[]))
              AND ($4::text IS NULL OR starts_with(key, $4)) AND (due_at IS NULL OR due_at <= $5)
            ORDER BY created_at, key LIMIT 1 FOR UPDATE ${keyPrefix ? "" : "SKIP LOCKED"}`,
          [programId, MAX_ATTEMPTS, [...failed], keyPrefix ?? null, app.clock()],
        );
        if (!grant) return;
        found = grant.key;
        const now = app.clock();
        let result: Record<string, unknown>;
        if (grant.kind === "POINTS") {
          const [credit] = await tx.query(
            CREDIT_POINTS,
            [
              programId,
              grant.customer_id,
              grant.points,
              "GRANT",
              "GRANT",
              null,
              now,
              expiryOf(config.points, now, config.program.timeZone),
              grant.key,
              grant.reason,
              true,
            ],
            { prepare: true },
          );
          result = { points: Number(grant.points), lotId: String(credit.lot_id) };
          events.push(await writeEvent(tx, programId, "POINTS_ADJUSTED", grant.customer_id, { points: String(grant.points), reason: grant.reason }));
        } else {
          const [customer] = await tx.query(LOCK_CUSTOMER, [programId, grant.customer_id]);
          const [rewardRow] = await tx.query(`SELECT * FROM rewards WHERE program_id = $1 AND id = $2`, [programId, grant.reward_id]);
          const reward = rewardFromRow(rewardRow);
          const closed = !reward.active
            ? "INACTIVE"
            : reward.validFrom && now < reward.validFrom
              ? "NOT_YET_VALID"
              : reward.validTo && now >= reward.validTo
                ? "ENDED"
                : null;
          // Erasure cancels what is owed; a grant written in a race with it is cancelled here.
          const issued = customer?.erased_at
            ? { cancelled: "the customer was erased" }
            : closed
              ? { unavailable: closed }
              : await this.issue(tx, reward, grant, now);
          if ("unavailable" in issued || "cancelled" in issued) result = issued;
          else {
            result = { redemptionId: issued.id, code: issued.code };
            events.push(
              await writeEvent(tx, programId, "REWARD_ISSUED", grant.customer_id, {
                ...redemptionPayload(issued, reward.name),
                reason: grant.reason,
                grantKey: grant.key,
              }),
            );
          }
        }
        await tx.query(`UPDATE grants SET granted_at = $3, result = $4 WHERE program_id = $1 AND key = $2`, [
          programId,
          grant.key,
          now,
          JSON.stringify(result),
        ]);
      });
    } catch (err) {
      if (!found) throw err;
      failed.add(found);
      app.log.error({ err, programId, grant: found }, "grant failed; it is tried again by later runs, a few times");
      await app.db.query(`UPDATE grants SET attempts = attempts + 1, last_error = $3 WHERE program_id = $1 AND key = $2`, [
        programId,
        found,
        String((err as Error)?.message ?? err).slice(0, 500),
      ]);
      return "failed";
    }
    if (events.length > 0) app.outbox.publishCommitted(events);
    return found ? "given" : "none";
  }

  private async issue(tx: Tx, reward: ReturnType<typeof rewardFromRow>, grant: any, now: Date): Promise<any> {
    try {
      await tx.query(`SAVEPOINT issue`);
      const issued = await issueUnit(tx, reward, grant.customer_id, { key: GRANT_KEY_PREFIX + grant.key, hash: "grant", points: 0, now });
      await tx.query(`RELEASE SAVEPOINT issue`);
      return "id" in issued ? issued : { unavailable: issued.reason };
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      await tx.query(`ROLLBACK TO SAVEPOINT issue`);
      return { unavailable: (err.result as { reason?: string }).reason ?? "UNAVAILABLE" };
    }
  }
}
