import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Tiers (silver, gold, ...): qualified by points earned or amount spent in a window (rolling N
 * days, calendar year, membership year). Upgrades happen when a touchpoint qualifies; downgrades
 * only at review time (window end + grace), by the tier review job. A manual tier holds until its
 * date, then is reviewed like any other: it is never a silent floor.
 */
export class Tiers1764000000000 implements MigrationInterface {
  name = "Tiers1764000000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE programs
        ADD COLUMN tier_basis text NOT NULL DEFAULT 'POINTS_EARNED' CHECK (tier_basis IN ('POINTS_EARNED', 'AMOUNT_SPENT')),
        ADD COLUMN tier_window text NOT NULL DEFAULT 'ROLLING_DAYS' CHECK (tier_window IN ('ROLLING_DAYS', 'CALENDAR_YEAR', 'ANNIVERSARY')),
        ADD COLUMN tier_window_days int NOT NULL DEFAULT 365 CHECK (tier_window_days BETWEEN 1 AND 3650),
        ADD COLUMN tier_grace_days int NOT NULL DEFAULT 0 CHECK (tier_grace_days BETWEEN 0 AND 3650),
        ADD COLUMN tier_downgrade text NOT NULL DEFAULT 'ONE_TIER' CHECK (tier_downgrade IN ('ONE_TIER', 'TO_QUALIFIED'));

      CREATE TABLE tiers (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        key text NOT NULL,
        rank int NOT NULL,
        name text NOT NULL,
        threshold numeric(16,2) NOT NULL CHECK (threshold >= 0),
        PRIMARY KEY (program_id, key),
        UNIQUE (program_id, rank)
      );

      ALTER TABLE customers
        ADD COLUMN tier_key text,
        ADD COLUMN tier_since timestamptz,
        -- When the tier is next reviewed for a downgrade (window end + grace, or a manual tier's end + grace).
        ADD COLUMN tier_review_at timestamptz,
        ADD COLUMN tier_manual_until timestamptz,
        ADD COLUMN tier_reason jsonb;
      CREATE INDEX customers_tier_review_idx ON customers (program_id, tier_review_at) WHERE tier_key IS NOT NULL;

      CREATE TABLE tier_changes (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id bigint GENERATED ALWAYS AS IDENTITY,
        customer_id uuid NOT NULL,
        from_key text,
        to_key text,
        at timestamptz NOT NULL,
        cause text NOT NULL,
        reason jsonb NOT NULL,
        PRIMARY KEY (program_id, id),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id)
      );
      CREATE INDEX tier_changes_customer_idx ON tier_changes (program_id, customer_id, id);
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE tier_changes;
      DROP INDEX customers_tier_review_idx;
      ALTER TABLE customers DROP COLUMN tier_key, DROP COLUMN tier_since, DROP COLUMN tier_review_at, DROP COLUMN tier_manual_until, DROP COLUMN tier_reason;
      DROP TABLE tiers;
      ALTER TABLE programs DROP COLUMN tier_basis, DROP COLUMN tier_window, DROP COLUMN tier_window_days, DROP COLUMN tier_grace_days, DROP COLUMN tier_downgrade;
    `);
  }
}
