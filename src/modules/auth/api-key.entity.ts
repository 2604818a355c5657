/**
 * The `api_keys` table: a program's credentials, stored as hashes; revoked, never deleted
 * (Foundation).
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn, PrimaryGeneratedColumn, Unique } from "typeorm";
import { ProgramEntity } from "../program/program.entity";

@Entity("api_keys")
@Unique(["programId", "keyHash"])
@Check("api_keys_role_check", "role IN ('ADMIN', 'PARTNER', 'STOREFRONT')")
export class ApiKeyEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "text" })
  role: "ADMIN" | "PARTNER" | "STOREFRONT";

  @Column({ type: "text" })
  keyHash: string;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  revokedAt: Date | null;
}
