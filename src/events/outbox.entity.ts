/**
 * The `outbox` table: events written in the transaction that caused them and published after
 * commit (docs/architecture.md). The id is the event's sequence, global so a subscriber can
 * resume from it; it stays a string, as the API's sequences are. Foundation gives it no foreign
 * key, so none is declared here either.
 */
import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { PartialIndex } from "../db/partial-index";
import type { EventTopic } from "./event.types";

@Entity("outbox")
@PartialIndex("outbox_unpublished_idx", ["id"], "published_at IS NULL")
export class OutboxEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  @PrimaryGeneratedColumn("identity", { type: "bigint", generatedIdentity: "ALWAYS" })
  id: string;

  @Column({ type: "text" })
  topic: EventTopic;

  @Column({ type: "uuid", nullable: true })
  customerId: string | null;

  @Column({ type: "jsonb" })
  payload: Record<string, unknown>;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  /** Null until published: the relay publishes what a writer that died left behind. */
  @Column({ type: "timestamptz", nullable: true })
  publishedAt: Date | null;
}
