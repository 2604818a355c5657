/**
 * The `touchpoints` table: every recorded interaction (purchase, refund, review, visit…), keyed
 * for idempotency by (program, type, external id), with the points it posted and what refunds took
 * back. Migrations: Foundation, PointsEconomy, RefundCompletion.
 */
import { Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from "typeorm";
import { numericNumber } from "../../db/transformers";
import { CustomerEntity } from "../customer/customer.entity";
import type { StoredEarning } from "./batch-points";

@Entity("touchpoints")
// No foreign key to programs: the customer's implies it (LeanerWriteChecks).
@ForeignKey(() => CustomerEntity, ["programId", "customerId"], ["programId", "id"])
// The idempotency key of every record mutation: orderId, refundId, reviewId, externalId.
@Unique(["programId", "type", "externalId"])
@Index("touchpoints_customer_type_time_idx", ["programId", "customerId", "type", "occurredAt"])
@Index("touchpoints_customer_idx", ["programId", "customerId", "id"])
export class TouchpointEntity {
  @PrimaryColumn({ type: "uuid" })
  programId: string;

  @PrimaryGeneratedColumn("identity", { type: "bigint", generatedIdentity: "ALWAYS" })
  id: string;

  @Column({ type: "uuid" })
  customerId: string;

  @Column({ type: "text" })
  type: string;

  @Column({ type: "text" })
  externalId: string;

  @Column({ type: "text", nullable: true })
  channel: string | null;

  @Column({ type: "timestamptz" })
  occurredAt: Date;

  @Column({ type: "timestamptz", default: () => "now()" })
  recordedAt: Date;

  @Column({ type: "numeric", precision: 16, scale: 2, nullable: true, transformer: numericNumber })
  amount: number | null;

  @Column({ type: "char", length: 3, nullable: true })
  currency: string | null;

  @Column({ type: "smallint", nullable: true })
  rating: number | null;

  @Column({ type: "text", nullable: true })
  productId: string | null;

  /** For a refund: the orderId it refunds. */
  @Column({ type: "text", nullable: true })
  relatedExternalId: string | null;

  @Column({ type: "jsonb", nullable: true })
  data: Record<string, unknown> | null;

  /** Points this touchpoint posted (negative for a refund). */
  @Column({ type: "int", default: 0 })
  points: number;

  @Column({ type: "numeric", precision: 16, scale: 2, default: 0, transformer: numericNumber })
  refundedAmount: number;

  @Column({ type: "int", default: 0 })
  pointsReversed: number;

  /** The request's hash: a retry with the same key and another body is refused. */
  @Column({ type: "text" })
  requestHash: string;

  /** Which rules gave what, line points and the order's share: a replay and a refund read them. */
  @Column({ type: "jsonb", nullable: true })
  earning: StoredEarning | null;

  /** Per SKU, how many units refunds took back. */
  @Column({ type: "jsonb", default: {} })
  refundedLines: Record<string, number>;

  /** Points a refund could not take back (overdraft policy CLAMP_AT_ZERO). */
  @Column({ type: "int", default: 0 })
  pointsShortfall: number;

  /** On a purchase: when a refund completed the order (it then no longer counts as a purchase). */
  @Column({ type: "timestamptz", nullable: true })
  refundCompletedAt: Date | null;
}
