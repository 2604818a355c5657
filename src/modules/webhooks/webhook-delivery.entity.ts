/**
 * The `webhook_deliveries` table: one delivery per endpoint and event (the unique key), made after
 * the event is published, retried with backoff until delivered or failed (Webhooks).
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from "typeorm";
import { PartialIndex } from "../../db/partial-index";
import { WebhookEntity } from "./webhook.entity";

export type WebhookDeliveryStatus = "PENDING" | "DELIVERED" | "FAILED";

@Entity("webhook_deliveries")
@ForeignKey(() => WebhookEntity, ["programId", "webhookId"], ["programId", "id"], { onDelete: "CASCADE" })
@Unique(["programId", "webhookId", "eventId"])
@Check("webhook_deliveries_status_check", "status IN ('PENDING', 'DELIVERED', 'FAILED')")
@PartialIndex("webhook_deliveries_due_idx", ["nextAttemptAt"], "status = 'PENDING'")
@Index("webhook_deliveries_webhook_idx", ["programId", "webhookId", "id"])
export class WebhookDeliveryEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  // bigserial, where every other table's row id is an identity column: as the migration wrote it.
  @PrimaryGeneratedColumn("increment", { type: "bigint" })
  id: string;

  @Column({ type: "uuid" })
  webhookId: string;

  /** The outbox id (the event's sequence). */
  @Column({ type: "bigint" })
  eventId: string;

  @Column({ type: "text" })
  topic: string;

  @Column({ type: "text", default: "PENDING" })
  status: WebhookDeliveryStatus;

  @Column({ type: "int", default: 0 })
  attempts: number;

  @Column({ type: "timestamptz", default: () => "now()" })
  nextAttemptAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  lastAttemptAt: Date | null;

  /** The endpoint's last HTTP status; null when it gave none (a timeout, a refused connection). */
  @Column({ type: "int", nullable: true })
  lastStatus: number | null;

  @Column({ type: "text", nullable: true })
  lastError: string | null;

  @Column({ type: "timestamptz", nullable: true })
  deliveredAt: Date | null;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
