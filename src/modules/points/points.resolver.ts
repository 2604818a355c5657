import { IsInt, IsOptional, Length, Max, Min } from "class-validator";
import { Arg, Ctx, createUnionType, Field, Float, ID, InputType, Int, Mutation, ObjectType, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { InsufficientPoints } from "../rewards/reward.types";
import { runPointsLifecycle } from "./lifecycle";

@InputType({ description: "A manual correction of a customer's points. The reason is required and kept in the ledger." })
export class AdjustPointsInput {
  @Field(() => ID)
  programId: string;

  @Field(() => ID)
  customerId: string;

  @Field(() => Float, { description: "Points to add (positive) or take (negative); a whole number, not 0." })
  @IsInt()
  @Min(-1e12)
  @Max(1e12)
  points: number;

  @Field()
  @Length(3, 500)
  reason: string;

  @Field({ description: "Makes a retry safe." })
  @Length(1, 200)
  idempotencyKey: string;
}

@InputType({ description: "Move points from one customer to another of the same program." })
export class TransferPointsInput {
  @Field(() => ID)
  programId: string;

  @Field(() => ID)
  fromCustomerId: string;

  @Field(() => ID)
  toCustomerId: string;

  @Field(() => Float, { description: "A whole number, at least 1." })
  @IsInt()
  @Min(1)
  @Max(1e12)
  points: number;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 500)
  reason?: string | null;

  @Field()
  @Length(1, 200)
  idempotencyKey: string;
}

@ObjectType()
export class PointsAdjustment {
  @Field(() => ID)
  customerId: string;

  @Field(() => Float, { description: "Points posted (negative when taken)." })
  points: number;

  @Field(() => Float, { description: "Points that could not be taken (overdraft policy CLAMP_AT_ZERO)." })
  shortfall: number;

  @Field(() => Float)
  balance: number;

  @Field()
  replayed: boolean;
}

@ObjectType()
export class PointsTransfer {
  @Field(() => ID)
  fromCustomerId: string;

  @Field(() => ID)
  toCustomerId: string;

  @Field(() => Float)
  points: number;

  @Field(() => Float)
  fromBalance: number;

  @Field(() => Float)
  toBalance: number;

  @Field()
  replayed: boolean;
}

export const TransferPointsResult = createUnionType({
  name: "TransferPointsResult",
  types: () => [PointsTransfer, InsufficientPoints] as const,
});

@ObjectType({ description: "What a points lifecycle run did." })
export class PointsLifecycleReport {
  @Field(() => Int, { description: "Pending lots that became spendable." })
  activated: number;

  @Field(() => Int, { description: "Lots whose remaining points expired." })
  expired: number;

  @Field(() => Int)
  couponsExpired: number;
}

@Resolver()
export class PointsResolver {
  @Mutation(() => PointsAdjustment, { description: "Adds or takes points by hand, with a reason (ADMIN). idempotencyKey makes a retry safe." })
  async adjustPoints(@Arg("input") input: AdjustPointsInput, @Ctx() ctx: RequestContext): Promise<PointsAdjustment> {
    const programId = uuidArg(input.programId, "programId");
    if (input.points === 0) throw new BadInput("points", "an adjustment moves at least one point");
    if (!input.reason.trim()) throw new BadInput("reason", "a reason is required");
    const result = await ctx.app.points.adjust(ctx, programId, { ...input, customerId: uuidArg(input.customerId, "customerId") });
    return Object.assign(new PointsAdjustment(), result);
  }

  @Mutation(() => TransferPointsResult, {
    description: "Moves points between two customers of a program (ADMIN, PARTNER, or the giving customer's token). idempotencyKey makes a retry safe.",
  })
  async transferPoints(@Arg("input") input: TransferPointsInput, @Ctx() ctx: RequestContext): Promise<typeof TransferPointsResult> {
    const programId = uuidArg(input.programId, "programId");
    const fromCustomerId = uuidArg(input.fromCustomerId, "fromCustomerId");
    const toCustomerId = uuidArg(input.toCustomerId, "toCustomerId");
    if (fromCustomerId === toCustomerId) throw new BadInput("toCustomerId", "a transfer goes to another customer");
    const result = await ctx.app.points.transfer(ctx, programId, { ...input, fromCustomerId, toCustomerId });
    if (result.kind === "insufficient") return Object.assign(new InsufficientPoints(), { balance: result.fromBalance, required: result.points });
    const { kind: _kind, ...transfer } = result;
    return Object.assign(new PointsTransfer(), transfer);
  }

  @Mutation(() => PointsLifecycleReport, {
    description: "Activates pending points whose window ended, expires points and coupons, as of now (ADMIN). The scheduled job does the same.",
  })
  async runPointsLifecycle(@Arg("programId", () => ID) programId: string, @Ctx() ctx: RequestContext): Promise<PointsLifecycleReport> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.config(id);
    return runPointsLifecycle(ctx.app, id);
  }
}
