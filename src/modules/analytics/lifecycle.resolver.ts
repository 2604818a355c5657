/**
 * The program's customers by lifecycle phase (docs/domain.md §3: contact → acquisition → growth →
 * maturity → decline / churn), in total and per ladder stage, so each rung's handling can follow
 * where its customers are: a client in DECLINE needs a win-back, one in GROWTH a nudge up. One
 * set-based statement, with the same rule as each customer's own `lifecycle` (value.sql.ts).
 */
import { Arg, Ctx, Field, Float, ID, Int, ObjectType, Query, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { uuidArg } from "../../api/ids";
import { LifecyclePhase } from "../../domain/value/lifecycle";
import { ValuePolicy } from "../../domain/value/customer-value";
import { Stage } from "../program/program.types";
import { clvSql, lifecyclePhaseSql } from "../customer/value.sql";
import "../customer/lifecycle.types";

@ObjectType({ description: "The customers in one lifecycle phase, and what they are worth." })
export class LifecyclePhaseCount {
  @Field(() => LifecyclePhase)
  phase: LifecyclePhase;

  @Field(() => Int)
  customers: number;

  @Field(() => Float, { description: "The sum of their CLV (Customer.clv)." })
  clv: number;

  @Field(() => Float, { nullable: true, description: "Their average CLV; null when the phase is empty." })
  averageClv: number | null;
}

@ObjectType({ description: "The customers on one ladder stage, by lifecycle phase." })
export class StageLifecycle {
  @Field(() => Stage)
  stage: Stage;

  @Field(() => Int, { description: "Customers on the stage now." })
  customers: number;

  @Field(() => [LifecyclePhaseCount], { description: "Every phase, in LifecyclePhase's order, empty ones included." })
  phases: LifecyclePhaseCount[];
}

@ObjectType({ description: "The program's customers by lifecycle phase, as of now: in total and per ladder stage. Erased customers are left out." })
export class LifecycleReport {
  @Field(() => ID)
  programId: string;

  @Field()
  asOf: Date;

  @Field(() => Int)
  customers: number;

  @Field(() => [LifecyclePhaseCount], { description: "Every phase, in LifecyclePhase's order, empty ones included." })
  phases: LifecyclePhaseCount[];

  @Field(() => [StageLifecycle], { description: "Every stage of the ladder, in its order." })
  stages: StageLifecycle[];
}

const PHASES = Object.values(LifecyclePhase);

const cents = (n: number) => Math.round(n * 100) / 100;

/** Per stage and phase ($2: the time the phases and CLV are taken at), by the program's value policy. */
const byStageAndPhase = (policy: ValuePolicy) => `
SELECT c.stage_key, ${lifecyclePhaseSql("$2::timestamptz", policy)} AS phase, count(*)::int AS n, sum(${clvSql("$2::timestamptz", policy)}) AS clv
  FROM customers c WHERE c.program_id = $1 AND c.erased_at IS NULL
 GROUP BY 1, 2`;

type Cell = { n: number; clv: number };

function phaseCounts(cells: Map<LifecyclePhase, Cell>): LifecyclePhaseCount[] {
  return PHASES.map((phase) => {
    const cell = cells.get(phase);
    return { phase, customers: cell?.n ?? 0, clv: cents(cell?.clv ?? 0), averageClv: cell ? cents(cell.clv / cell.n) : null };
  });
}

@Resolver()
export class LifecycleResolver {
  @Query(() => LifecycleReport, { description: "The program's customers by lifecycle phase, in total and per ladder stage (ADMIN)." })
  async customerLifecycle(@Ctx() ctx: RequestContext, @Arg("programId", () => ID) programId: string): Promise<LifecycleReport> {
    const id = uuidArg(programId, "programId");
    const config = await ctx.app.programs.config(id);
    const rows = await ctx.sql.query(byStageAndPhase(config.valuePolicy), [id, ctx.now]);
    const total = new Map<LifecyclePhase, Cell>();
    const byStage = new Map<string, Map<LifecyclePhase, Cell>>();
    for (const row of rows) {
      const cell = { n: row.n, clv: Number(row.clv) };
      const sum = total.get(row.phase) ?? { n: 0, clv: 0 };
      total.set(row.phase, { n: sum.n + cell.n, clv: sum.clv + cell.clv });
      if (!byStage.has(row.stage_key)) byStage.set(row.stage_key, new Map());
      byStage.get(row.stage_key)!.set(row.phase, cell);
    }
    return {
      programId: id,
      asOf: ctx.now,
      customers: rows.reduce((n, r) => n + r.n, 0),
      phases: phaseCounts(total),
      stages: config.stages.map((stage) => {
        const cells = byStage.get(stage.key) ?? new Map();
        return { stage, customers: [...cells.values()].reduce((n, c) => n + c.n, 0), phases: phaseCounts(cells) };
      }),
    };
  }
}
