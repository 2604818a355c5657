/**
 * One write batch, in two statements: resolve customers (only for partner ids not cached), read
 * the customers, their windowed metrics and which keys exist (one statement), evaluate rules and
 * the ladder for each record in arrival order (pure, in memory), then write everything (one
 * statement). The write checks that no customer changed since the read (row versions), so the two
 * need no transaction between them: a batch is two round trips (three with tiers: the tier windows
 * are read between). Programs whose batches read or write more (caps; referral, trigger and
 * stage-reward grants) run in a transaction with the customers locked.
 * Depends on nothing but the database and the external-id cache, so a worker thread can run it.
 */
import { Db, isRetryable, Queryable, sqlState, Tx } from "../../db/db";
import { LoyaltyEventMessage, messageFromOutboxRow } from "../../events/event.types";
import { windowValuesFrom } from "../customer/customer.metrics";
import { customerFromRow } from "../customer/customer.types";
import { loadProgramConfig, ProgramConfig, stageOf } from "../program/program.config";
import { LOCK_BATCH, readBatchSql, RESOLVE_EXTERNAL_CUSTOMERS, WRITE_BATCH } from "./batch.sql";
import { ContendedCustomers } from "./contended-customers";
import { ExternalIdCache } from "./external-id.cache";
import { ItemDeltas } from "./touchpoint.deltas";
import { RecordResult, StageMove, TouchpointRecord } from "./touchpoint.model";
import { touchpointFromRow } from "./touchpoint.types";
import { planTierUpgrades, TierChange } from "../tiers/tier.service";
import { owedByBatch, owesGrantsOnWrite, StageEntry } from "../grants/grant.service";
import { BatchCaps } from "./batch-points";
import { CustomerState, planBatch, stateOf } from "./batch-plan";

export interface WriteItem {
  record: TouchpointRecord;
  hash: string;
  /** What the record adds to its customer, from the program's rules at batch time. */
  deltas: ItemDeltas;
}

/** The error code of a batch evaluated with a configuration that changed meanwhile (nothing was written). */
export const CONFIG_CHANGED = "CONFIG_CHANGED";

export type Outcome = { kind: "written"; result: RecordResult } | { kind: "replay" };

export interface BatchResult {
  /**
   * The configuration the batch was evaluated and written with, when it is not the one it was given
   * (it changed meanwhile and was read again): what its replays and grants go by.
   */
  config?: ProgramConfig;
  outcomes: Outcome[];
  events: LoyaltyEventMessage[];
  /** Grants the batch owes (referral bonuses, triggered and stage rewards): to give right after commit. */
  grants: number;
  stats: BatchStats;
}

/** How a batch went, for the metrics: its path, and its read and write statements' round trips. */
export interface BatchStats {
  /** Written in a transaction with its customers locked (else: the optimistic path). */
  locked: boolean;
  /** An optimistic attempt met a concurrent writer first (and was written again, locked). */
  contended: boolean;
  readMs: number;
  /** The tier windows' read, for programs with tiers (else null). */
  tiersMs: number | null;
  /** Null when there was nothing to write (every record a replay). */
  writeMs: number | null;
}

const DATE_COLUMNS = [
  "created_at",
  "updated_at",
  "stage_entered_at",
  "first_purchase_at",
  "last_purchase_at",
  "tier_since",
  "tier_review_at",
  "tier_manual_until",
  "erased_at",
  "lifecycle_phase_at",
];
/** Raised by write_batch_check when the program's configuration changed since the batch was evaluated. */
const CONFIG_CHANGED_SQLSTATE = "LY001";
/**
 * Attempts of a batch with a configuration read without a lock. An ADMIN editing rules many times a
 * second can change it between any read and write, so after these the batch is written under the
 * program's lock (shared), with the configuration read under it: that one cannot fail so.
 */
const CONFIG_ATTEMPTS = 2;

const configChanged = (err: unknown) => (err as { code?: unknown } | null)?.code === CONFIG_CHANGED;

/** A customer row as to_jsonb gives it, with its timestamps back as Dates. */
function parseCustomerJson(row: any): any {
  for (const column of DATE_COLUMNS) if (row[column]) row[column] = new Date(row[column]);
  return row;
}

const keyOf = (type: string, externalId: string) => `${type}\u0000${externalId}`;

