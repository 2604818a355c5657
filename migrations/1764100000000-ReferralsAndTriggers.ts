import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Referrals (who brought whom), triggered rewards (a pattern of touchpoints in a window issues a
 * reward), and grants: points or rewards owed to a customer, written in the transaction that
 * earned them (so they are never lost) and given by their own idempotent step right after commit
 * (so never twice), with the lifecycle job as the safety net.
 */
export class ReferralsAndTriggers1764100000000 implements MigrationInterface {
  name = "ReferralsAndTriggers1764100000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE earning_rules
        ADD COLUMN referral_trigger text CHECK (referral_trigger IN ('SIGNUP', 'FIRST_PURCHASE')),
        ADD COLUMN beneficiary text CHECK (beneficiary IN ('REFERRER', 'REFEREE')),
        ADD CONSTRAINT earning_rules_referral CHECK ((referral_trigger IS NULL) = (beneficiary IS NULL));

      CREATE TABLE referrals (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        referee_id uuid NOT NULL,
        referrer_id uuid NOT NULL,
        referral_key text NOT NULL,
        request_hash text NOT NULL,
        created_at timestamptz NOT NULL,
        first_purchase_at timestamptz,
        PRIMARY KEY (program_id, referee_id),
        UNIQUE (program_id, referral_key),
        FOREIGN KEY (program_id, referee_id) REFERENCES customers(program_id, id),
        FOREIGN KEY (program_id, referrer_id) REFERENCES customers(program_id, id),
        CHECK (referee_id <> referrer_id)
      );
      CREATE INDEX referrals_referrer_idx ON referrals (program_id, referrer_id);

      CREATE TABLE reward_triggers (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        reward_id uuid NOT NULL,
        touchpoint_type text NOT NULL,
        min_count int NOT NULL CHECK (min_count >= 1),
        window_hours int NOT NULL CHECK (window_hours BETWEEN 1 AND 87600),
        require_no_purchase boolean NOT NULL DEFAULT false,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        FOREIGN KEY (program_id, reward_id) REFERENCES rewards(program_id, id)
      );

      CREATE TABLE grants (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        key text NOT NULL,
        customer_id uuid NOT NULL,
        kind text NOT NULL CHECK (kind IN ('POINTS', 'REWARD')),
        points bigint CHECK (points > 0),
        reward_id uuid,
        trigger_id uuid,
        rule_id uuid,
        reason text NOT NULL,
        -- The purchase that earned it (a referee's first purchase): a full refund before it is due cancels it.
        touchpoint_id bigint,
        created_at timestamptz NOT NULL,
        -- Not given before this (the program's return window); null: at once.
        due_at timestamptz,
        granted_at timestamptz,
        result jsonb,
        -- A grant that fails (a bug, a constraint) is tried again a few times, never blocking the others.
        attempts int NOT NULL DEFAULT 0,
        last_error text,
        PRIMARY KEY (program_id, key),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id),
        CHECK ((kind = 'POINTS') = (points IS NOT NULL)),
        CHECK ((kind = 'REWARD') = (reward_id IS NOT NULL))
      );
      CREATE INDEX grants_pending_idx ON grants (program_id, created_at) WHERE granted_at IS NULL;
      CREATE INDEX grants_trigger_idx ON grants (program_id, customer_id, trigger_id, created_at) WHERE trigger_id IS NOT NULL;
      CREATE INDEX grants_customer_idx ON grants (program_id, customer_id, created_at);
      CREATE INDEX grants_touchpoint_idx ON grants (program_id, touchpoint_id) WHERE touchpoint_id IS NOT NULL;
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE grants; DROP TABLE reward_triggers; DROP TABLE referrals;
      ALTER TABLE earning_rules DROP CONSTRAINT earning_rules_referral, DROP COLUMN referral_trigger, DROP COLUMN beneficiary;
    `);
  }
}
