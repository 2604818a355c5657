/**
 * How entity properties read the column types `pg` returns as text.
 *
 * `pg` returns bigint and numeric as strings, because neither fits a JavaScript number in general.
 * The code already decides per column (see the `xxxFromRow` mappers): points are integers far below
 * 2^53 (an append-only ledger of whole points), so their bigint columns read as numbers; row ids
 * (identity columns, outbox sequences) stay strings, as GraphQL IDs and cursors carry them; money
 * and rates are numeric and read as numbers, as every mapper did with `Number(row.amount)`.
 */
import { ValueTransformer } from "typeorm";

/** A bigint count of points: a number, refused rather than rounded past 2^53. */
export const bigintPoints: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => {
    if (value === null || value === undefined) return value;
    const points = Number(value);
    if (!Number.isSafeInteger(points)) throw new RangeError(`bigint ${value} is beyond a safe JavaScript integer`);
    return points;
  },
};

/** A numeric amount (money, a rate, a threshold): a number, as the API's Float fields give it. */
export const numericNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null || value === undefined ? value : Number(value)),
};
