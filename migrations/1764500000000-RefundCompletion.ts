import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * When a refund completed an order, stored on the purchase (`refund_completed_at`). It used to be
 * guessed from the amounts (refunded_amount >= amount), which an order refunded line by line whose
 * lines do not add up to its amount (or a free order) never passed: such an order was dropped from
 * the customer's purchase count by its refund, then counted again by the windowed metrics, and a
 * later refund by amount could drop it a second time. The one flag now answers all three.
 *
 * Existing purchases: complete when the amounts say so, or when every paid line came back (the
 * time: the order's last refund). Then each customer's first and last purchase dates are those of
 * the purchases still counting (a fully refunded order used to keep its date). purchase_count is
 * left as the refunds kept it.
 */
/** The backfill, two statements, exported for the test that runs them again over refunds the API recorded. */
export const REFUND_COMPLETION_BACKFILL = [
  `
      UPDATE touchpoints t SET refund_completed_at = coalesce(r.at, t.recorded_at)
        FROM touchpoints p
        -- The last refund of each order, in one aggregate (related_external_id has no index of its own).
        LEFT JOIN (SELECT DISTINCT ON (program_id, related_external_id) program_id, related_external_id, occurred_at AS at
                     FROM touchpoints WHERE type = 'REFUND' ORDER BY program_id, related_external_id, id DESC) r
               ON r.program_id = p.program_id AND r.related_external_id = p.external_id
       WHERE p.program_id = t.program_id AND p.id = t.id AND t.type = 'PURCHASE'
         AND ((t.amount > 0 AND t.refunded_amount >= t.amount)
              -- Every paid (not voided) line back, per SKU; an order with no paid line was never refunded by lines.
              OR (jsonb_typeof(t.earning->'lines') = 'array' AND coalesce((
                    SELECT bool_and(coalesce((t.refunded_lines->>line.sku)::int, 0) >= line.quantity) FROM (
                      SELECT l->>'sku' AS sku, sum((l->>'quantity')::int) AS quantity
                        FROM jsonb_array_elements(t.earning->'lines') l
                       WHERE NOT coalesce((l->>'voided')::boolean, false)
                       GROUP BY l->>'sku') line), false)))`,
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
