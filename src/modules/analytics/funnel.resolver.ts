/** The ladder as a funnel: how many customers stand on each rung and how many moved in a period. */
import { Arg, Ctx, Field, Float, ID, Int, ObjectType, Query, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { Stage } from "../program/program.types";
import { stageOf } from "../program/program.config";
import { clvSql } from "../customer/value.sql";

/** Days to one decimal. */
const tenths = (days: number) => Math.round(days * 10) / 10;

/**
 * Per stage, how long the customers who left it in [$2, $3) had stayed: from the move that brought
 * them onto it (their previous move) or, for those who never moved before, from joining the program
 * (they start on the bottom stage).
 */
const STAYS_BEFORE_LEAVING = `
SELECT t.from_key, avg(greatest(0, extract(epoch FROM t.at - coalesce(prev.at, c.created_at)))) / 86400 AS days
  FROM stage_transitions t
  JOIN customers c ON c.program_id = t.program_id AND c.id = t.customer_id
  LEFT JOIN LATERAL (
    SELECT p.at FROM stage_transitions p
     WHERE p.program_id = t.program_id AND p.customer_id = t.customer_id AND p.id < t.id
     ORDER BY p.id DESC LIMIT 1
  ) prev ON true
 WHERE t.program_id = $1 AND t.at >= $2 AND t.at < $3 AND t.from_key IS NOT NULL
 GROUP BY t.from_key`;

@ObjectType()
export class FunnelStage {
  @Field(() => Stage)
  stage: Stage;

  @Field(() => Int, { description: "Customers on the stage now." })
  customers: number;

  @Field(() => Int, { description: "Moves into the stage in the period." })
  entered: number;

  @Field(() => Int, { description: "Moves out of the stage in the period." })
  left: number;

  @Field(() => Float, { description: "The sum of the CLV (Customer.clv) of the customers on the stage now: what the rung is worth." })
  clv: number;

  @Field(() => Float, { nullable: true, description: "Their average CLV; null when the stage is empty." })
  averageClv: number | null;

  @Field(() => Float, {
    nullable: true,
    description: "How long the customers on the stage now have been on it, in days on average; null when the stage is empty.",
  })
  averageDaysOnStage: number | null;

  @Field(() => Float, {
    nullable: true,
    description:
      "How long the customers who left the stage in the period had stayed on it, in days on average (from their move into it, or from joining the program for the bottom stage); null when nobody left.",
  })
  averageDaysBeforeLeaving: number | null;
}

@ObjectType()
export class FunnelTransition {
  @Field(() => Stage, { nullable: true })
  from: Stage | null;

  @Field(() => Stage)
  to: Stage;

  @Field(() => Int)
  count: number;
}

@ObjectType({ description: "Customers per stage now, and the moves between stages in [from, to)." })
export class LadderFunnel {
  @Field(() => ID)
  programId: string;

  @Field()
  from: Date;

  @Field()
  to: Date;

  @Field(() => [FunnelStage])
  stages: FunnelStage[];

  @Field(() => [FunnelTransition])
  transitions: FunnelTransition[];
}

@Resolver()
export class FunnelResolver {
  @Query(() => LadderFunnel, { description: "The ladder as a funnel (ADMIN). The period defaults to the last 30 days." })
  async ladderFunnel(
    @Ctx() ctx: RequestContext,
    @Arg("programId", () => ID) programId: string,
    @Arg("from", () => Date, { nullable: true }) from?: Date,
    @Arg("to", () => Date, { nullable: true }) to?: Date,
  ): Promise<LadderFunnel> {
    const id = uuidArg(programId, "programId");
    const config = await ctx.app.programs.config(id);
    const end = to ?? ctx.now;
    const start = from ?? new Date(end.getTime() - 30 * 86_400_000);
    if (start >= end) throw new BadInput("from", "from must be before to");
    const [counts, moves, stays] = await Promise.all([
      ctx.sql.query(
        `SELECT stage_key, count(*)::int AS n, sum(${clvSql("$2::timestamptz", config.valuePolicy)}) AS clv,
                avg(extract(epoch FROM $2::timestamptz - stage_entered_at)) / 86400 AS days
           FROM customers c WHERE program_id = $1 GROUP BY stage_key`,
        [id, ctx.now],
      ),
      ctx.sql.query(
        `SELECT from_key, to_key, count(*)::int AS n FROM stage_transitions
          WHERE program_id = $1 AND at >= $2 AND at < $3 GROUP BY from_key, to_key`,
        [id, start, end],
      ),
      ctx.sql.query(STAYS_BEFORE_LEAVING, [id, start, end]),
    ]);
    const now = new Map(counts.map((r) => [r.stage_key, r]));
    const stayed = new Map(stays.map((r) => [r.from_key, Number(r.days)]));
    return {
      programId: id,
      from: start,
      to: end,
      stages: config.stages.map((stage) => ({
        stage,
        customers: now.get(stage.key)?.n ?? 0,
        clv: Number(now.get(stage.key)?.clv ?? 0),
        averageClv: now.has(stage.key) ? Math.round((Number(now.get(stage.key).clv) / now.get(stage.key).n) * 100) / 100 : null,
        averageDaysOnStage: now.has(stage.key) ? tenths(Number(now.get(stage.key).days)) : null,
        averageDaysBeforeLeaving: stayed.has(stage.key) ? tenths(stayed.get(stage.key)!) : null,
        entered: moves.filter((m) => m.to_key === stage.key).reduce((s, m) => s + m.n, 0),
        left: moves.filter((m) => m.from_key === stage.key).reduce((s, m) => s + m.n, 0),
      })),
      transitions: moves.map((m) => ({ from: m.from_key ? stageOf(config, m.from_key) : null, to: stageOf(config, m.to_key), count: m.n })),
    };
  }
}
