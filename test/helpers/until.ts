/**
 * Waiting for a condition instead of sleeping: a test says what it waits for, goes on as soon as
 * it holds, and fails with that name (and the last value seen) when it does not hold in time.
 */

export interface UntilOptions {
  /** Fails after this long. */
  timeoutMs?: number;
  /** What is waited for, as the failure message says it. */
  what: string;
  /** How often the condition is checked. */
  intervalMs?: number;
}

/**
 * Resolves with the condition's first truthy value; rejects when the deadline passes (or rethrows
 * the condition's last error then: a query that fails until a row exists is still a condition).
 */
export async function until<T>(condition: () => T | Promise<T>, { timeoutMs = 5000, what, intervalMs = 10 }: UntilOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await condition();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last seen: ${seen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
