import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The write batch in two statements (read, then write) without a transaction between them: the
 * write statement calls write_batch_check with what it found, and fails as a whole when the
 * program's configuration or one of the batch's customers changed since the read, or a key was
 * claimed meanwhile (see WRITE_BATCH in src/modules/touchpoint/batch.sql.ts).
 */
export class OptimisticWriteBatch1764200000000 implements MigrationInterface {
  name = "OptimisticWriteBatch1764200000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION write_batch_check(version_ok boolean, claimed_ok boolean, customers_ok boolean) RETURNS boolean
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF version_ok IS NOT TRUE THEN
          RAISE EXCEPTION 'the program''s configuration changed during the write batch' USING ERRCODE = 'LY001';
        END IF;
        IF claimed_ok IS NOT TRUE OR customers_ok IS NOT TRUE THEN
          -- serialization_failure: the batch is read and evaluated again.
          RAISE EXCEPTION 'a concurrent write changed a customer or claimed a key of the write batch' USING ERRCODE = '40001';
        END IF;
        RETURN true;
      END $$;
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION write_batch_check(boolean, boolean, boolean)`);
  }
}
