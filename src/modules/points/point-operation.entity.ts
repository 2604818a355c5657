/**
 * The `point_operations` table: manual adjustments and transfers, each claiming its idempotency
 * key so a retry posts nothing twice and returns the first result (PointsEconomy).
 */
import { Check, Column, Entity, ForeignKey, PrimaryColumn } from "typeorm";
import { ProgramEntity } from "../program/program.entity";

@Entity("point_operations")
@Check("point_operations_kind_check", "kind IN ('ADJUSTMENT', 'TRANSFER')")
export class PointOperationEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryColumn({ type: "text" })
  idempotencyKey: string;

  @Column({ type: "text" })
  kind: "ADJUSTMENT" | "TRANSFER";

  @Column({ type: "text" })
  requestHash: string;

  /** The first answer, returned again to a retry. */
  @Column({ type: "jsonb" })
  result: Record<string, unknown>;

  @Column({ type: "timestamptz", default: () => "now()" })
  createdAt: Date;
}
