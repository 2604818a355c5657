import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Erasure (the right to be forgotten): when a customer was erased. The row stays, anonymous, so the
 * ledger, counters and the program's figures still add up; see src/modules/customer/erasure.ts.
 */
export class CustomerErasure1764600000000 implements MigrationInterface {
  name = "CustomerErasure1764600000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers ADD COLUMN erased_at timestamptz`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers DROP COLUMN erased_at`);
  }
}
