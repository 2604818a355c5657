/**
 * The SQL gateway every service uses: one pg pool (TypeORM's), transactions with after-commit hooks,
 * prepared statements for the hot path, and a statement counter (tests assert that a nested query
 * costs a constant number of statements; /metrics can export it later).
 */
import { createHash } from "node:crypto";
import type { Pool, PoolClient, QueryResultRow } from "pg";

export interface Queryable {
  /** Runs one statement. `prepare: true` names it, so PostgreSQL plans it once per connection. */
  query<R extends QueryResultRow = any>(sql: string, params?: unknown[], opts?: { prepare?: boolean }): Promise<R[]>;
}

export type AfterCommit = () => void | Promise<void>;

export class Tx implements Queryable {
  private readonly hooks: AfterCommit[] = [];

  constructor(
    private readonly client: PoolClient,
    private readonly db: Db,
  ) {}

  query<R extends QueryResultRow = any>(sql: string, params: unknown[] = [], opts?: { prepare?: boolean }): Promise<R[]> {
    return this.db.run<R>(this.client, sql, params, opts?.prepare);
  }

  /** Runs after COMMIT succeeds, never after a rollback: events leave only with committed data. */
  afterCommit(hook: AfterCommit): void {
    this.hooks.push(hook);
  }

  /** @internal */
  takeHooks(): AfterCommit[] {
    return this.hooks.splice(0);
  }
}

/**
 * A request's view of the database: the same pool, counting the statements the request sends (the
 * `x-sql-statements` header). Plain counting instead of AsyncLocalStorage, whose hooks on every
 * promise cost the event loop a few percent.
 */
export class CountingQueryable implements Queryable {
  statements = 0;

  constructor(private readonly db: Queryable) {}

  query<R extends QueryResultRow = any>(sql: string, params?: unknown[], opts?: { prepare?: boolean }): Promise<R[]> {
    this.statements++;
    return this.db.query<R>(sql, params, opts);
  }
}

/** The SQLSTATE of a database error (or of an error that carries one), if any. */
export const sqlState = (err: unknown): string | undefined => (err as { code?: string } | null)?.code;

const RETRYABLE = new Set(["40001", "40P01"]); // serialization failure, deadlock detected

/** A serialization failure or a deadlock: the transaction is worth running again. */
export const isRetryable = (err: unknown): boolean => RETRYABLE.has(sqlState(err) ?? "");

export class Db implements Queryable {
  /** Statements sent since start; read by tests and metrics. */
  statements = 0;
  private readonly names = new Map<string, string>();

  constructor(
    readonly pool: Pool,
    private readonly onHookError: (err: unknown) => void = () => undefined,
    /**
     * Off for the embedded database: PGlite is one backend shared by every socket connection, so
     * a name prepared on one connection already exists for the next, which PostgreSQL refuses.
     */
    private readonly prepareStatements = true,
  ) {}

  query<R extends QueryResultRow = any>(sql: string, params: unknown[] = [], opts?: { prepare?: boolean }): Promise<R[]> {
    return this.run<R>(this.pool, sql, params, opts?.prepare);
  }

  /** @internal */
  async run<R extends QueryResultRow>(target: Pool | PoolClient, sql: string, params: unknown[], prepare?: boolean): Promise<R[]> {
    this.statements++;
    const result = await target.query<R>(
      prepare && this.prepareStatements ? { name: this.nameOf(sql), text: sql, values: params } : { text: sql, values: params },
    );
    return result.rows;
  }

  private nameOf(sql: string): string {
    let name = this.names.get(sql);
    if (!name) {
      name = "s_" + createHash("sha1").update(sql).digest("hex").slice(0, 16);
      this.names.set(sql, name);
    }
    return name;
  }

  /**
   * Runs `work` in one transaction (READ COMMITTED). A deadlock or serialization failure is retried
   * from the start, a few times, since the work is a pure function of its input and the database.
   */
  async transaction<T>(work: (tx: Tx) => Promise<T>, attempts = 3): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      const tx = new Tx(client, this);
      let result: T;
      try {
        await this.run(client, "BEGIN", []);
        result = await work(tx);
        await this.run(client, "COMMIT", []);
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        client.release();
        if (attempt < attempts && isRetryable(err)) continue;
        throw err;
      }
      client.release();
      for (const hook of tx.takeHooks()) {
        try {
          await hook();
        } catch (err) {
          this.onHookError(err);
        }
      }
      return result;
    }
  }
}
