import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The points economy: richer earning rules, points held in lots (pending, active, expired), the
 * program's pending/expiry/overdraft policies, and the rewards catalog with redemptions and coupons.
 *
 * Invariants (checked by the property tests):
 *   customers.balance        = sum(ledger_entries.amount)
 *   greatest(balance, 0)     = sum(remaining) of the customer's ACTIVE lots
 *   customers.pending_points = sum(remaining) of the customer's PENDING lots
 * A customer's lots change only while its customer row is locked, so the two functions below and
 * the set-based jobs never race each other.
 */
export class PointsEconomy1763900000000 implements MigrationInterface {
  name = "PointsEconomy1763900000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE programs
        ADD COLUMN pending_days int NOT NULL DEFAULT 0 CHECK (pending_days BETWEEN 0 AND 365),
        ADD COLUMN expiry_policy text NOT NULL DEFAULT 'NEVER' CHECK (expiry_policy IN ('NEVER', 'AFTER_DAYS', 'END_OF_MONTH', 'END_OF_YEAR')),
        ADD COLUMN expiry_days int CHECK (expiry_days BETWEEN 1 AND 36500),
        ADD COLUMN overdraft_policy text NOT NULL DEFAULT 'ALLOW_NEGATIVE' CHECK (overdraft_policy IN ('ALLOW_NEGATIVE', 'CLAMP_AT_ZERO'));

      ALTER TABLE earning_rules
        DROP CONSTRAINT earning_rules_check,
        ADD COLUMN multiplier numeric(8,4) CHECK (multiplier > 0),
        ADD COLUMN skus text[],
        ADD COLUMN categories text[],
        ADD COLUMN stages text[],
        ADD COLUMN tiers text[],
        ADD COLUMN active_from timestamptz,
        ADD COLUMN active_to timestamptz,
        ADD COLUMN days_of_week smallint[],
        ADD COLUMN cap_points int CHECK (cap_points >= 0),
        ADD COLUMN cap_period text CHECK (cap_period IN ('DAY', 'WEEK', 'MONTH')),
        ADD COLUMN total_cap bigint CHECK (total_cap >= 0),
        -- What a rule with a total cap gave so far (over all customers), kept by the write path.
        ADD COLUMN awarded bigint NOT NULL DEFAULT 0,
        ADD COLUMN stop_further_rules boolean NOT NULL DEFAULT false,
        -- The rule's place in the list the admin gave: the tie-break after priority, so the order
        -- is what was written down, never which rule was edited last.
        ADD COLUMN position int NOT NULL DEFAULT 0,
        ADD CONSTRAINT earning_rules_gives_points CHECK (points_per_unit IS NOT NULL OR fixed_points IS NOT NULL OR multiplier IS NOT NULL);

      ALTER TABLE touchpoints
        -- Which rules gave what, line points and the order's share: a replay and a refund read them.
        ADD COLUMN earning jsonb,
        -- Per SKU, how many units refunds took back.
        ADD COLUMN refunded_lines jsonb NOT NULL DEFAULT '{}',
        -- Points a refund could not take back (overdraft policy CLAMP_AT_ZERO).
        ADD COLUMN points_shortfall int NOT NULL DEFAULT 0;

