import { Arg, Ctx, Field, FieldResolver, ID, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { uuidArg } from "../../api/ids";
import { boundProgram } from "../auth/actor";
import { CreateProgramInput, EarningRuleInput, LadderInput, PointsPolicyInput } from "./program.inputs";
import { ladderFromInput } from "./program.service";
import { orderRules } from "./earning";
import { CapPeriodEnum, EarningRuleType, PointsPolicyType, Program, Stage } from "./program.types";

@ObjectType({ description: "What a recompute did." })
export class RecomputeResult {
  @Field(() => ID)
  programId: string;

  @Field(() => Int, { description: "Customers evaluated." })
  evaluated: number;

  @Field(() => Int, { description: "Customers moved to another stage." })
  changed: number;

  @Field(() => Int, { description: "Customers still being written after several re-reads: the next recompute places them." })
  skipped: number;

  @Field(() => Int, { description: "Customers whose lifecycle phase changed since the last recompute (a LifecycleChangedEvent each)." })
  lifecycleChanged: number;
}

@Resolver(() => Program)
export class ProgramResolver {
  @Query(() => [Program], { description: "The programs this credential can see." })
  async programs(@Ctx() ctx: RequestContext): Promise<Program[]> {
    const bound = boundProgram(ctx.actor);
    return ctx.app.programs.list(bound ? [bound] : undefined); // the root key sees them all
  }

  @Query(() => Program, { nullable: true })
  async program(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Program | null> {
    const programId = uuidArg(id, "id");
    return (await ctx.app.programs.cache.get(programId))?.program ?? null;
  }

  @Mutation(() => Program, { description: "Creates a program with a ladder (a preset or explicit stages) and earning rules. Needs LOYALTY_ADMIN_KEY." })
  async createProgram(@Arg("input") input: CreateProgramInput, @Ctx() ctx: RequestContext): Promise<Program> {
    return ctx.app.programs.create(ctx, input);
  }

  @Mutation(() => Program, { description: "Replaces a program's ladder and re-evaluates every customer on it (ADMIN)." })
  async updateLadder(
    @Arg("programId", () => ID) programId: string,
    @Arg("ladder", () => LadderInput) ladder: LadderInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Program> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.config(id);
    const { ladder: parsed, preset } = ladderFromInput(ladder);
    await ctx.app.programs.updateLadder(id, parsed, preset);
    ctx.app.programChanged(id);
    const config = await ctx.app.programs.config(id);
    const report = await ctx.app.stages.recompute(config, "LADDER_UPDATE");
    ctx.log.info({ programId: id, ...report }, "ladder updated");
    return config.program;
  }

  @Mutation(() => RecomputeResult, { description: "Re-evaluates every customer's stage as of now: lapse and windows move customers as time passes (ADMIN)." })
  async recomputeStages(@Arg("programId", () => ID) programId: string, @Ctx() ctx: RequestContext): Promise<RecomputeResult> {
    const id = uuidArg(programId, "programId");
    const config = await ctx.app.programs.config(id);
    const report = await ctx.app.stages.recompute(config, "RECOMPUTE");
    return { programId: id, ...report };
  }

  @FieldResolver(() => [Stage], { description: "The ladder, bottom first (side stages where they were defined)." })
  async stages(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<Stage[]> {
    return (await ctx.app.programs.config(program.id)).stages;
  }

  @FieldResolver(() => [EarningRuleType], { description: "Earning rules in the order they apply." })
  async earningRules(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<EarningRuleType[]> {
    const config = await ctx.app.programs.config(program.id);
    return orderRules(config.rules).map((r) => ({ ...r, stopFurtherRules: !!r.stopFurtherRules, capPeriod: (r.capPeriod ?? null) as CapPeriodEnum | null }));
  }

  @FieldResolver(() => PointsPolicyType, { description: "Pending window, expiry and overdraft policy." })
  async pointsPolicy(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<PointsPolicyType> {
    return (await ctx.app.programs.config(program.id)).points;
  }

  @Mutation(() => Program, { description: "Replaces a program's earning rules (ADMIN). Touchpoints recorded from now on use them." })
  async setEarningRules(
    @Arg("programId", () => ID) programId: string,
    @Arg("rules", () => [EarningRuleInput]) rules: EarningRuleInput[],
    @Ctx() ctx: RequestContext,
  ): Promise<Program> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.setEarningRules(id, rules);
    ctx.app.programChanged(id);
    return (await ctx.app.programs.config(id)).program;
  }

  @Mutation(() => Program, {
    description: "Sets how a program's points live: pending window, expiry, overdraft (ADMIN). Applies to points earned from now on.",
  })
  async setPointsPolicy(
    @Arg("programId", () => ID) programId: string,
    @Arg("points", () => PointsPolicyInput) points: PointsPolicyInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Program> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.setPointsPolicy(id, points);
    ctx.app.programChanged(id);
    return (await ctx.app.programs.config(id)).program;
  }
}
