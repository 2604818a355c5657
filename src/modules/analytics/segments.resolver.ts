/**
 * Who the best customers are (domain.md §3): the program's buyers per RFM segment with what they
 * are worth, and the top tenth by CLV. Set-based over the program's customers, with the same rules
 * and the same cached percentiles as each customer's own `rfm` and `clv` (value.sql.ts).
 */
import { Arg, Ctx, Field, Float, FieldResolver, ID, Int, ObjectType, Query, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { uuidArg } from "../../api/ids";
import { BadInput } from "../../api/errors";
import { RfmSegment } from "../../domain/value/customer-value";
import { Role, requireRole } from "../auth/actor";
import { Customer, customerFromRow } from "../customer/customer.types";
import { clvSql, IS_BUYER, LAST_PURCHASE_MS, quintileParams, quintileSql, RFM_SEGMENTS, rfmSegmentSql } from "../customer/value.sql";


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
}

@ObjectType({ description: "The best customers: the top tenth of the program's buyers by CLV (domain.md §3: know them, describe them)." })
export class BestCustomers {
  programId: string;
  asOf: Date;
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
const SEGMENTS = `
WITH b AS (
  SELECT ${clvSql("$2::timestamptz")} AS clv,
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
const TOP = `
SELECT c.* FROM customers c
 WHERE ${IS_BUYER} AND ${clvSql("$2::timestamptz")} >= $3
 ORDER BY ${clvSql("$2::timestamptz")} DESC, c.id LIMIT $4`;

@Resolver(() => BestCustomers)
export class SegmentsResolver {
  @Query(() => ValueSegments, { description: "The program's buyers per RFM segment with their CLV, and its best customers (ADMIN)." })
  async valueSegments(@Ctx() ctx: RequestContext, @Arg("programId", () => ID) programId: string): Promise<ValueSegments> {
    const id = uuidArg(programId, "programId");
    requireRole(ctx.actor, id, [Role.ADMIN]);
    await ctx.app.programs.config(id);
    // The percentiles each customer's rfm reads, so the segments count what the customers show.
    const breakpoints = await ctx.app.valueBreakpoints.get(id, ctx.sql);
    const rows = await ctx.sql.query(SEGMENTS, [id, ctx.now, ...quintileParams(breakpoints.recency), ...quintileParams(breakpoints.frequency)]);
    const perSegment = rows.filter((r) => r.segment !== null);
    const totals = rows.find((r) => r.segment === null)!;
    const bySegment = new Map(perSegment.map((r) => [r.segment, r]));
    const buyers = perSegment.reduce((sum, r) => sum + r.n, 0);
    const buyersClv = cents(totals.clv);
    const bestClv = cents(totals.best_clv);
    return {
      programId: id,
      buyers,
      nonBuyers: totals.n - buyers,
      segments: RFM_SEGMENTS.map((segment) => {
        const row = bySegment.get(segment);
        return { segment, customers: row?.n ?? 0, clv: cents(row?.clv), averageClv: row ? cents(Number(row.clv) / row.n) : null };
      }),
      best: {
        programId: id,
        asOf: ctx.now,
        customers: totals.best ?? 0,
        clvThreshold: totals.threshold === null ? null : Number(totals.threshold),
        threshold: totals.threshold,
        clv: bestClv,
        shareOfClv: buyersClv > 0 ? Math.round((bestClv / buyersClv) * 1000) / 1000 : null,
      },
    };
  }

  @FieldResolver(() => [Customer], { description: "The best customers themselves, highest CLV first (read when asked: under concurrent writes, as of a moment after the counts)." })
  async top(@Root() best: BestCustomers, @Ctx() ctx: RequestContext, @Arg("first", () => Int, { defaultValue: 10 }) first: number): Promise<Customer[]> {
    if (first < 1 || first > 100) throw new BadInput("first", "first must be between 1 and 100");
    if (best.threshold === null) return [];
    const rows = await ctx.sql.query(TOP, [best.programId, best.asOf, best.threshold, first]);
    return rows.map(customerFromRow);
  }
}
