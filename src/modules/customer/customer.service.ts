/** Customers: upsert by the partner's id, reads by id or external id, and the Relay list. */
import { RequestContext } from "../../context";
import { BadInput } from "../../api/errors";
import { Connection, toConnection } from "../../api/connection";
import { Customer, customerFromRow } from "./customer.types";
import { UpsertCustomerInput } from "./customer.inputs";
import { ProgramConfig } from "../program/program.config";
import { LifecyclePhase } from "../../domain/value/lifecycle";
import { ValuePolicy } from "../../domain/value/customer-value";
import { lifecyclePhaseSql } from "./value.sql";

/** A customer's stored attributes, as JSON text (PostgreSQL's), at most (a trigger guards it too). */
const MAX_ATTRIBUTES_BYTES = 16_384;
const tooLarge = () => new BadInput("attributes", "attributes are at most 16 KB, merged with the stored ones");

export class CustomerService {
  async upsert(ctx: RequestContext, config: ProgramConfig, input: UpsertCustomerInput): Promise<Customer> {
    if (input.attributes && JSON.stringify(input.attributes).length > MAX_ATTRIBUTES_BYTES) throw tooLarge();
    // The limit is on what is stored, the new keys merged into the old: checked in the statement
    // that merges, on the row as it is then (an upsert waits for a concurrent one and sees its
    // result), so concurrent upserts of new keys cannot add up past it. No row back: nothing was
    // written, the merged (or new) attributes would exceed it. Without new attributes, the other
    // fields of a customer stored oversized before the limit are still updated.
    const [row] = await ctx.sql.query(
      `INSERT INTO customers (program_id, external_id, email, name, attributes, stage_key)
       SELECT $1, $2, $3, $4, coalesce($5::jsonb, '{}'), $6
        WHERE octet_length(coalesce($5::jsonb, '{}')::text) <= $7
       ON CONFLICT (program_id, external_id) DO UPDATE SET
         email = coalesce(EXCLUDED.email, customers.email),
         name = coalesce(EXCLUDED.name, customers.name),
         attributes = customers.attributes || coalesce($5::jsonb, '{}'),
         updated_at = now()
       WHERE $5::jsonb IS NULL OR octet_length((customers.attributes || $5::jsonb)::text) <= $7
       RETURNING *`,
      [
        config.program.id,
        input.externalId,
        input.email ?? null,
        input.name ?? null,
        input.attributes ? JSON.stringify(input.attributes) : null,
        config.bottom.key,
        MAX_ATTRIBUTES_BYTES,
      ],
    );
    if (!row) throw tooLarge();
    return customerFromRow(row);
  }

  async byId(ctx: RequestContext, id: string): Promise<Customer | null> {
    const row = await ctx.loaders.customer.load(id);
    return row ? customerFromRow(row) : null;
  }

  async byExternalId(ctx: RequestContext, programId: string, externalId: string): Promise<Customer | null> {
    const [row] = await ctx.sql.query(`SELECT * FROM customers WHERE program_id = $1 AND external_id = $2`, [programId, externalId]);
    if (!row) return null;
    ctx.loaders.customer.prime(row.id, row);
    return customerFromRow(row);
  }

  /**
   * A page of a program's customers in id order (keyset on the (program_id[, stage_key], id)
   * indexes); in one lifecycle phase as of the request's clock, if asked: a filter over the scan (no
   * index holds a phase, which the clock changes), so a page of a rare phase reads further.
   */
  async list(
    ctx: RequestContext,
    programId: string,
    filter: { stage: string | null; lifecycle: LifecyclePhase | null; valuePolicy: ValuePolicy },
    first: number,
    after: string | null,
  ): Promise<Connection<Customer>> {
    const params: unknown[] = [programId, filter.stage, after, first + 1];
    // Erased customers are in no phase's list: nobody is left to win back or welcome.
    const inPhase = filter.lifecycle
      ? `AND c.erased_at IS NULL AND ${lifecyclePhaseSql(`$${params.push(ctx.now)}::timestamptz`, filter.valuePolicy)} = $${params.push(filter.lifecycle)}`
      : "";
    const rows = await ctx.sql.query(
      `SELECT c.* FROM customers c
        WHERE c.program_id = $1 AND ($2::text IS NULL OR c.stage_key = $2) AND ($3::uuid IS NULL OR c.id > $3::uuid) ${inPhase}
        ORDER BY c.id LIMIT $4`,
      params,
    );
    for (const row of rows) ctx.loaders.customer.prime(row.id, row);
    return toConnection(rows.map(customerFromRow), first, (c) => c.id, after !== null);
  }
}
