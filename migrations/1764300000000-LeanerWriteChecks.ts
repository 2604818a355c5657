import { MigrationInterface, QueryRunner } from "typeorm";

/** The tables every purchase appends to, whose program is also their customer's. */
const APPENDED = ["touchpoints", "point_lots", "ledger_entries", "stage_transitions"];

/**
 * Fewer checks per purchase.
 *
 * Each row of the tables a purchase appends to carried two foreign keys: to its program, and to its
 * customer by (program_id, customer_id). The customer's implies the program's (customers reference
 * programs), so the first only cost a trigger per row: four per purchase, 0.37 ms of a write batch
 * of 15 in PostgreSQL's own accounting (auto_explain), about 8% of its execution. The one thing it
 * did besides was to cascade a program's deletion to these rows, which the append-only ledger
 * already refuses as soon as the program posted a point; nothing in the API deletes programs.
 * Deleting a program whose customers have touchpoints, lots or stage moves now fails (SQLSTATE
 * 23503, from their customer foreign key) even when no point was posted, where it cascaded.
 *
 * Customers get free room on each page (fillfactor 85): most purchases move no stage, so their
 * update changes no indexed column and PostgreSQL can write the new row version on the same page
 * without touching the customer's five index entries (a heap-only tuple). With full pages, every
 * update went to another page and into every index. Existing pages are not rewritten: on a loaded
 * database the room comes as pages are pruned and vacuumed (at once with VACUUM FULL or pg_repack).
 */
export class LeanerWriteChecks1764300000000 implements MigrationInterface {
  name = "LeanerWriteChecks1764300000000";

  public async up(q: QueryRunner): Promise<void> {
    for (const table of APPENDED) await q.query(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_program_id_fkey`);
    await q.query(`ALTER TABLE customers SET (fillfactor = 85)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers RESET (fillfactor)`);
    for (const table of APPENDED) {
      await q.query(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_program_id_fkey FOREIGN KEY (program_id) REFERENCES programs(id) ON DELETE CASCADE`);
    }
  }
}
