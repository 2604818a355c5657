/**
 * The `customers` table: a member of a program with the counters the ladder reads, kept on every
 * touchpoint by the write path so a stage is evaluated without scanning history. Migrations:
 * Foundation, Tiers, CustomerErasure, LifecycleEvents; its attributes are at most 16 KiB by a
 * trigger (CustomerAttributesSize), and its pages keep room for in-place updates (fillfactor 85,
 * LeanerWriteChecks): both stay in the migrations, which TypeORM does not model.
 */
import { Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from "typeorm";
import type { LifecyclePhase } from "../../domain/value/lifecycle";
import { PartialIndex } from "../../db/partial-index";
import { bigintPoints, numericNumber } from "../../db/transformers";
import { ProgramEntity } from "../program/program.entity";

@Entity("customers")
@Unique(["programId", "externalId"])
@Index("customers_stage_idx", ["programId", "stageKey", "id"])
// Lookups by id alone (a credential over several programs): non-unique, so sharding allows it.
@Index("customers_id_idx", ["id"])
@PartialIndex("customers_tier_review_idx", ["programId", "tierReviewAt"], "tier_key IS NOT NULL")
export class CustomerEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryGeneratedColumn("uuid")
  id: string;

  /** The partner's id for the customer, unique in the program. */
  @Column({ type: "text" })
  externalId: string;

  @Column({ type: "text", nullable: true })
  email: string | null;

  @Column({ type: "text", nullable: true })
  name: string | null;

  @Column({ type: "jsonb", default: {} })
  attributes: Record<string, unknown>;

  @Column({ type: "text" })
  stageKey: string;

  @Column({ type: "timestamptz", default: () => "now()" })
  stageEnteredAt: Date;

  /** Spendable points: the sum of the ledger, negative when the overdraft policy allows it. */
  @Column({ type: "bigint", default: 0, transformer: bigintPoints })
  balance: number;

  /** Earned points not yet spendable (the program's pending days). */
  @Column({ type: "bigint", default: 0, transformer: bigintPoints })
  pendingPoints: number;

  @Column({ type: "bigint", default: 0, transformer: bigintPoints })
  lifetimePoints: number;

  @Column({ type: "int", default: 0 })
  purchaseCount: number;

  @Column({ type: "numeric", precision: 16, scale: 2, default: 0, transformer: numericNumber })
  purchaseAmount: number;

  @Column({ type: "timestamptz", nullable: true })
  firstPurchaseAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  lastPurchaseAt: Date | null;

  @Column({ type: "int", default: 0 })
  reviewCount: number;

  @Column({ type: "int", default: 0 })
  ratingSum: number;

  @Column({ type: "int", default: 0 })
  referralCount: number;

  @Column({ type: "int", default: 0 })
  socialShareCount: number;

  @Column({ type: "int", default: 0 })
  visitCount: number;

  @Column({ type: "int", default: 0 })
  productViewCount: number;

  @Column({ type: "int", default: 0 })
  supportContactCount: number;

  @Column({ type: "int", default: 0 })
  eventAttendanceCount: number;

  /** The latest NPS answer (0-10). */
  @Column({ type: "smallint", nullable: true })
  nps: number | null;

  @Column({ type: "int", default: 0 })
  touchpointCount: number;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;

  @Column({ type: "timestamptz", default: () => "now()" })
  updatedAt: Date;

  @Column({ type: "text", nullable: true })
  tierKey: string | null;

  @Column({ type: "timestamptz", nullable: true })
  tierSince: Date | null;

  /** When the tier is next reviewed for a downgrade (window end + grace, or a manual tier's end + grace). */
  @Column({ type: "timestamptz", nullable: true })
  tierReviewAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  tierManualUntil: Date | null;

  @Column({ type: "jsonb", nullable: true })
  tierReason: Record<string, unknown> | null;

  /** Set by eraseCustomer: anonymous since, and taking no new record. */
  @Column({ type: "timestamptz", nullable: true })
  erasedAt: Date | null;

  /**
   * The phase the lifecycle scan last saw. Null for customers older than LifecycleEvents until
   * their first scan records it without an event; new customers start as CONTACT.
   */
  @Column({ type: "text", nullable: true, default: "CONTACT" })
  lifecyclePhase: LifecyclePhase | null;

  @Column({ type: "timestamptz", nullable: true })
  lifecyclePhaseAt: Date | null;
}
