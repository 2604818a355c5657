import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Webhooks (docs/architecture.md: outbox → pub/sub → subscriptions and webhooks): a program's endpoints,
 * each with the event topics it wants and the secret its deliveries are signed with, and one
 * delivery per endpoint and event. Deliveries are made when an event is marked published (by its
 * writer, or by the relay for a writer that died), never in the writing transaction, and each
 * (endpoint, event) once (the unique key). The secret is kept as is: it signs every delivery.
 */
export class Webhooks1765200000000 implements MigrationInterface {
  name = "Webhooks1765200000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhooks (
        program_id uuid NOT NULL REFERENCES programs(id),
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        url text NOT NULL,
        topics text[] NOT NULL CHECK (cardinality(topics) > 0),
        description text,
        secret text NOT NULL,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id)
      )`);
    await q.query(`CREATE UNIQUE INDEX webhooks_id_idx ON webhooks (id)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        program_id uuid NOT NULL,
        id bigserial,
        webhook_id uuid NOT NULL,
        event_id bigint NOT NULL,
        topic text NOT NULL,
        status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_attempt_at timestamptz,
        last_status int,
        last_error text,
        delivered_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        UNIQUE (program_id, webhook_id, event_id),
        FOREIGN KEY (program_id, webhook_id) REFERENCES webhooks (program_id, id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING'`);
    await q.query(`CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (program_id, webhook_id, id)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhooks`);
  }
}
