/**
 * A program's value policy (ValuePolicy in domain/value/customer-value.ts): when a customer counts
 * as gone, how far CLV looks ahead, when a one-time buyer declines. One business's customers come
 * back weekly, another's every few years: CLV, the lifecycle phases, the best customers and the
 * funnel's CLV all read it.
 */
import { IsInt, Max, Min } from "class-validator";
import { Arg, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { DEFAULT_VALUE_POLICY } from "../../domain/value/customer-value";
import { LAST_CALL_DAYS } from "../../domain/value/lifecycle";
import { Program } from "./program.types";

const ACTIVE = `A customer with no purchase for this many days is gone: CLV counts no future spending for them and their lifecycle phase is CHURNED (${DEFAULT_VALUE_POLICY.activeDays} by default).`;
const HORIZON = `CLV counts this many more years of spending for a customer still active (${DEFAULT_VALUE_POLICY.horizonYears} by default).`;
const FIRST_REPEAT = `A one-time buyer (or one whose purchases span less than 30 days) who has not come back within this many days is in DECLINE (${DEFAULT_VALUE_POLICY.firstRepeatDays} by default).`;

@ObjectType({ description: "How a program reads its customers' value over time." })
export class ValuePolicyType {
  @Field(() => Int, { description: ACTIVE })
  activeDays: number;

  @Field(() => Int, { description: HORIZON })
  horizonYears: number;

  @Field(() => Int, { description: FIRST_REPEAT })
  firstRepeatDays: number;
}

@InputType({ description: "How a program reads its customers' value over time: a grocer's customers are gone after months, a car dealer's after years." })
export class ValuePolicyInput {
  @Field(() => Int, { description: `${ACTIVE} 180 to 3650.` })
  @IsInt()
  @Min(180)
  @Max(3650)
  activeDays: number;

  @Field(() => Int, { description: `${HORIZON} 1 to 10.` })
  @IsInt()
  @Min(1)
  @Max(10)
  horizonYears: number;

  @Field(() => Int, { description: `${FIRST_REPEAT} From 7 to activeDays - ${LAST_CALL_DAYS}.` })
  @IsInt()
  @Min(7)
  @Max(3560)
  firstRepeatDays: number;
}

@Resolver(() => Program)
export class ValuePolicyResolver {
  @FieldResolver(() => ValuePolicyType, { description: "How the program reads its customers' value over time (CLV, lifecycle)." })
  async valuePolicy(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<ValuePolicyType> {
    return (await ctx.app.programs.config(program.id)).valuePolicy;
  }

  @Mutation(() => Program, {
    description:
      "Sets how a program reads its customers' value over time (ADMIN): CLV, lifecycle phases, best customers and the funnel's CLV follow at once (they are computed when read; RFM scores do not depend on it).",
  })
  async setValuePolicy(
    @Arg("programId", () => ID) programId: string,
    @Arg("policy", () => ValuePolicyInput) policy: ValuePolicyInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Program> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.config(id);
    // Every buyer gets a last call before churning: a one-time buyer must decline before they are gone.
    if (policy.firstRepeatDays > policy.activeDays - LAST_CALL_DAYS)
      throw new BadInput("policy.firstRepeatDays", `firstRepeatDays is at most activeDays - ${LAST_CALL_DAYS}`);
    await ctx.app.db.query(
      `UPDATE programs SET value_active_days = $2, value_horizon_years = $3, value_first_repeat_days = $4, updated_at = now() WHERE id = $1`,
      [id, policy.activeDays, policy.horizonYears, policy.firstRepeatDays],
    );
    ctx.app.programChanged(id);
    return (await ctx.app.programs.config(id)).program;
  }
}
