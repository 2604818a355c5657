/**
 * Who the best customers are (docs/domain.md §3): the program's buyers per RFM segment with what they
 * are worth, and the top tenth by CLV. Set-based over the program's customers, with the same rules
 * and the same cached percentiles as each customer's own `rfm` and `clv` (value.sql.ts).
 */
import { IsOptional, Length, Max, Min } from "class-validator";
import { Arg, Ctx, Field, Float, FieldResolver, ID, InputType, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { uuidArg } from "../../api/ids";
import { BadInput } from "../../api/errors";
import { RfmSegment, ValuePolicy } from "../../domain/value/customer-value";
import { Customer, customerFromRow } from "../customer/customer.types";
import { clvSql, IS_BUYER, LAST_PURCHASE_MS, quintileParams, quintileSql, RFM_SEGMENTS, rfmSegmentSql } from "../customer/value.sql";

@ObjectType({ description: "A goal for a segment: how many customers it should hold by a date (setSegmentGoal)." })
export class SegmentGoal {
  @Field(() => Int)
  target: number;

  @Field()
  dueAt: Date;

  @Field(() => Int, { description: "How many customers the segment held when the goal was set." })
  baseline: number;

  @Field()
  setAt: Date;

  @Field(() => String, { nullable: true })
  note: string | null;

  @Field(() => Float, {
    nullable: true,
    description:
      "How far the segment has come from the baseline towards the target: 0 at the start, 1 reached (above 1: beyond it; below 0: away from it). Null when the target is the baseline.",
  })
  progress: number | null;

  @Field({
    description:
      "The segment holds the target now: at least the target for a goal to grow it (or keep it, when the target is the baseline), at most for a goal to shrink it (AT_RISK from 200 to 150).",
  })
  reached: boolean;

  @Field({ description: "dueAt is past and the target is not reached." })
  overdue: boolean;
}

@InputType({ description: "A goal for an RFM segment: `target` customers in it by `dueAt` (e.g. CHAMPIONS from 150 to 200 within a year)." })
export class SegmentGoalInput {
  @Field(() => ID)
  programId: string;

  @Field(() => RfmSegment)
  segment: RfmSegment;

  @Field(() => Int)
  @Min(0)
  @Max(1_000_000_000)
  target: number;

  @Field({ description: "In the future." })
  dueAt: Date;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 500)
  note?: string | null;
}

@ObjectType({ description: "The buyers of one RFM segment, and what they are worth." })
export class ValueSegment {
  @Field(() => RfmSegment)
  segment: RfmSegment;

  @Field(() => Int)
  customers: number;

  @Field(() => Float, { description: "The sum of their CLV (Customer.clv)." })
  clv: number;

  @Field(() => Float, { nullable: true, description: "Their average CLV; null when the segment is empty." })
  averageClv: number | null;

  @Field(() => SegmentGoal, { nullable: true, description: "The segment's goal, if one is set." })
  goal: SegmentGoal | null;
}

@ObjectType({ description: "The best customers: the top tenth of the program's buyers by CLV (docs/domain.md §3: know them, describe them)." })
export class BestCustomers {
  programId: string;
  asOf: Date;
  /** The policy the counts took CLV by, for `top` to take it the same way. */
  valuePolicy: ValuePolicy;
  /** clvThreshold as PostgreSQL gave it (numeric text), for `top` to compare exactly. */
  threshold: string | null;

  @Field(() => Int, { description: "How many: a tenth of the buyers (rounded up), and more when buyers tie with the last of them." })
  customers: number;

  @Field(() => Float, { nullable: true, description: "The CLV a buyer needs to be among them: that of the last of the first tenth; null without buyers." })
  clvThreshold: number | null;

  @Field(() => Float, { description: "The sum of their CLV." })
  clv: number;

  @Field(() => Float, { nullable: true, description: "Their share of all buyers' CLV, 0-1; null when the buyers' CLV is 0." })
  shareOfClv: number | null;
}

@ObjectType({ description: "The program's customers by value: RFM segments and the best customers, as of now." })
export class ValueSegments {
  @Field(() => ID)
  programId: string;

  @Field(() => Int, { description: "Customers with a purchase: those the segments and RFM scores are over." })
  buyers: number;

