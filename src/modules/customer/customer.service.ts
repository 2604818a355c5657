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

export class CustomerService {
  async upsert(ctx: RequestContext, config: ProgramConfig, input: UpsertCustomerInput): Promise<Customer> {
    if (input.attributes && JSON.stringify(input.attributes).length > 16_384) throw new BadInput("attributes", "attributes are at most 16 KB");
    const [row] = await ctx.sql.query(
      `INSERT INTO customers (program_id, external_id, email, name, attributes, stage_key)
       VALUES ($1, $2, $3, $4, coalesce($5::jsonb, '{}'), $6)
       ON CONFLICT (program_id, external_id) DO UPDATE SET
         email = coalesce(EXCLUDED.email, customers.email),
         name = coalesce(EXCLUDED.name, customers.name),
         attributes = customers.attributes || coalesce($5::jsonb, '{}'),
         updated_at = now()
       RETURNING *`,
      [config.program.id, input.externalId, input.email ?? null, input.name ?? null, input.attributes ? JSON.stringify(input.attributes) : null, config.bottom.key],
    );
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
    const inPhase = filter.lifecycle ? `AND c.erased_at IS NULL AND ${lifecyclePhaseSql(`$${params.push(ctx.now)}::timestamptz`, filter.valuePolicy)} = $${params.push(filter.lifecycle)}` : "";
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
