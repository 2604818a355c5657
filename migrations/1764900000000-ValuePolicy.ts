import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * How a program reads its customers' value over time (ValuePolicy): when a customer counts as gone
 * (CLV's future spending, the lifecycle's CHURNED), how many years CLV looks ahead, and when a
 * one-time buyer is in DECLINE. The defaults are the constants they replace.
 */
export class ValuePolicy1764900000000 implements MigrationInterface {
  name = "ValuePolicy1764900000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE programs
        ADD COLUMN value_active_days int NOT NULL DEFAULT 365 CHECK (value_active_days BETWEEN 180 AND 3650),
        ADD COLUMN value_horizon_years int NOT NULL DEFAULT 3 CHECK (value_horizon_years BETWEEN 1 AND 10),
        ADD COLUMN value_first_repeat_days int NOT NULL DEFAULT 90 CHECK (value_first_repeat_days >= 7 AND value_first_repeat_days <= value_active_days - 90)
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE programs DROP COLUMN value_active_days, DROP COLUMN value_horizon_years, DROP COLUMN value_first_repeat_days`);
  }
}
