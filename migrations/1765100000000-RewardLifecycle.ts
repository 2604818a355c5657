import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * A reward offered only to customers in some lifecycle phases (a win-back offer for DECLINE, a
 * second-purchase offer for ACQUISITION): docs/domain.md §3's lifecycle-aware handling and §4's
 * personalized offers. NULL: every phase.
 */
export class RewardLifecycle1765100000000 implements MigrationInterface {
  name = "RewardLifecycle1765100000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE rewards ADD COLUMN lifecycle_phases text[]
        CHECK (lifecycle_phases <@ ARRAY['CONTACT', 'ACQUISITION', 'GROWTH', 'MATURITY', 'DECLINE', 'CHURNED']::text[])
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rewards DROP COLUMN lifecycle_phases`);
  }
}
