/**
 * The `webhooks` table: a program's endpoints, each with the event topics it wants and the secret
 * its deliveries are signed with, kept as is since it signs every delivery (Webhooks).
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { ProgramEntity } from "../program/program.entity";

@Entity("webhooks")
@Check("webhooks_topics_check", "cardinality(topics) > 0")
// Unique, unlike the other tables' lookups by id alone: the migration made it so.
@Index("webhooks_id_idx", ["id"], { unique: true })
export class WebhookEntity {
  // The one program foreign key without ON DELETE CASCADE, as the migration wrote it.
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "NO ACTION" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  url: string;

  @Column({ type: "text", array: true })
  topics: string[];

  @Column({ type: "text", nullable: true })
  description: string | null;

  @Column({ type: "text" })
  secret: string;

  @Column({ type: "boolean", default: true })
  active: boolean;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