      CREATE TABLE point_lots (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id bigint GENERATED ALWAYS AS IDENTITY,
        customer_id uuid NOT NULL,
        -- EARN (a touchpoint), ADJUSTMENT, TRANSFER, REDEMPTION_CANCELLED
        source text NOT NULL,
        touchpoint_id bigint,
        rule_id uuid,
        amount bigint NOT NULL CHECK (amount > 0),
        remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
        status text NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'EXPIRED', 'CANCELLED')),
        earned_at timestamptz NOT NULL,
        activates_at timestamptz,
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id)
      );
      CREATE INDEX point_lots_customer_idx ON point_lots (program_id, customer_id, status, expires_at);
      CREATE INDEX point_lots_touchpoint_idx ON point_lots (program_id, touchpoint_id) WHERE touchpoint_id IS NOT NULL;
      CREATE INDEX point_lots_rule_idx ON point_lots (program_id, customer_id, rule_id, earned_at) WHERE rule_id IS NOT NULL;
      CREATE INDEX point_lots_pending_idx ON point_lots (program_id, activates_at) WHERE status = 'PENDING';
      CREATE INDEX point_lots_expiring_idx ON point_lots (program_id, expires_at) WHERE status = 'ACTIVE' AND remaining > 0;

      ALTER TABLE ledger_entries
        ADD COLUMN lot_id bigint,
        -- What else the entry belongs to: a redemption, a transfer, an adjustment's request key.
        ADD COLUMN reference text;
      CREATE INDEX ledger_reference_idx ON ledger_entries (program_id, reference) WHERE reference IS NOT NULL;
      CREATE INDEX ledger_lot_idx ON ledger_entries (program_id, lot_id) WHERE lot_id IS NOT NULL;

      -- Manual adjustments and transfers: each claims a key, so a retry posts nothing twice.
      CREATE TABLE point_operations (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        idempotency_key text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('ADJUSTMENT', 'TRANSFER')),
        request_hash text NOT NULL,
        result jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, idempotency_key)
      );

      CREATE TABLE rewards (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        description text,
        points_cost bigint NOT NULL CHECK (points_cost > 0),
        stock int CHECK (stock >= 0),
        issued int NOT NULL DEFAULT 0 CHECK (issued >= 0),
        valid_from timestamptz,
        valid_to timestamptz,
        stages text[],
        tiers text[],
        per_customer_limit int CHECK (per_customer_limit > 0),
        coupon_source text NOT NULL DEFAULT 'GENERATED' CHECK (coupon_source IN ('GENERATED', 'POOL')),
        coupon_valid_days int CHECK (coupon_valid_days > 0),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        -- Never more issued than stocked: the database refuses it even if the code were wrong.
        CHECK (stock IS NULL OR issued <= stock)
      );
      CREATE INDEX rewards_id_idx ON rewards (id);

      CREATE TABLE redemptions (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL,
        reward_id uuid NOT NULL,
        idempotency_key text NOT NULL,
        request_hash text NOT NULL,
        points bigint NOT NULL,
        code text NOT NULL,
        status text NOT NULL CHECK (status IN ('ISSUED', 'USED', 'CANCELLED', 'EXPIRED')),
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        used_at timestamptz,
        cancelled_at timestamptz,
        expired_at timestamptz,
        PRIMARY KEY (program_id, id),
        UNIQUE (program_id, idempotency_key),
        UNIQUE (program_id, code),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id),
        FOREIGN KEY (program_id, reward_id) REFERENCES rewards(program_id, id)
      );
      CREATE INDEX redemptions_customer_idx ON redemptions (program_id, customer_id, reward_id, status);
      CREATE INDEX redemptions_expiring_idx ON redemptions (program_id, expires_at) WHERE status = 'ISSUED';
      CREATE INDEX redemptions_id_idx ON redemptions (id);

      -- Codes uploaded for a reward; a redemption takes one.
      CREATE TABLE reward_coupon_codes (
        program_id uuid NOT NULL,
        reward_id uuid NOT NULL,
        code text NOT NULL,
        redemption_id uuid,
        PRIMARY KEY (program_id, reward_id, code),
        FOREIGN KEY (program_id, reward_id) REFERENCES rewards(program_id, id) ON DELETE CASCADE
      );
      CREATE INDEX reward_coupon_codes_free_idx ON reward_coupon_codes (program_id, reward_id) WHERE redemption_id IS NULL;

      /*
       * Takes points from a customer: from ACTIVE lots, the preferred touchpoint's lots first, then
       * those expiring first (FEFO). Beyond the balance, the overdraft policy decides: a negative
       * balance, or stop at zero and report the shortfall. Locks the customer row first.
       */
      CREATE FUNCTION debit_points(p_program uuid, p_customer uuid, p_amount bigint, p_allow_negative boolean,
                                   p_kind text, p_touchpoint bigint, p_prefer_touchpoint bigint, p_reference text, p_note text)
      RETURNS TABLE (o_posted bigint, o_shortfall bigint, o_balance bigint, o_ledger_id bigint)
      LANGUAGE plpgsql AS $$
      DECLARE
        b bigint;
        v_posted bigint;
        v_take bigint;
        v_ledger bigint;
      BEGIN
        SELECT c.balance INTO b FROM customers c WHERE c.program_id = p_program AND c.id = p_customer FOR NO KEY UPDATE;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'customer % not found', p_customer USING ERRCODE = 'P0002';
        END IF;
        v_posted := CASE WHEN p_allow_negative THEN p_amount ELSE least(p_amount, greatest(b, 0)) END;
        v_take := least(v_posted, greatest(b, 0));
        IF v_take > 0 THEN
          WITH ordered AS (
            SELECT l.id, l.remaining,
                   sum(l.remaining) OVER (ORDER BY coalesce(l.touchpoint_id = p_prefer_touchpoint, false) DESC,
                                                   l.expires_at NULLS LAST, l.id) AS upto
              FROM point_lots l
             WHERE l.program_id = p_program AND l.customer_id = p_customer AND l.status = 'ACTIVE' AND l.remaining > 0
          )
          UPDATE point_lots l SET remaining = l.remaining - least(o.remaining, v_take - (o.upto - o.remaining))
            FROM ordered o
           WHERE l.program_id = p_program AND l.id = o.id AND o.upto - o.remaining < v_take;
        END IF;
        IF v_posted > 0 THEN
          INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id, reference, note)
          VALUES (p_program, p_customer, -v_posted, p_kind, p_touchpoint, p_reference, p_note)
          RETURNING id INTO v_ledger;
          UPDATE customers c SET balance = c.balance - v_posted, updated_at = now()
           WHERE c.program_id = p_program AND c.id = p_customer
          RETURNING c.balance INTO b;
        END IF;
        RETURN QUERY SELECT v_posted, p_amount - v_posted, b, v_ledger;
      END $$;

      /*
       * Gives points to a customer as a new ACTIVE lot. When the balance is negative the new points
       * first pay that debt, so the lot starts with what is left. Locks the customer row first.
       */
      CREATE FUNCTION credit_points(p_program uuid, p_customer uuid, p_amount bigint, p_kind text, p_source text,
                                    p_touchpoint bigint, p_at timestamptz, p_expires_at timestamptz,
                                    p_reference text, p_note text, p_lifetime boolean)
      RETURNS TABLE (o_lot_id bigint, o_balance bigint, o_ledger_id bigint)
      LANGUAGE plpgsql AS $$
      DECLARE
        b bigint;
        v_lot bigint;
        v_ledger bigint;
      BEGIN
        SELECT c.balance INTO b FROM customers c WHERE c.program_id = p_program AND c.id = p_customer FOR NO KEY UPDATE;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'customer % not found', p_customer USING ERRCODE = 'P0002';
        END IF;
        INSERT INTO point_lots (program_id, customer_id, source, touchpoint_id, amount, remaining, status, earned_at, expires_at)
        VALUES (p_program, p_customer, p_source, p_touchpoint, p_amount, p_amount - least(p_amount, greatest(-b, 0)), 'ACTIVE', p_at, p_expires_at)
        RETURNING id INTO v_lot;
        INSERT INTO ledger_entries (program_id, customer_id, amount, kind, touchpoint_id, lot_id, reference, note)
        VALUES (p_program, p_customer, p_amount, p_kind, p_touchpoint, v_lot, p_reference, p_note)
        RETURNING id INTO v_ledger;
        UPDATE customers c SET balance = c.balance + p_amount,
               lifetime_points = c.lifetime_points + CASE WHEN p_lifetime THEN p_amount ELSE 0 END, updated_at = now()
         WHERE c.program_id = p_program AND c.id = p_customer
        RETURNING c.balance INTO b;
        RETURN QUERY SELECT v_lot, b, v_ledger;
      END $$;
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP FUNCTION credit_points; DROP FUNCTION debit_points;
      DROP TABLE reward_coupon_codes; DROP TABLE redemptions; DROP TABLE rewards; DROP TABLE point_operations;
      DROP INDEX ledger_reference_idx; DROP INDEX ledger_lot_idx;
      ALTER TABLE ledger_entries DROP COLUMN lot_id, DROP COLUMN reference;
      DROP TABLE point_lots;
      ALTER TABLE touchpoints DROP COLUMN earning, DROP COLUMN refunded_lines, DROP COLUMN points_shortfall;
      ALTER TABLE earning_rules DROP CONSTRAINT earning_rules_gives_points,
        DROP COLUMN multiplier, DROP COLUMN skus, DROP COLUMN categories, DROP COLUMN stages, DROP COLUMN tiers,
        DROP COLUMN active_from, DROP COLUMN active_to, DROP COLUMN days_of_week, DROP COLUMN cap_points,
        DROP COLUMN cap_period, DROP COLUMN total_cap, DROP COLUMN awarded, DROP COLUMN stop_further_rules, DROP COLUMN position,
        ADD CONSTRAINT earning_rules_check CHECK (points_per_unit IS NOT NULL OR fixed_points IS NOT NULL);
      ALTER TABLE programs DROP COLUMN pending_days, DROP COLUMN expiry_policy, DROP COLUMN expiry_days, DROP COLUMN overdraft_policy;
    `);
  }
}
