/**
 * Where a program's buyers stand (the RFM quintile breakpoints), cached per process. One aggregate
 * over the program's buyers: for a program of a million customers that is a sort of a second or so,
 * hence the cache: scores read at most VALUE_BREAKPOINTS_TTL_MS old breakpoints, and a page of any
 * number of customers costs no statement while they are cached.
 */
import { Queryable } from "../../db/db";
import { ValueBreakpoints } from "../../domain/value/customer-value";

/** How long a program's breakpoints are reused before they are taken again. */
export const VALUE_BREAKPOINTS_TTL_MS = 5 * 60_000;

const BREAKPOINTS = `
SELECT count(*)::int AS buyers,
       percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY extract(epoch FROM last_purchase_at) * 1000) AS recency,
       percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY purchase_count) AS frequency,
       percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY purchase_amount) AS monetary
  FROM customers
 WHERE program_id = $1 AND purchase_count > 0 AND last_purchase_at IS NOT NULL`;

const numbers = (values: unknown[] | null): number[] => (values ?? []).map(Number);

export class ValueBreakpointsCache {
  private readonly entries = new Map<string, { value: Promise<ValueBreakpoints>; until: number }>();

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = VALUE_BREAKPOINTS_TTL_MS,
  ) {}

  /** The program's breakpoints; concurrent callers share one statement. */
  get(programId: string): Promise<ValueBreakpoints> {
    const entry = this.entries.get(programId);
    if (entry && entry.until > Date.now()) return entry.value;
    const value = this.db.query(BREAKPOINTS, [programId], { prepare: true }).then(([row]) => ({
      buyers: row.buyers,
      recency: numbers(row.recency),
      frequency: numbers(row.frequency),
      monetary: numbers(row.monetary),
    }));
    this.entries.set(programId, { value, until: Date.now() + this.ttlMs });
    // A failure is not kept: the next read tries again.
    value.catch(() => this.entries.get(programId)?.value === value && this.entries.delete(programId));
    return value;
  }

  /** Forgets every program's breakpoints (tests, or after a bulk import). */
  clear(): void {
    this.entries.clear();
  }
}