  @Field(() => Int, { description: "Customers without a purchase yet (no RFM scores, in no segment)." })
  nonBuyers: number;

  @Field(() => [ValueSegment], { description: "Every segment, in RfmSegment's order, empty ones included." })
  segments: ValueSegment[];

  @Field(() => BestCustomers)
  best: BestCustomers;
}

const cents = (n: unknown) => Math.round(Number(n ?? 0) * 100) / 100;

/**
 * In one statement (one snapshot): the buyers per segment, then one row of totals: the program's
 * customers, its buyers and their CLV, and the best customers: the first tenth of the buyers by
 * CLV (rounded up), and whoever ties with the last of them. $2: the time CLV is taken at; $3-$6:
 * the recency and frequency percentiles (quintileParams).
 */
const segmentsSql = (policy: ValuePolicy) => `
WITH b AS (
  SELECT ${clvSql("$2::timestamptz", policy)} AS clv,
         ${quintileSql(LAST_PURCHASE_MS, "$3::numeric[]", "$4::numeric[]")} AS r,
         ${quintileSql("c.purchase_count", "$5::numeric[]", "$6::numeric[]")} AS f
    FROM customers c WHERE ${IS_BUYER}
), ranked AS (
  SELECT clv, row_number() OVER (ORDER BY clv DESC) AS place, count(*) OVER () AS buyers FROM b
), edge AS (
  SELECT clv AS threshold FROM ranked WHERE place = ceil(buyers / 10.0)
)
SELECT ${rfmSegmentSql("r", "f")} AS segment, count(*)::int AS n, sum(clv) AS clv, NULL::numeric AS threshold, NULL::int AS best, NULL::numeric AS best_clv
  FROM b GROUP BY 1
UNION ALL
SELECT NULL, (SELECT count(*)::int FROM customers c WHERE c.program_id = $1), (SELECT sum(clv) FROM b), edge.threshold,
       (SELECT count(*)::int FROM b WHERE b.clv >= edge.threshold), (SELECT sum(b.clv) FROM b WHERE b.clv >= edge.threshold)
  FROM (SELECT 1) one LEFT JOIN edge ON true`;

/** The best customers, highest CLV first ($2: as of, $3: the threshold, $4: how many). */
const topSql = (policy: ValuePolicy) => `
SELECT c.* FROM customers c
 WHERE ${IS_BUYER} AND ${clvSql("$2::timestamptz", policy)} >= $3
 ORDER BY ${clvSql("$2::timestamptz", policy)} DESC, c.id LIMIT $4`;

/** Goal progress: the share of the way from the baseline to the target the count has come. */
function goalFrom(row: any, count: number, now: Date): SegmentGoal {
  const span = row.target - row.baseline;
  const reached = span >= 0 ? count >= row.target : count <= row.target;
  return {
    reached,
    overdue: !reached && new Date(row.due_at) < now,
    target: row.target,
    dueAt: row.due_at,
    baseline: row.baseline,
    setAt: row.set_at,
    note: row.note,
    progress: span === 0 ? null : Math.round(((count - row.baseline) / span) * 1000) / 1000,
  };
}

/** The program's segments, goals and best customers, as of the request's clock. */
async function valueSegmentsOf(ctx: RequestContext, id: string): Promise<ValueSegments> {
  // The percentiles each customer's rfm reads, so the segments count what the customers show.
  const breakpoints = await ctx.app.valueBreakpoints.get(id, ctx.sql);
  const { valuePolicy } = await ctx.app.programs.config(id);
  const [rows, goals] = await Promise.all([
    ctx.sql.query(segmentsSql(valuePolicy), [id, ctx.now, ...quintileParams(breakpoints.recency), ...quintileParams(breakpoints.frequency)]),
    ctx.sql.query(`SELECT * FROM segment_goals WHERE program_id = $1`, [id]),
  ]);
  const perSegment = rows.filter((r) => r.segment !== null);
  const totals = rows.find((r) => r.segment === null)!;
  const bySegment = new Map(perSegment.map((r) => [r.segment, r]));
  const goalOf = new Map(goals.map((g) => [g.segment, g]));
  const buyers = perSegment.reduce((sum, r) => sum + r.n, 0);
  const buyersClv = cents(totals.clv);
  const bestClv = cents(totals.best_clv);
  return {
    programId: id,
    buyers,
    nonBuyers: totals.n - buyers,
    segments: RFM_SEGMENTS.map((segment) => {
      const row = bySegment.get(segment);
      const customers = row?.n ?? 0;
      const goal = goalOf.get(segment);
      return {
        segment,
        customers,
        clv: cents(row?.clv),
        averageClv: row ? cents(Number(row.clv) / row.n) : null,
        goal: goal ? goalFrom(goal, customers, ctx.now) : null,
      };
    }),
    best: {
      programId: id,
      asOf: ctx.now,
      valuePolicy,
      customers: totals.best ?? 0,
      clvThreshold: totals.threshold === null ? null : Number(totals.threshold),
      threshold: totals.threshold,
      clv: bestClv,
      shareOfClv: buyersClv > 0 ? Math.round((bestClv / buyersClv) * 1000) / 1000 : null,
    },
  };
}

