/**
 * Customers whose optimistic batch met a concurrent writer lately: their next batches take the
 * locked path for a while. Optimistic attempts that keep failing cost more than waiting for a
 * lock: a customer written from several processes at once (a hot one) is written under its lock,
 * as a queue, while it is hot.
 */

/** How long a customer whose batch met a concurrent writer has its batches take the locked path. */
const CONTENDED_MS = 2_000;
/** Contended customers remembered at most (expired ones are dropped when this is reached). */
const CONTENDED_MAX = 10_000;

export class ContendedCustomers {
  /** Until when each customer counts as contended (epoch ms), by id. */
  private readonly until = new Map<string, number>();

  /** None is contended (the usual case: no need to look at a batch's customers). */
  get empty(): boolean {
    return this.until.size === 0;
  }

  /** Whether any of these customers (ids, as far as known) met a concurrent writer in the last CONTENDED_MS. */
  any(customerIds: Array<string | undefined>, now: Date): boolean {
    return customerIds.some((id) => id !== undefined && (this.until.get(id) ?? 0) > now.getTime());
  }

  mark(customerIds: string[], now: Date): void {
    if (this.until.size + customerIds.length > CONTENDED_MAX) {
      for (const [id, until] of this.until) if (until <= now.getTime()) this.until.delete(id);
    }
    for (const id of customerIds) if (this.until.size < CONTENDED_MAX) this.until.set(id, now.getTime() + CONTENDED_MS);
  }
}
