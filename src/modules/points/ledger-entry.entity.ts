/**
 * The `ledger_entries` table: the append-only points ledger; a customer's balance is its sum. A
 * trigger refuses UPDATE and DELETE (Foundation), and stays in the migrations: TypeORM does not
 * model triggers. Migrations: Foundation, PointsEconomy.
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { PartialIndex } from "../../db/partial-index";
import { bigintPoints } from "../../db/transformers";
import { CustomerEntity } from "../customer/customer.entity";

@Entity("ledger_entries")
// No foreign key to programs: the customer's implies it (LeanerWriteChecks).
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
@Check("ledger_entries_amount_check", "amount <> 0")
@Index("ledger_customer_idx", ["programId", "customerId", "id"])
@PartialIndex("ledger_reference_idx", ["programId", "reference"], "reference IS NOT NULL")
@PartialIndex("ledger_lot_idx", ["programId", "lotId"], "lot_id IS NOT NULL")
export class LedgerEntryEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  @PrimaryGeneratedColumn("identity", { type: "bigint", generatedIdentity: "ALWAYS" })
  id: string;

  @Column({ type: "uuid" })
  customerId: string;

  /** Points added (positive) or taken (negative), never zero. */
  @Column({ type: "bigint", transformer: bigintPoints })
  amount: number;

  /** EARN, REVERSAL, REDEMPTION, REDEMPTION_CANCELLED, EXPIRY, ADJUSTMENT, TRANSFER_OUT, TRANSFER_IN or GRANT. */
  @Column({ type: "text" })
  kind: string;

  /** The touchpoint that caused it (for a reversal, the refund). */
  @Column({ type: "bigint", nullable: true })
  touchpointId: string | null;

  @Column({ type: "text", nullable: true })
  note: string | null;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  /** The lot it credited or expired. */
  @Column({ type: "bigint", nullable: true })
  lotId: string | null;

  /** What else the entry belongs to: a redemption, a transfer, an adjustment's request key. */
  @Column({ type: "text", nullable: true })
  reference: string | null;
}
