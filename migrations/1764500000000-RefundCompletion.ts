import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * When a refund completed an order, stored on the purchase (`refund_completed_at`). It used to be
 * guessed from the amounts (refunded_amount >= amount), which an order refunded line by line whose
 * lines do not add up to its amount (or a free order) never passed: such an order was dropped from
 * the customer's purchase count by its refund, then counted again by the windowed metrics, and a
 * later refund by amount could drop it a second time. The one flag now answers all three.
 *
 * Existing purchases: complete when the amounts say so, or when every line came back. Then each
 * customer's first and last purchase dates are those of the purchases still counting (a fully
 * refunded order used to keep its date).
 */
/** The backfill, two statements, exported for the test that runs them again over refunds the API recorded. */
export const REFUND_COMPLETION_BACKFILL = [
  `
      UPDATE touchpoints t SET refund_completed_at = coalesce(
               (SELECT max(r.occurred_at) FROM touchpoints r
                 WHERE r.program_id = t.program_id AND r.type = 'REFUND' AND r.related_external_id = t.external_id), t.recorded_at)
       WHERE t.type = 'PURCHASE'
         AND ((t.amount > 0 AND t.refunded_amount >= t.amount)
              OR (jsonb_typeof(t.earning->'lines') = 'array' AND jsonb_array_length(t.earning->'lines') > 0 AND NOT EXISTS (
                    SELECT 1 FROM (
                      SELECT l->>'sku' AS sku, sum((l->>'quantity')::int) AS quantity
                        FROM jsonb_array_elements(t.earning->'lines') l
                       WHERE NOT coalesce((l->>'voided')::boolean, false)
                       GROUP BY l->>'sku') line
                     WHERE coalesce((t.refunded_lines->>line.sku)::int, 0) < line.quantity)))`,
  `
      UPDATE customers c SET first_purchase_at = s.first_at, last_purchase_at = s.last_at
        FROM (SELECT c2.program_id, c2.id,
                     (SELECT min(t.occurred_at) FROM touchpoints t WHERE t.program_id = c2.program_id AND t.customer_id = c2.id
                         AND t.type = 'PURCHASE' AND t.refund_completed_at IS NULL) AS first_at,
                     (SELECT max(t.occurred_at) FROM touchpoints t WHERE t.program_id = c2.program_id AND t.customer_id = c2.id
                         AND t.type = 'PURCHASE' AND t.refund_completed_at IS NULL) AS last_at
                FROM customers c2
               WHERE c2.last_purchase_at IS NOT NULL
                 AND EXISTS (SELECT 1 FROM touchpoints t WHERE t.program_id = c2.program_id AND t.customer_id = c2.id
                                AND t.type = 'PURCHASE' AND t.refund_completed_at IS NOT NULL)) s
       WHERE c.program_id = s.program_id AND c.id = s.id`,
];

export class RefundCompletion1764500000000 implements MigrationInterface {
  name = "RefundCompletion1764500000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE touchpoints ADD COLUMN refund_completed_at timestamptz`);
    for (const statement of REFUND_COMPLETION_BACKFILL) await q.query(statement);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE touchpoints DROP COLUMN refund_completed_at`);
  }
}
