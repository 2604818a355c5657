/**
 * Erasure, the right to be forgotten (GDPR art. 17): a customer's identity and what they wrote go;
 * what they did stays, anonymous. Cleared: email, name, attributes, the partner's id (replaced by
 * `erased:<id>`, which no partner id may start with, so nobody can name the customer again), every
 * touchpoint's data (review texts, survey answers, partner payloads; a survey response keeps its
 * survey, responseId and derived attitude score) and request hash (a hash of what the partner sent,
 * which may have held the person's identifiers), and the request hashes of their referrals; their
 * grants not given yet are cancelled. Kept: what they did (the ledger and its notes, points,
 * counters, stage and tier history, redemptions, each touchpoint's type, time, amount, order or
 * review id, products and earning), so balances and the program's figures still add up; events
 * already in the outbox age out with it (OUTBOX_RETENTION_DAYS). From then on nothing new is
 * written for the customer: records, refunds, redemptions, adjustments, transfers, referrals and
 * tier changes are NOT_FOUND, tokens are refused, and their partner id, sent again, is a new
 * customer. The CUSTOMER_ERASED event tells subscribed systems to forget them too.
 */
import { RequestContext } from "../../context";
import { ERASED_ID_PREFIX } from "../../api/validation";
import { LoyaltyEventMessage } from "../../events/event.types";
import { writeEvent } from "../rewards/reward.service";
import { Customer, customerFromRow } from "./customer.types";

/** Erases the customer (once: erasing again changes nothing and sends no event); null when the program has no such customer. */
export async function eraseCustomer(ctx: RequestContext, programId: string, customerId: string): Promise<Customer | null> {
  let event: LoyaltyEventMessage | null = null;
  const row = await ctx.app.db.transaction(async (tx) => {
    // Locks in the order every writer takes them: the customer's touchpoints (a refund locks its
    // purchase) and grants (the grant step locks its grant) before the customer.
    await tx.query(`SELECT 1 FROM touchpoints WHERE program_id = $1 AND customer_id = $2 ORDER BY id FOR UPDATE`, [programId, customerId]);
    await tx.query(
      `UPDATE grants SET granted_at = now(), result = '{"cancelled": "the customer was erased"}'
        WHERE program_id = $1 AND customer_id = $2 AND granted_at IS NULL`,
      [programId, customerId],
    );
    const [before] = await tx.query(`SELECT erased_at FROM customers WHERE program_id = $1 AND id = $2 FOR UPDATE`, [programId, customerId]);
    if (!before) return null;
    const [erased] = await tx.query(
      `UPDATE customers SET email = NULL, name = NULL, attributes = '{}', external_id = $3 || id::text,
              erased_at = coalesce(erased_at, now()), updated_at = now()
        WHERE program_id = $1 AND id = $2 RETURNING *`,
      [programId, customerId, ERASED_ID_PREFIX],
    );
    await tx.query(
      `UPDATE touchpoints SET request_hash = 'erased',
              data = CASE WHEN data ? 'survey' THEN jsonb_build_object('survey', data->'survey') END
        WHERE program_id = $1 AND customer_id = $2 AND (request_hash <> 'erased' OR data IS DISTINCT FROM
              CASE WHEN data ? 'survey' THEN jsonb_build_object('survey', data->'survey') END)`,
      [programId, customerId],
    );
    await tx.query(`UPDATE referrals SET request_hash = 'erased' WHERE program_id = $1 AND (referee_id = $2 OR referrer_id = $2)`, [programId, customerId]);
    if (!before.erased_at) event = await writeEvent(tx, programId, "CUSTOMER_ERASED", customerId, { at: erased.erased_at });
    return erased;
  });
  // Its tokens stop working at once, here and in every process the bus reaches (a process it does
  // not reach forgets within CUSTOMER_CACHE_MS), and its open sockets close.
  if (row) ctx.app.customerErased(programId, customerId);
  if (event) ctx.app.outbox.publishCommitted([event]);
  return row ? customerFromRow(row) : null;
}
