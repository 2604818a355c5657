/**
 * Per-request DataLoaders: every relation field goes through one, so a page of 50 customers costs
 * the same few statements as a page of 1. Keys are "programId:customerId" so each batch query uses
 * an index that starts with program_id.
 */
import DataLoader from "dataloader";
import { Queryable } from "../db/db";
import { ProgramConfigCache } from "../modules/program/program.config";
import { loadWindowValues, WindowValues } from "../modules/customer/customer.metrics";
import { windowAt } from "../domain/points/tiers";
import { windowValues } from "../modules/tiers/tier.service";

export const customerKey = (programId: string, customerId: string) => `${programId}:${customerId}`;

function byProgram(keys: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const key of keys) {
    const [programId, customerId] = key.split(":");
    const list = groups.get(programId) ?? [];
    list.push(customerId);
    groups.set(programId, list);
  }
  return groups;
}

/** A loader of per-customer row lists, one query per program in the batch. */
function perCustomerList(run: (programId: string, customerIds: string[]) => Promise<any[]>) {
  return new DataLoader<string, any[]>(async (keys) => {
    const found = new Map<string, any[]>();
    for (const [programId, ids] of byProgram(keys)) {
      for (const row of await run(programId, ids)) {
        const key = customerKey(programId, row.customer_id);
        const list = found.get(key) ?? [];
        list.push(row);
        found.set(key, list);
      }
    }
    return keys.map((k) => found.get(k) ?? []);
  });
}

/** A loader of one value per customer (rows of customer_id and value), one query per program; `absent` for customers without a row. */
function perCustomerValue<T>(run: (programId: string, customerIds: string[]) => Promise<Array<{ customer_id: string; value: T }>>, absent: T) {
  return new DataLoader<string, T>(async (keys) => {
    const found = new Map<string, T>();
    for (const [programId, ids] of byProgram(keys)) {
      for (const row of await run(programId, ids)) found.set(customerKey(programId, row.customer_id), row.value);
    }
    return keys.map((k) => (found.has(k) ? found.get(k)! : absent));
  });
}

