import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { customerKey } from "../../api/loaders";
import { Customer } from "../customer/customer.types";
import { Program } from "../program/program.types";
import { CreateRewardInput, RedeemRewardInput } from "./reward.inputs";
import { GRANT_KEY_PREFIX } from "./reward.service";
import { CouponResult, RedeemRewardResult, Redemption, redemptionFromRow, Reward, rewardFromRow } from "./reward.types";

@Resolver()
export class RewardResolver {
  /** The reward the policy let the credential use (gone since, it is NOT_FOUND). */
  private async rewardFor(ctx: RequestContext, rewardId: string): Promise<Reward> {
    const reward = await ctx.app.rewards.find(ctx, uuidArg(rewardId, "rewardId"));
    if (!reward) throw new NotFound("Reward", "rewardId");
    return reward;
  }

  @Query(() => Reward, { nullable: true })
  async reward(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Reward | null> {
    return this.rewardFor(ctx, id);
  }

  @Mutation(() => Reward, { description: "Adds a reward to a program's catalog (ADMIN)." })
  async createReward(@Arg("input") input: CreateRewardInput, @Ctx() ctx: RequestContext): Promise<Reward> {
    const programId = uuidArg(input.programId, "programId");
    return ctx.app.rewards.create(ctx, programId, input);
  }

  @Mutation(() => Reward, {
    description:
      "Offers a reward again, or stops offering it (ADMIN): an inactive reward is refused to redeemReward (RewardUnavailable INACTIVE) and triggers do not issue it; coupons already issued stay valid.",
  })
  async setRewardActive(@Arg("rewardId", () => ID) rewardId: string, @Arg("active") active: boolean, @Ctx() ctx: RequestContext): Promise<Reward> {
    const reward = await this.rewardFor(ctx, rewardId);
    const [row] = await ctx.sql.query(`UPDATE rewards SET active = $3 WHERE program_id = $1 AND id = $2 RETURNING *`, [reward.programId, reward.id, active]);
    return rewardFromRow(row);
  }

  @Mutation(() => Int, { description: "Uploads coupon codes for a POOL reward (ADMIN). Returns how many were new; duplicates are skipped." })
  async addRewardCoupons(
    @Arg("rewardId", () => ID) rewardId: string,
    @Arg("codes", () => [String]) codes: string[],
    @Ctx() ctx: RequestContext,
  ): Promise<number> {
    const reward = await this.rewardFor(ctx, rewardId);
    if (codes.length === 0 || codes.length > 10_000) throw new BadInput("codes", "give 1 to 10,000 codes");
    const bad = codes.findIndex((c) => !/^[A-Za-z0-9-]{4,64}$/.test(c));
    if (bad >= 0) throw new BadInput(`codes[${bad}]`, "a code is 4-64 letters, digits or dashes");
    return ctx.app.rewards.addCoupons(ctx, reward, codes);
  }

  @Mutation(() => RedeemRewardResult, {
    description: "Spends a customer's points on a reward and issues its coupon (ADMIN, PARTNER, or the customer's token). idempotencyKey makes a retry safe.",
  })
  async redeemReward(@Arg("input") input: RedeemRewardInput, @Ctx() ctx: RequestContext): Promise<RedeemRewardResult> {
    const reward = await this.rewardFor(ctx, input.rewardId);
    const customerId = uuidArg(input.customerId, "customerId");
    if (input.idempotencyKey.startsWith(GRANT_KEY_PREFIX))
      throw new BadInput("idempotencyKey", `keys starting with "${GRANT_KEY_PREFIX}" are reserved for rewards the program gives`);
    return ctx.app.rewards.redeem(ctx, reward, { ...input, customerId });
  }

  @Mutation(() => CouponResult, { description: "Marks a coupon used, at the till (ADMIN, PARTNER)." })
  async useCoupon(@Arg("programId", () => ID) programId: string, @Arg("code") code: string, @Ctx() ctx: RequestContext): Promise<CouponResult> {
    const id = uuidArg(programId, "programId");
    const redemption = await ctx.app.rewards.findRedemption(ctx, { programId: id, code });
    if (!redemption) throw new NotFound("Coupon", "code");
    return ctx.app.rewards.use(ctx, redemption);
  }

  @Mutation(() => CouponResult, { description: "Cancels an issued redemption: points back to the customer, the unit back to stock (ADMIN, PARTNER)." })
  async cancelRedemption(
    @Arg("id", () => ID) id: string,
    @Arg("reason", () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: RequestContext,
  ): Promise<CouponResult> {
    const redemption = await ctx.app.rewards.findRedemption(ctx, { id: uuidArg(id, "id") });
    if (!redemption) throw new NotFound("Redemption", "id");
    if (reason && reason.length > 500) throw new BadInput("reason", "reason is at most 500 characters");
    return ctx.app.rewards.cancel(ctx, redemption, reason);
  }
}

@Resolver(() => Program)
export class ProgramRewardsResolver {
  @FieldResolver(() => [Reward], { description: "The rewards catalog." })
  async rewards(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<Reward[]> {
    return ctx.app.rewards.list(ctx, program.id);
  }
}

@Resolver(() => Customer)
export class CustomerRedemptionsResolver {
  @FieldResolver(() => [Redemption], { description: "The customer's redemptions, newest first." })
  async redemptions(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<Redemption[]> {
    return (await ctx.loaders.redemptions.load(customerKey(customer.programId, customer.id))).map((r) => redemptionFromRow(r));
  }
}
