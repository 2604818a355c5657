/**
 * The `stages` table: a program's ladder, one row per stage, bottom first by rank (Foundation).
 * The ladder as the code reads it is src/domain/ladder/ladder.types.ts.
 */
import { Column, Entity, ForeignKey, PrimaryColumn, Unique } from "typeorm";
import type { Criterion } from "../../domain/ladder/ladder.types";
import { ProgramEntity } from "../program/program.entity";

@Entity("stages")
@Unique(["programId", "rank"])
export class StageEntity {
  @PrimaryColumn({ type: "uuid" })
  @ForeignKey(() => ProgramEntity, { onDelete: "CASCADE" })
  programId: string;

  @PrimaryColumn({ type: "text" })
  key: string;

  @Column({ type: "int" })
  rank: number;

  @Column({ type: "text" })
  name: string;

  @Column({ type: "text", nullable: true })
  description: string | null;

  /** A side stage (lapsed, disqualified) sits beside the ladder and takes precedence when it holds. */
  @Column({ type: "boolean", default: false })
  side: boolean;

  /** Alternatives: the stage holds when every criterion of one path holds. */
  @Column({ type: "jsonb", default: [] })
  paths: Criterion[][];
}
