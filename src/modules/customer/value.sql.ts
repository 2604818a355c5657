/**
 * The value rules that set-based queries need, in SQL: each the same rule as its function in
 * domain/value/customer-value.ts (a test compares the two over the API).
 */
import { CLV_ACTIVE_DAYS, CLV_HORIZON_YEARS, YEAR_DAYS } from "../../domain/value/customer-value";

/** clvOf(row, asOf) for the customers row aliased `c`; `asOf` is a timestamptz expression (a parameter). */
export function clvSql(asOf: string): string {
  // numeric throughout (extract gives numeric from PostgreSQL 14, a float before): round(numeric, 2).
  const days = (column: string) => `extract(epoch FROM ${asOf} - c.${column})::numeric / 86400`;
  return `(CASE WHEN c.purchase_count <= 0 OR c.first_purchase_at IS NULL OR c.last_purchase_at IS NULL OR c.purchase_amount <= 0
     THEN greatest(c.purchase_amount, 0)
     ELSE round(c.purchase_amount + CASE WHEN ${days("last_purchase_at")} <= ${CLV_ACTIVE_DAYS}
       THEN c.purchase_amount / greatest(1, ${days("first_purchase_at")} / ${YEAR_DAYS}) * ${CLV_HORIZON_YEARS} ELSE 0 END, 2) END)`;
}