/**
 * Whether a program's batches read what other customers' batches change too (what capped rules
 * gave in total) or write after the batch (grants): those run in a transaction, with the customers
 * locked from the first statement. Tier values are the customers' own touchpoints: a concurrent
 * writer of one changes its row as well, so the optimistic path's version check covers them.
 */
function needsTransaction(config: ProgramConfig): boolean {
  return owesGrantsOnWrite(config) || config.rules.some((r) => r.capPoints != null || r.totalCap != null);
}

/** The read statement's text per configuration (it embeds the ladder's windows): built once. */
const readSql = new WeakMap<ProgramConfig, string>();
function readSqlOf(config: ProgramConfig): string {
  let sql = readSql.get(config);
  if (!sql) readSql.set(config, (sql = readBatchSql(config.windows)));
  return sql;
}

/** Thrown by an attempt without a transaction that finds a customer to create. */
class NeedsTransaction extends Error {}

/** Thrown by an attempt that finds a cached partner id no longer naming its customer (erased): evicted, the batch starts over. */
class StaleExternalId extends Error {}

/** Thrown by an attempt without a transaction whose write met a concurrent writer (nothing was written). */
class Contended extends Error {
  constructor(readonly customerIds: string[]) {
    super("a concurrent writer changed a customer or claimed a key of the batch");
  }
}

export class BatchWriter {
  /**
   * Called between the read and the write of each attempt. A seam for tests: a write committed
   * here by someone else must make the attempt start over (or, when `locked`, wait for the batch).
   */
  afterRead?: (attempt: { locked: boolean; customerIds: string[] }) => Promise<void>;

  constructor(private readonly externalIds: ExternalIdCache) {}

