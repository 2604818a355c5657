/**
 * The value rules that set-based queries need, in SQL: each the same rule as its function in
 * domain/value/customer-value.ts (a test compares the two over the API).
 */
import { RfmSegment, rfmSegmentOf, ValuePolicy, YEAR_DAYS } from "../../domain/value/customer-value";
import { LAST_CALL_DAYS, MATURITY_AFTER_DAYS, MIN_OVERDUE_DAYS, OVERDUE_FACTOR, RHYTHM_DAYS } from "../../domain/value/lifecycle";

/** A policy's numbers, written into SQL text: whole numbers, checked (the program's configuration holds them as integers). */
function whole(n: number): number {
  if (!Number.isSafeInteger(n)) throw new Error(`value policy: ${n} is not a whole number`);
  return n;
}

/** The customers (row `c`) of program $1 the RFM scores are taken over: those with a purchase. */
export const IS_BUYER = `c.program_id = $1 AND c.purchase_count > 0 AND c.last_purchase_at IS NOT NULL`;

/** A timestamp as whole epoch milliseconds, as Date.getTime() gives it (extract gives a float before PostgreSQL 14: cast first). */
function epochMs(ts: string): string {
  return `floor(extract(epoch FROM ${ts})::numeric * 1000)`;
}

/** A customer's last purchase as whole epoch milliseconds, as Date.getTime() gives it (rfmOf). */
export const LAST_PURCHASE_MS = epochMs("c.last_purchase_at");

/**
 * quintile(value, percentiles) in SQL. `percentiles` is a numeric[] parameter (ascending) and
 * `negated` the same values negated, in reverse (ascending too): width_bucket counts the
 * percentiles at or below a value by binary search, so `at or above` is the count of negated ones
 * at or below the negated value.
 */
export function quintileSql(value: string, percentiles: string, negated: string): string {
  const n = `cardinality(${percentiles})`;
  const atOrBelow = `width_bucket((${value})::numeric, ${percentiles})`;
  const below = `(${n} - width_bucket(-(${value})::numeric, ${negated}))`;
  return `(CASE WHEN ${n} = 0 THEN 3 ELSE least(5, greatest(1, ceil(((${below} + ${atOrBelow} + 1) * 5)::numeric / (2 * (${n} + 1)))))::int END)`;
}

/** The arguments quintileSql reads for a measure's percentiles: them, and them negated in reverse. */
export const quintileParams = (percentiles: number[]): [number[], number[]] => [percentiles, percentiles.map((p) => -p).reverse()];

/** rfmSegmentOf(recency, frequency) in SQL, for two integer expressions: written from the function itself, cell by cell. */
export function rfmSegmentSql(recency: string, frequency: string): string {
  const cells: string[] = [];
  for (let r = 1; r <= 5; r++) for (let f = 1; f <= 5; f++) cells.push(`WHEN ${r * 10 + f} THEN '${rfmSegmentOf(r, f)}'`);
  return `(CASE ${recency} * 10 + ${frequency} ${cells.join(" ")} END)`;
}

/** Every segment, in the order the grid lists them (RfmSegment's). */
export const RFM_SEGMENTS = Object.values(RfmSegment);

/**
 * clvOf(row, asOf, policy) for the customers row aliased `c`; `asOf` is a timestamptz expression (a
 * parameter). Whether the customer is still active is decided on whole milliseconds, as the
 * function sees the row (and as lifecyclePhaseSql decides CHURNED).
 */
export function clvSql(asOf: string, policy: ValuePolicy): string {
  // numeric throughout (extract gives numeric from PostgreSQL 14, a float before): round(numeric, 2).
  const days = (column: string) => `extract(epoch FROM ${asOf} - c.${column})::numeric / 86400`;
  return `(CASE WHEN c.purchase_count <= 0 OR c.first_purchase_at IS NULL OR c.last_purchase_at IS NULL OR c.purchase_amount <= 0
     THEN greatest(c.purchase_amount, 0)
     ELSE round(c.purchase_amount + CASE WHEN ${epochMs(asOf)} - ${epochMs("c.last_purchase_at")} < ${whole(policy.activeDays) * 86_400_000}
       THEN c.purchase_amount / greatest(1, ${days("first_purchase_at")} / ${YEAR_DAYS}) * ${whole(policy.horizonYears)} ELSE 0 END, 2) END)`;
}

/**
 * lifecycleOf(row, asOf, policy).phase in SQL, for the customers row aliased `c`; `asOf` is a timestamptz
 * expression (a parameter). Whole milliseconds in numeric throughout, as the function takes them
 * (extract gives a float before PostgreSQL 14: cast first).
 */
export function lifecyclePhaseSql(asOf: string, policy: ValuePolicy): string {
  const day = 86_400_000;
  const ms = epochMs;
  const last = ms("c.last_purchase_at");
  const first = `coalesce(${ms("c.first_purchase_at")}, ${last})`;
  const span = `greatest(0, ${last} - ${first})`;
  const since = `(${ms(asOf)} - ${last})`;
  const churn = whole(policy.activeDays) * day;
  const ownPace = `(CASE WHEN c.purchase_count >= 2 AND ${span} >= ${RHYTHM_DAYS * day}
     THEN greatest(${MIN_OVERDUE_DAYS * day}, ${OVERDUE_FACTOR} * div(${span}, c.purchase_count - 1))
     ELSE ${whole(policy.firstRepeatDays) * day} END)`;
  const overdue = `least(${ownPace}, ${churn - LAST_CALL_DAYS * day})`;
  return `(CASE WHEN c.purchase_count <= 0 OR c.last_purchase_at IS NULL THEN 'CONTACT'
     WHEN ${since} >= ${churn} THEN 'CHURNED'
     WHEN ${since} >= ${overdue} THEN 'DECLINE'
     WHEN c.purchase_count = 1 THEN 'ACQUISITION'
     WHEN ${ms(asOf)} - ${first} < ${MATURITY_AFTER_DAYS * day} THEN 'GROWTH'
     ELSE 'MATURITY' END)`;
}