export function createLoaders(db: Queryable, programs: ProgramConfigCache, asOf: Date) {
  const pages = new Map<string, DataLoader<string, any[]>>();
  /** Newest first, `first + 1` rows per customer (the extra one tells hasNextPage), via the (program, customer, id) index. */
  const page = (table: "touchpoints" | "ledger_entries", first: number, before: string | null) => {
    const cacheKey = `${table}:${first}:${before}`;
    let loader = pages.get(cacheKey);
    if (!loader) {
      loader = perCustomerList((programId, ids) =>
        db.query(
          `SELECT x.* FROM unnest($2::uuid[]) AS c(id)
             CROSS JOIN LATERAL (
               SELECT * FROM ${table} t
                WHERE t.program_id = $1 AND t.customer_id = c.id AND ($3::bigint IS NULL OR t.id < $3::bigint)
                ORDER BY t.id DESC LIMIT $4) x`,
          [programId, ids, before, first + 1],
          { prepare: true },
        ),
      );
      pages.set(cacheKey, loader);
    }
    return loader;
  };

  return {
    customer: new DataLoader<string, any | null>(async (ids) => {
      const rows = await db.query(`SELECT * FROM customers WHERE id = ANY($1::uuid[])`, [ids]);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),

    stageHistory: perCustomerList((programId, ids) =>
      db.query(`SELECT * FROM stage_transitions WHERE program_id = $1 AND customer_id = ANY($2::uuid[]) ORDER BY id`, [programId, ids], { prepare: true }),
    ),

    /** Windowed metrics as of the request's start, for the windows the program's ladder reads. */
    windows: new DataLoader<string, WindowValues>(async (keys) => {
      const found = new Map<string, WindowValues>();
      for (const [programId, ids] of byProgram(keys)) {
        const config = await programs.get(programId);
        const values = await loadWindowValues(db, programId, ids, config?.windows ?? [], asOf);
        for (const [id, v] of values) found.set(customerKey(programId, id), v);
      }
      return keys.map((k) => found.get(k) ?? new Map());
    }),

    /** Lots still holding points (pending or spendable), those expiring first first. */
    openLots: perCustomerList((programId, ids) =>
      db.query(
        `SELECT * FROM point_lots WHERE program_id = $1 AND customer_id = ANY($2::uuid[]) AND status IN ('PENDING', 'ACTIVE') AND remaining > 0
          ORDER BY expires_at NULLS LAST, id`,
        [programId, ids],
        { prepare: true },
      ),
    ),

    grants: perCustomerList((programId, ids) =>
      db.query(`SELECT * FROM grants WHERE program_id = $1 AND customer_id = ANY($2::uuid[]) ORDER BY created_at DESC, key`, [programId, ids], {
        prepare: true,
      }),
    ),

    redemptions: perCustomerList((programId, ids) =>
      db.query(`SELECT * FROM redemptions WHERE program_id = $1 AND customer_id = ANY($2::uuid[]) ORDER BY created_at DESC, id`, [programId, ids], {
        prepare: true,
      }),
    ),

    /** Redemptions in the year before the request that were not cancelled, counted per customer (loyalty's MERCENARY test). */
    redemptionsLastYear: perCustomerValue(
      (programId, ids) =>
        db.query(
          `SELECT customer_id, count(*)::int AS value FROM redemptions
            WHERE program_id = $1 AND customer_id = ANY($2::uuid[]) AND status <> 'CANCELLED' AND created_at >= $3::timestamptz - interval '8760 hours'
            GROUP BY customer_id`,
          [programId, ids, asOf],
          { prepare: true },
        ),
      0,
    ),

    /**
     * What the customer's latest SURVEY_RESPONSE (in arrival order, as their NPS) said of their
     * attitude (0-100), when it was a survey response (submitSurveyResponse stores data.survey, which
     * recordTouchpoint refuses from clients); null when the latest has none.
     */
    surveyAttitude: perCustomerValue<number | null>(
      (programId, ids) =>
        db.query(
          `SELECT DISTINCT ON (customer_id) customer_id,
                  CASE WHEN jsonb_typeof(t.data->'survey'->'attitude') = 'number'
                       THEN least(greatest((t.data->'survey'->>'attitude')::float8, 0), 100) END AS value
             FROM touchpoints t
            WHERE t.program_id = $1 AND t.customer_id = ANY($2::uuid[]) AND t.type = 'SURVEY_RESPONSE'
            ORDER BY customer_id, t.id DESC`,
          [programId, ids],
          { prepare: true },
        ),
      null,
    ),

    /** Tier qualification value in each customer's current window; keys "programId:customerId:createdAtISO". */
    tierValue: new DataLoader<string, number>(async (keys) => {
      const found = new Map<string, number>();
      const groups = new Map<string, Array<{ id: string; createdAt: Date; key: string }>>();
      for (const key of keys) {
        const [programId, id, createdAt] = [key.slice(0, 36), key.slice(37, 73), key.slice(74)];
        const list = groups.get(programId) ?? [];
        list.push({ id, createdAt: new Date(createdAt), key });
        groups.set(programId, list);
      }
      for (const [programId, list] of groups) {
        const config = await programs.get(programId);
        if (!config) continue;
        const windows = list.map((c) => ({ id: c.id, ...windowAt(config.tierPolicy, asOf, c.createdAt, config.program.timeZone) }));
        const values = await windowValues(db, config, windows);
        for (const c of list) found.set(c.key, values.get(c.id) ?? 0);
      }
      return keys.map((k) => found.get(k) ?? 0);
    }),

    touchpoints: (first: number, before: string | null) => page("touchpoints", first, before),
    ledger: (first: number, before: string | null) => page("ledger_entries", first, before),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
