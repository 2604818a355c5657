/**
 * The `referrals` table: who referred whom, once per referee, idempotent by the client's referral
 * id; a referee's first purchase may earn both a bonus (ReferralsAndTriggers).
 */
import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, Unique } from "typeorm";
import { CustomerEntity } from "../customer/customer.entity";
import { ProgramEntity } from "../program/program.entity";

@Entity("referrals")
@ForeignKey(() => CustomerEntity, ["programId", "refereeId"], ["programId", "id"])
@ForeignKey(() => CustomerEntity, ["programId", "referrerId"], ["programId", "id"])
@Unique(["programId", "referralKey"])
@Check("referrals_check", "referee_id <> referrer_id")
@Index("referrals_referrer_idx", ["programId", "referrerId"])
export class ReferralEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryColumn({ type: "uuid" })
  refereeId: string;

  @Column({ type: "uuid" })
  referrerId: string;

  @Column({ type: "text" })
  referralKey: string;

  @Column({ type: "text" })
  requestHash: string;

  @Column({ type: "timestamptz" })
  createdAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  firstPurchaseAt: Date | null;
}
