/**
 * Erasure, the right to be forgotten (GDPR art. 17): a customer's identity and what they wrote go;
 * what they did stays, anonymous. Cleared: email, name, attributes, the partner's id (replaced by
 * `erased:<id>`, which no partner id may start with, so nobody can name the customer again), every
 * touchpoint's data (review texts, survey answers, partner payloads; a survey response keeps its
 * survey, responseId and derived attitude score) and request hash (a hash of what the partner sent,
 * which may have held the person's identifiers). Kept: the ledger, points, counters, stage history,
 * tiers and redemptions, so balances and the program's figures still add up. From then on the
 * customer takes no new record (NOT_FOUND), and their partner id, sent again, is a new customer.
 * The CUSTOMER_ERASED event tells subscribed systems to forget them too.
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
    if (!before.erased_at) event = await writeEvent(tx, programId, "CUSTOMER_ERASED", customerId, { at: erased.erased_at });
    return erased;
  });
  if (event) ctx.app.outbox.publishCommitted([event]);
  return row ? customerFromRow(row) : null;
}
