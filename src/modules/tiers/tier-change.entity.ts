/** The `tier_changes` table: every move of a customer between tiers, with its reason (Tiers). */
import { Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { CustomerEntity } from "../customer/customer.entity";
import { ProgramEntity } from "../program/program.entity";

@Entity("tier_changes")
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
@Index("tier_changes_customer_idx", ["programId", "customerId", "id"])
export class TierChangeEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("identity", { type: "bigint", generatedIdentity: "ALWAYS" })
  id: string;

  @Column({ type: "uuid" })
  customerId: string;

  /** Null: the customer had no tier. */
  @Column({ type: "text", nullable: true })
  fromKey: string | null;

  /** Null: the customer lost every tier. */
  @Column({ type: "text", nullable: true })
  toKey: string | null;

  @Column({ type: "timestamptz" })
  at: Date;

  @Column({ type: "text" })
  cause: string;

  @Column({ type: "jsonb" })
  reason: Record<string, unknown>;
}
