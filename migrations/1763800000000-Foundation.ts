import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The foundation schema. Every table carries program_id and every unique key starts with it:
 * that is the tenancy boundary and the distribution column if the data is ever sharded (Citus).
 * Points are bigint, money numeric, times timestamptz.
 */
export class Foundation1763800000000 implements MigrationInterface {
  name = "Foundation1763800000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE programs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        points_name text NOT NULL DEFAULT 'points',
        time_zone text NOT NULL DEFAULT 'UTC',
        ladder_preset text,
        token_secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE stages (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        key text NOT NULL,
        rank int NOT NULL,
        name text NOT NULL,
        description text,
        side boolean NOT NULL DEFAULT false,
        paths jsonb NOT NULL DEFAULT '[]',
        PRIMARY KEY (program_id, key),
        UNIQUE (program_id, rank)
      );

      CREATE TABLE earning_rules (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text,
        touchpoint_type text NOT NULL,
        points_per_unit numeric(14,4),
        fixed_points int,
        priority int NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        CHECK (points_per_unit IS NOT NULL OR fixed_points IS NOT NULL)
      );

      CREATE TABLE customers (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        external_id text NOT NULL,
        email text,
        name text,
        attributes jsonb NOT NULL DEFAULT '{}',
        stage_key text NOT NULL,
        stage_entered_at timestamptz NOT NULL DEFAULT now(),
        balance bigint NOT NULL DEFAULT 0,
        pending_points bigint NOT NULL DEFAULT 0,
        lifetime_points bigint NOT NULL DEFAULT 0,
        purchase_count int NOT NULL DEFAULT 0,
        purchase_amount numeric(16,2) NOT NULL DEFAULT 0,
        first_purchase_at timestamptz,
        last_purchase_at timestamptz,
        review_count int NOT NULL DEFAULT 0,
        rating_sum int NOT NULL DEFAULT 0,
        referral_count int NOT NULL DEFAULT 0,
        social_share_count int NOT NULL DEFAULT 0,
        visit_count int NOT NULL DEFAULT 0,
        product_view_count int NOT NULL DEFAULT 0,
        support_contact_count int NOT NULL DEFAULT 0,
        event_attendance_count int NOT NULL DEFAULT 0,
        nps smallint,
        touchpoint_count int NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        UNIQUE (program_id, external_id)
      );
      CREATE INDEX customers_stage_idx ON customers (program_id, stage_key, id);
      -- Lookups by id alone (a credential over several programs): non-unique, so sharding allows it.
      CREATE INDEX customers_id_idx ON customers (id);

      CREATE TABLE touchpoints (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id bigint GENERATED ALWAYS AS IDENTITY,
        customer_id uuid NOT NULL,
        type text NOT NULL,
        external_id text NOT NULL,
        channel text,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        amount numeric(16,2),
        currency char(3),
        rating smallint,
        product_id text,
        related_external_id text,
        data jsonb,
        points int NOT NULL DEFAULT 0,
        refunded_amount numeric(16,2) NOT NULL DEFAULT 0,
        points_reversed int NOT NULL DEFAULT 0,
        request_hash text NOT NULL,
        PRIMARY KEY (program_id, id),
        -- The idempotency key of every record mutation: orderId, refundId, reviewId, externalId.
        UNIQUE (program_id, type, external_id),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id)
      );
      CREATE INDEX touchpoints_customer_type_time_idx ON touchpoints (program_id, customer_id, type, occurred_at);
      CREATE INDEX touchpoints_customer_idx ON touchpoints (program_id, customer_id, id);

      CREATE TABLE ledger_entries (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id bigint GENERATED ALWAYS AS IDENTITY,
        customer_id uuid NOT NULL,
        amount bigint NOT NULL CHECK (amount <> 0),
        kind text NOT NULL,
        touchpoint_id bigint,
        note text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id)
      );
      CREATE INDEX ledger_customer_idx ON ledger_entries (program_id, customer_id, id);

      -- The ledger is append-only: a correction is a new entry, never an edit.
      CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'ledger_entries is append-only (% refused)', TG_OP;
      END $$;
      CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

      CREATE TABLE stage_transitions (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id bigint GENERATED ALWAYS AS IDENTITY,
        customer_id uuid NOT NULL,
        from_key text,
        to_key text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        cause text NOT NULL,
        touchpoint_id bigint,
        reason jsonb NOT NULL,
        PRIMARY KEY (program_id, id),
        FOREIGN KEY (program_id, customer_id) REFERENCES customers(program_id, id)
      );
      CREATE INDEX stage_transitions_customer_idx ON stage_transitions (program_id, customer_id, id);
      CREATE INDEX stage_transitions_at_idx ON stage_transitions (program_id, at);
      CREATE INDEX stage_transitions_touchpoint_idx ON stage_transitions (program_id, touchpoint_id) WHERE touchpoint_id IS NOT NULL;

      -- Events leave through this table: written in the transaction, published after commit.
      -- The id is the event's sequence number, global so a subscriber can resume from it.
      CREATE TABLE outbox (
        program_id uuid NOT NULL,
        id bigint GENERATED ALWAYS AS IDENTITY,
        topic text NOT NULL,
        customer_id uuid,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        PRIMARY KEY (program_id, id)
      );
      CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

      CREATE TABLE api_keys (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('ADMIN', 'PARTNER', 'STOREFRONT')),
        key_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        PRIMARY KEY (program_id, id),
        UNIQUE (program_id, key_hash)
      );
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE api_keys; DROP TABLE outbox; DROP TABLE stage_transitions;
      DROP TRIGGER ledger_entries_append_only ON ledger_entries; DROP TABLE ledger_entries;
      DROP FUNCTION ledger_entries_append_only(); DROP TABLE touchpoints; DROP TABLE customers;
      DROP TABLE earning_rules; DROP TABLE stages; DROP TABLE programs;
    `);
  }
}
