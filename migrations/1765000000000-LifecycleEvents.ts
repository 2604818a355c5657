import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The lifecycle phase each customer was last seen in, so the recompute can tell who moved (a
 * LIFECYCLE_CHANGED event: "entered DECLINE", a win-back cue). Customers there already start
 * unknown (NULL: their first scan records their phase without an event); new ones start as CONTACT.
 */
export class LifecycleEvents1765000000000 implements MigrationInterface {
  name = "LifecycleEvents1765000000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE customers ADD COLUMN lifecycle_phase text, ADD COLUMN lifecycle_phase_at timestamptz;
      ALTER TABLE customers ALTER COLUMN lifecycle_phase SET DEFAULT 'CONTACT';
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers DROP COLUMN lifecycle_phase, DROP COLUMN lifecycle_phase_at`);
  }
}