  /**
   * Writes one batch. `now` is the batch's clock (windows, day counts). Outcomes are in the order
   * of `items`: written with its result, or a replay to answer after commit (a key seen before, or
   * a customer that does not exist).
   */
  async write(db: Db, config: ProgramConfig, items: WriteItem[], now: Date): Promise<BatchResult> {
    const given = config;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.withFreshExternalIds(() => this.attempt(db, config, items, now));
        return config === given ? result : { ...result, config };
      } catch (err) {
        // The ladder, rules or tiers changed since `config` was read (nothing was written): evaluate
        // again with the new ones; a record is never refused for it.
        if (!configChanged(err)) throw err;
        if (attempt >= CONFIG_ATTEMPTS) return this.writeUnderProgramLock(db, config, items, now, given);
        config = await this.currentConfig(db, config);
      }
    }
  }

  /** Runs `attempt` again, once, when it met partner ids cached for customers since erased (evicted by then). */
  private async withFreshExternalIds(attempt: () => Promise<BatchResult>): Promise<BatchResult> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof StaleExternalId)) throw err;
      return attempt();
    }
  }

  private async currentConfig(db: Queryable, config: ProgramConfig): Promise<ProgramConfig> {
    const current = await loadProgramConfig(db, config.program.id);
    if (!current) throw new Error(`program ${config.program.id} is gone`);
    return current;
  }

  /**
   * The last resort of a batch whose configuration kept changing: one transaction that takes the
   * program's lock (shared, as a locked batch does) before anything else, so no configuration change
   * can commit until it does, reads the configuration under it when it is not `config`'s version,
   * and writes the batch locked with it. Configuration changes wait for it (they lock the program
   * row first), and it waits for one in progress.
   */
  private async writeUnderProgramLock(db: Db, config: ProgramConfig, items: WriteItem[], now: Date, given: ProgramConfig): Promise<BatchResult> {
    let used = config;
    const result = await this.withFreshExternalIds(() =>
      db.transaction(async (tx) => {
        const [program] = await tx.query(`SELECT updated_at::text AS version FROM programs WHERE id = $1 FOR SHARE`, [config.program.id]);
        used = program?.version === config.version ? config : await this.currentConfig(tx, config);
        return this.writeOnce(tx, tx, used, items, now);
      }),
    );
    return used === given ? result : { ...result, config: used };
  }

  private async attempt(db: Db, config: ProgramConfig, items: WriteItem[], now: Date): Promise<BatchResult> {
    let contended = false;
    if (!needsTransaction(config) && !this.isContended(config.program.id, items, now)) {
      try {
        return await this.writeOnce(db, null, config, items, now);
      } catch (err) {
        if (err instanceof Contended) {
          this.contended.mark(err.customerIds, now);
          contended = true;
        } else if (!(err instanceof NeedsTransaction)) throw err;
      }
      // A customer to create, or one another writer changed meanwhile: lock them this time.
    }
    const result = await db.transaction((tx) => this.writeOnce(tx, tx, config, items, now));
    result.stats.contended = contended;
    return result;
  }

  /** Customers whose batch met a concurrent writer lately: their batches take the locked path. */
  private readonly contended = new ContendedCustomers();

  private isContended(programId: string, items: WriteItem[], now: Date): boolean {
    if (this.contended.empty) return false;
    return this.contended.any(
      items.map(({ record }) => record.customerId ?? this.externalIds.get(programId, record.customerExternalId!)),
      now,
    );
  }

  /**
   * A partner id taken from the cache must still name its customer: an erasure (in any process)
   * replaces it. One that does not is evicted, and the batch starts over (StaleExternalId).
   */
  private checkCachedExternalIds(programId: string, items: WriteItem[], customerOf: Map<WriteItem, string>, externalIdOf: Map<string, string>): void {
    let stale = false;
    for (const item of items) {
      const { customerId, customerExternalId } = item.record;
      if (customerId || !customerExternalId) continue;
      const id = customerOf.get(item);
      if (id && externalIdOf.has(id) && externalIdOf.get(id) !== customerExternalId) {
        this.externalIds.delete(programId, customerExternalId);
        stale = true;
      }
    }
    if (stale) throw new StaleExternalId();
  }

  /** The customers the batch's records name by id or by a cached partner id, and the partner ids not cached. */
  private knownCustomers(programId: string, items: WriteItem[]): { ids: Map<WriteItem, string>; unknown: string[] } {
    const ids = new Map<WriteItem, string>();
    const unknown = new Set<string>();
    for (const item of items) {
      const { customerId, customerExternalId } = item.record;
      const id = customerId ?? this.externalIds.get(programId, customerExternalId!);
      if (id) ids.set(item, id);
      else unknown.add(customerExternalId!);
    }
    return { ids, unknown: [...unknown] };
  }

  /** Every record's customer, creating those the partner names for the first time (in `tx`: gone if it rolls back). */
  private async resolveCustomers(tx: Tx, config: ProgramConfig, items: WriteItem[]): Promise<Map<WriteItem, string>> {
    const programId = config.program.id;
    const { ids, unknown } = this.knownCustomers(programId, items);
    if (unknown.length > 0) {
      const wanted = unknown.sort();
      const found = new Map<string, string>();
      for (const row of await tx.query(RESOLVE_EXTERNAL_CUSTOMERS, [programId, wanted, config.bottom.key], { prepare: true })) {
        found.set(row.external_id, row.id);
        // A customer this transaction created is known to others only once it commits.
        if (!row.created) this.externalIds.set(programId, row.external_id, row.id);
        else tx.afterCommit(() => this.externalIds.set(programId, row.external_id, row.id));
      }
      const late = wanted.filter((e) => !found.has(e));
      if (late.length > 0) {
        // Created by a concurrent transaction that committed after this statement's snapshot.
        const rows = await tx.query(`SELECT id, external_id FROM customers WHERE program_id = $1 AND external_id = ANY($2::text[])`, [programId, late]);
        for (const row of rows) found.set(row.external_id, row.id);
      }
      for (const item of items) if (!ids.has(item)) ids.set(item, found.get(item.record.customerExternalId!)!);
    }
    return ids;
  }

  /**
   * Tiers: whoever the batch's touchpoints qualified goes up with them (downgrades wait for the
   * review). The upgrades ride on the customers' updates; returned by customer for the write and
   * the answers. Nothing to do, and no statement, for a program without tiers.
   */
  private async planTiers(
    db: Queryable,
    config: ProgramConfig,
    byCustomer: Map<string, WriteItem[]>,
    states: Map<string, CustomerState>,
    evaluated: Map<WriteItem, { points: number }>,
    customerUpdates: Array<{ id: string } & Record<string, unknown>>,
    stats: BatchStats,
    now: Date,
  ): Promise<Map<string, TierChange>> {
    if (config.tiers.length === 0) return new Map();
    const started = performance.now();
    const changes = await planTierUpgrades(
      db,
      config,
      [...byCustomer].map(([id, mine]) => ({
        row: states.get(id)!.row,
        records: mine.map((item) => ({
          type: item.record.type,
          occurredAt: item.record.occurredAt,
          points: evaluated.get(item)!.points,
          amount: item.record.amount,
        })),
      })),
      now,
    );
    stats.tiersMs = performance.now() - started;
    const upgraded = new Map(changes.map((c) => [c.customer_id, c]));
    for (const update of customerUpdates) {
      const change = upgraded.get(update.id);
      if (change) Object.assign(update, { tier_key: change.to_key, tier_since: now, tier_review_at: change.review_at, tier_reason: change.reason });
    }
    return upgraded;
  }

  /** One attempt: `tx` when in a transaction (customers locked by the read), null for two autocommit statements. */
  private async writeOnce(db: Queryable, tx: Tx | null, config: ProgramConfig, items: WriteItem[], now: Date): Promise<BatchResult> {
    const programId = config.program.id;
    // Without a transaction, partner ids not cached are looked up by the read; a customer to create
    // makes the batch transactional (the customer must not outlive a batch that fails).
    const { ids: customerOf, unknown } = tx ? { ids: await this.resolveCustomers(tx, config, items), unknown: [] } : this.knownCustomers(programId, items);

    // The first record of each key is written; a repeat in the same batch is a retry, answered after commit.
    const seen = new Set<string>();
    const primaries = items.filter((item) => {
      const key = keyOf(item.record.type, item.record.externalId);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });

    // Read: the customers as they are, their windows, and the keys recorded before.
    const customerIds = [...new Set(customerOf.values())];
    const params: unknown[] = [programId, customerIds, primaries.map((i) => i.record.type), primaries.map((i) => i.record.externalId), unknown];
    if (config.windows.length > 0) params.push(now);
    // The locked path locks first, so the read's snapshot comes after every writer it waited for.
    if (tx) await tx.query(LOCK_BATCH, [programId, customerIds], { prepare: true });
    const readStarted = performance.now();
    const read = await db.query(readSqlOf(config), params, { prepare: true });
    const stats: BatchStats = { locked: tx !== null, contended: false, readMs: performance.now() - readStarted, tiersMs: null, writeMs: null };
    const states = new Map<string, CustomerState>();
    const recorded = new Set<string>();
    const byExternalId = new Map<string, string>();
    const externalIdOf = new Map<string, string>();
    for (const { kind, row, windows } of read) {
      if (kind === "c") {
        byExternalId.set(row.external_id, row.id);
        externalIdOf.set(row.id, row.external_id);
        // An erased customer takes no new record: as if it did not exist (NOT_FOUND).
        if (row.erased_at) continue;
        states.set(row.id, stateOf(parseCustomerJson(row), windowValuesFrom(windows, config.windows)));
      } else recorded.add(keyOf(row.type, row.external_id));
    }
    this.checkCachedExternalIds(programId, items, customerOf, externalIdOf);
    for (const externalId of unknown) {
      const id = byExternalId.get(externalId);
      if (!id) throw new NeedsTransaction();
      this.externalIds.set(programId, externalId, id);
    }
    for (const item of primaries) if (!customerOf.has(item)) customerOf.set(item, byExternalId.get(item.record.customerExternalId!)!);
    // What is written: records of customers that exist, with keys not recorded before. The others
    // are answered from what is stored (a replay), or NOT_FOUND when nothing is.
    if (this.afterRead) await this.afterRead({ locked: tx !== null, customerIds: [...states.keys()] });
    const fresh = primaries.filter((item) => states.has(customerOf.get(item)!) && !recorded.has(keyOf(item.record.type, item.record.externalId)));
    if (fresh.length === 0) return { outcomes: items.map(() => ({ kind: "replay" })), events: [], grants: 0, stats };

    // Evaluate, customer by customer, each customer's records in arrival order.
    const ordOf = new Map(fresh.map((item, ord) => [item, ord]));
    const byCustomer = new Map<string, WriteItem[]>();
    for (const item of fresh) {
      const id = customerOf.get(item)!;
      const mine = byCustomer.get(id);
      if (mine) mine.push(item);
      else byCustomer.set(id, [item]);
    }
    const caps = await BatchCaps.load(
      db,
      config,
      [...byCustomer.keys()],
      fresh.map((item) => item.record),
    );
    const { touchpoints, customerUpdates, lots, moves, eventRows, evaluated } = planBatch(config, byCustomer, ordOf, states, caps, now);
    const upgraded = await this.planTiers(db, config, byCustomer, states, evaluated, customerUpdates, stats, now);

    // Write: everything, or nothing when a customer or the configuration changed since the read.
    let written: any[];
    const writeStarted = performance.now();
    try {
      written = await db.query(
        WRITE_BATCH,
        [
          programId,
          JSON.stringify(touchpoints),
          config.version,
          JSON.stringify(customerUpdates),
          JSON.stringify(lots),
          JSON.stringify(moves),
          JSON.stringify(eventRows),
          JSON.stringify(caps.awarded()),
          fresh.length,
          customerUpdates.length,
          customerUpdates.map((u) => u.id),
          JSON.stringify(
            [...upgraded.values()].map((c) => ({
              customer_id: c.customer_id,
              from_key: c.from_key,
              to_key: c.to_key,
              at: now,
              cause: c.cause,
              reason: c.reason,
            })),
          ),
        ],
        { prepare: true },
      );
    } catch (err) {
      if (sqlState(err) === CONFIG_CHANGED_SQLSTATE)
        throw Object.assign(new Error("the program's configuration changed during the batch"), { code: CONFIG_CHANGED });
      // A customer of the batch changed or one of its keys was claimed since the read (40001), or two
      // writers waited on each other's keys (40P01): read and evaluate again, the customers locked.
      if (!tx && isRetryable(err)) throw new Contended([...byCustomer.keys()]);
      throw err;
    }
    stats.writeMs = performance.now() - writeStarted;
    const stored = new Map<number, { id: string; recorded_at: string }>();
    const transitions = new Map<string, { id: string; at: string }>();
    const events: LoyaltyEventMessage[] = [];
    for (const { kind, row } of written) {
      if (kind === "t") stored.set(row.ord, row);
      else if (kind === "tr") transitions.set(row.touchpoint_id, row);
      else if (kind === "ev") events.push(messageFromOutboxRow(row));
    }

    let grants = 0;
    if (tx) {
      const entries: StageEntry[] = [];
      for (const item of fresh) {
        const e = evaluated.get(item)!;
        if (!e.move) continue;
        const touchpointId = stored.get(e.ord)!.id;
        entries.push({
          customerId: e.customerId,
          toKey: e.move.to_key,
          transitionId: transitions.get(touchpointId)!.id,
          touchpoint: { id: touchpointId, type: item.record.type, occurredAt: item.record.occurredAt },
        });
      }
      grants = await owedByBatch(
        tx,
        config,
        fresh.map((item) => ({
          customerId: customerOf.get(item)!,
          type: item.record.type,
          touchpointId: stored.get(ordOf.get(item)!)!.id,
          occurredAt: item.record.occurredAt,
        })),
        entries,
        now,
      );
    }
    events.sort((a, b) => Number(a.sequence) - Number(b.sequence));

    const outcomes = new Map<WriteItem, Outcome>();
    for (const item of fresh) {
      const e = evaluated.get(item)!;
      const { record } = item;
      const touchpoint = stored.get(e.ord)!;
      const tier = upgraded.get(e.customerId);
      if (tier)
        Object.assign(e.row, { tier_key: tier.to_key, tier_since: now, tier_review_at: tier.review_at, tier_reason: tier.reason, tier_manual_until: null });
      let stageChange: StageMove | null = null;
      if (e.move) {
        const t = transitions.get(touchpoint.id)!;
        const from = stageOf(config, e.move.from_key);
        const to = config.stageByKey.get(e.move.to_key)!;
        stageChange = { id: t.id, from, to, at: new Date(t.at), cause: "TOUCHPOINT", touchpointId: touchpoint.id, reason: e.move.reason };
      }
      const result: RecordResult = {
        touchpoint: touchpointFromRow({
          id: touchpoint.id,
          customer_id: e.customerId,
          type: record.type,
          external_id: record.externalId,
          channel: record.channel ?? null,
          occurred_at: record.occurredAt,
          recorded_at: new Date(touchpoint.recorded_at),
          amount: record.amount,
          currency: record.currency ?? null,
          rating: record.rating ?? null,
          product_id: record.productId ?? null,
          related_external_id: null,
          data: record.data ?? null,
          points: e.points,
        }),
        pointsEarned: e.points,
        pointsPending: e.pending ? e.points : 0,
        appliedRules: e.applied,
        customer: customerFromRow(e.row),
        stageChange,
        replayed: false,
      };
      outcomes.set(item, { kind: "written", result });
    }
    return { outcomes: items.map((item) => outcomes.get(item) ?? { kind: "replay" }), events, grants, stats };
  }
}
