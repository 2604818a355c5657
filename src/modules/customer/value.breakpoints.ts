/**
 * Where a program's buyers stand (the RFM quintile breakpoints), cached per process. One aggregate
 * over the program's buyers: for a program of a million customers that is a sort of a second or so,
 * hence the cache: scores read breakpoints about VALUE_BREAKPOINTS_TTL_MS old at most (older only
 * while a refresh runs), and a page of any number of customers costs no statement for them.
 */
import { Queryable } from "../../db/db";
import { ValueBreakpoints } from "../../domain/value/customer-value";
import { IS_BUYER, LAST_PURCHASE_MS } from "./value.sql";

/** How long a program's breakpoints are reused before they are taken again. */
export const VALUE_BREAKPOINTS_TTL_MS = 5 * 60_000;

/** The 1st to 99th percentiles of each measure over the program's buyers ($2: 0.01 … 0.99). */
const BREAKPOINTS = `
SELECT count(*)::int AS buyers,
       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY ${LAST_PURCHASE_MS}) AS recency,
       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY c.purchase_count) AS frequency,
       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY c.purchase_amount) AS monetary
  FROM customers c
 WHERE ${IS_BUYER}`;

const FRACTIONS = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);

const numbers = (values: unknown[] | null): number[] => (values ?? []).map(Number);

export class ValueBreakpointsCache {
  private readonly entries = new Map<string, { value: Promise<ValueBreakpoints>; until: number; settled?: boolean; refreshing?: boolean }>();

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = VALUE_BREAKPOINTS_TTL_MS,
  ) {}

  /**
   * The program's breakpoints; concurrent callers share one statement. Once they are older than the
   * TTL, callers get them as they are while one statement takes them again (only the very first
   * read of a program waits for the aggregate).
   */
  get(programId: string, via: Queryable = this.db): Promise<ValueBreakpoints> {
    const entry = this.entries.get(programId);
    if (entry && (entry.until > Date.now() || entry.refreshing)) return entry.value;
    const value = this.load(programId, via);
    if (!entry?.settled) {
      this.entries.set(programId, { value, until: Date.now() + this.ttlMs });
      return value;
    }
    entry.refreshing = true;
    value.then(
      // Unless cleared meanwhile: a refresh begun before clear() must not bring old figures back.
      (fresh) =>
        this.entries.get(programId) === entry && this.entries.set(programId, { value: Promise.resolve(fresh), until: Date.now() + this.ttlMs, settled: true }),
      () => (entry.refreshing = false),
    );
    return entry.value;
  }

  /** `via`: the request's queryable, so the request that takes the breakpoints counts the statement. */
  private load(programId: string, via: Queryable): Promise<ValueBreakpoints> {
    const value = via.query(BREAKPOINTS, [programId, FRACTIONS], { prepare: true }).then(([row]) => ({
      buyers: row.buyers,
      recency: numbers(row.recency),
      frequency: numbers(row.frequency),
      monetary: numbers(row.monetary),
    }));
    value.then(
      () => {
        const entry = this.entries.get(programId);
        if (entry?.value === value) entry.settled = true;
      },
      // A failure is not kept: the next read tries again.
      () => this.entries.get(programId)?.value === value && this.entries.delete(programId),
    );
    return value;
  }

  /** Forgets every program's breakpoints (tests, or after a bulk import). */
  clear(): void {
    this.entries.clear();
  }
}
