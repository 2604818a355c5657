/**
 * A customer's value and loyalty scores: RFM, CLV, lifecycle phase and two-dimensional loyalty. Internal figures
 * (a member should not read that they are "MERCENARY"): ADMIN and PARTNER keys only, not customer tokens (policies.ts).
 * A page of customers costs, for them, the program's cached breakpoints, one read of the latest
 * survey responses, and one count of recent redemptions (only for those whose quadrant depends on it).
 */
import { Ctx, FieldResolver, Float, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { customerKey } from "../../api/loaders";
import { clvOf, LoyaltyQuadrant, loyaltyOf, RfmScores, rfmOf } from "../../domain/value/customer-value";
import { Customer } from "./customer.types";
import { CLV_DESCRIPTION, Loyalty, Rfm } from "./value.types";
import { lifecycleOf } from "../../domain/value/lifecycle";
import { CustomerLifecycle, customerLifecycleOf } from "./lifecycle.types";

@Resolver(() => Customer)
export class CustomerValueResolver {
  @FieldResolver(() => Rfm, {
    nullable: true,
    description: "Recency, frequency and monetary scores among the program's buyers; null before the first purchase. ADMIN and PARTNER only.",
  })
  async rfm(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<Rfm | null> {
    return this.rfmOf(customer, ctx);
  }

  @FieldResolver(() => Float, { description: `${CLV_DESCRIPTION} ADMIN and PARTNER only.` })
  async clv(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<number> {
    return clvOf(customer.row, ctx.now, (await ctx.app.programs.config(customer.programId)).valuePolicy);
  }

  @FieldResolver(() => CustomerLifecycle, {
    description: "Where the customer is in their lifecycle, from their purchases and the clock. ADMIN and PARTNER only.",
  })
  async lifecycle(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<CustomerLifecycle> {
    return customerLifecycleOf(lifecycleOf(customer.row, ctx.now, (await ctx.app.programs.config(customer.programId)).valuePolicy));
  }

  @FieldResolver(() => Loyalty, { description: "Behavioural and attitudinal loyalty, and the quadrant they place the customer in. ADMIN and PARTNER only." })
  async loyalty(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<Loyalty> {
    const key = customerKey(customer.programId, customer.id);
    const [rfm, surveyAttitude] = await Promise.all([this.rfmOf(customer, ctx), ctx.loaders.surveyAttitude.load(key)]);
    const scores = loyaltyOf(customer.row, rfm, 0, surveyAttitude);
    // Only a customer who buys much and says little needs their redemptions (MERCENARY or INERTIA).
    if (scores.quadrant !== LoyaltyQuadrant.INERTIA) return scores;
    return loyaltyOf(customer.row, rfm, await ctx.loaders.redemptionsLastYear.load(key), surveyAttitude);
  }

  private async rfmOf(customer: Customer, ctx: RequestContext): Promise<RfmScores | null> {
    if (customer.row.purchase_count <= 0) return null;
    return rfmOf(customer.row, await ctx.app.valueBreakpoints.get(customer.programId, ctx.sql), ctx.now);
  }
}