@Resolver(() => BestCustomers)
export class SegmentsResolver {
  @Query(() => ValueSegments, { description: "The program's buyers per RFM segment with their CLV and goals, and its best customers (ADMIN)." })
  async valueSegments(@Ctx() ctx: RequestContext, @Arg("programId", () => ID) programId: string): Promise<ValueSegments> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.config(id);
    return valueSegmentsOf(ctx, id);
  }

  @Mutation(() => ValueSegment, {
    description:
      "Sets the goal of an RFM segment (ADMIN): its baseline is the segment's count now. Set again, the target, date and note change and the baseline stays (clearSegmentGoal first to start over). Segments are quintiles among the buyers, read with percentiles up to 5 minutes old.",
  })
  async setSegmentGoal(@Arg("input") input: SegmentGoalInput, @Ctx() ctx: RequestContext): Promise<ValueSegment> {
    const id = uuidArg(input.programId, "programId");
    await ctx.app.programs.config(id);
    if (!(input.dueAt > ctx.now)) throw new BadInput("dueAt", "dueAt must be in the future");
    if (input.dueAt.getTime() > ctx.now.getTime() + 10 * 365 * 86_400_000) throw new BadInput("dueAt", "dueAt is at most 10 years ahead");
    const segment = (await valueSegmentsOf(ctx, id)).segments.find((s) => s.segment === input.segment)!;
    // A goal set again keeps its baseline and start: progress is still measured from where it began.
    const [row] = await ctx.sql.query(
      `INSERT INTO segment_goals (program_id, segment, target, baseline, due_at, note, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (program_id, segment) DO UPDATE SET target = EXCLUDED.target, due_at = EXCLUDED.due_at, note = EXCLUDED.note
       RETURNING *`,
      [id, input.segment, input.target, segment.customers, input.dueAt, input.note ?? null, ctx.now],
    );
    return { ...segment, goal: goalFrom(row, segment.customers, ctx.now) };
  }

  @Mutation(() => Boolean, { description: "Removes the goal of an RFM segment (ADMIN); false when it had none." })
  async clearSegmentGoal(
    @Arg("programId", () => ID) programId: string,
    @Arg("segment", () => RfmSegment) segment: RfmSegment,
    @Ctx() ctx: RequestContext,
  ): Promise<boolean> {
    const id = uuidArg(programId, "programId");
    const rows = await ctx.sql.query(`DELETE FROM segment_goals WHERE program_id = $1 AND segment = $2 RETURNING segment`, [id, segment]);
    return rows.length > 0;
  }

  @FieldResolver(() => [Customer], {
    description: "The best customers themselves, highest CLV first (read when asked: under concurrent writes, as of a moment after the counts).",
  })
  async top(@Root() best: BestCustomers, @Ctx() ctx: RequestContext, @Arg("first", () => Int, { defaultValue: 10 }) first: number): Promise<Customer[]> {
    if (first < 1 || first > 100) throw new BadInput("first", "first must be between 1 and 100");
    if (best.threshold === null) return [];
    const rows = await ctx.sql.query(topSql(best.valuePolicy), [best.programId, best.asOf, best.threshold, first]);
    return rows.map(customerFromRow);
  }
}
