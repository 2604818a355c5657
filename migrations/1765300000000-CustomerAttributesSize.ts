import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * A customer's attributes are at most 16 KB (16,384 bytes of their JSON text as PostgreSQL writes
 * it). upsertCustomer merges new keys into the stored ones, and checked only the request's own
 * attributes: 64 concurrent upserts of 15 KB of new keys each left one customer with 970 KB. The
 * service now checks the merged value in the statement that merges (customer.service.ts); this
 * trigger is the database's own guard for any other writer of the column.
 *
 * A trigger on writes of `attributes` rather than a CHECK constraint: a CHECK is evaluated on every
 * UPDATE of the row, so a customer stored oversized before this migration would fail every write
 * batch that updates its points and counters (and each of those updates would serialize its
 * attributes to measure them). The triggers run only for inserts and for updates that set the column.
 */
export class CustomerAttributesSize1765300000000 implements MigrationInterface {
  name = "CustomerAttributesSize1765300000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION customers_attributes_size() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'customer attributes are at most 16384 bytes (% given)', octet_length(NEW.attributes::text) USING ERRCODE = '23514';
      END $$`);
    await q.query(`
      CREATE TRIGGER customers_attributes_size BEFORE INSERT ON customers
        FOR EACH ROW WHEN (octet_length(NEW.attributes::text) > 16384) EXECUTE FUNCTION customers_attributes_size()`);
    // Only a changed value: an upsert without attributes sets the column to itself, and must still
    // update a customer stored oversized before.
    await q.query(`
      CREATE TRIGGER customers_attributes_size_update BEFORE UPDATE OF attributes ON customers
        FOR EACH ROW WHEN (NEW.attributes IS DISTINCT FROM OLD.attributes AND octet_length(NEW.attributes::text) > 16384)
        EXECUTE FUNCTION customers_attributes_size()`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER customers_attributes_size_update ON customers`);
    await q.query(`DROP TRIGGER customers_attributes_size ON customers`);
    await q.query(`DROP FUNCTION customers_attributes_size()`);
  }
}
