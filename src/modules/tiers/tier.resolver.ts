import { Arg, Ctx, Field, FieldResolver, ID, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { customerKey } from "../../api/loaders";
import { Customer, customerFromRow } from "../customer/customer.types";
import { Program } from "../program/program.types";
import { windowAt } from "../../domain/points/tiers";
import { applyTierChanges, reviewTiers } from "./tier.service";
import { CustomerTier, Tier, TierPolicyType, TiersInput } from "./tier.types";
import { replaceTiers } from "./tier.write";

@ObjectType({ description: "What a tier review did." })
export class TierReviewReport {
  @Field(() => Int)
  reviewed: number;

  @Field(() => Int, { description: "Customers whose tier changed (downgrades)." })
  changed: number;
}

@Resolver(() => Program)
export class ProgramTiersResolver {
  @FieldResolver(() => [Tier], { description: "Tiers, lowest first." })
  async tiers(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<Tier[]> {
    return (await ctx.app.programs.config(program.id)).tiers;
  }

  @FieldResolver(() => TierPolicyType)
  async tierPolicy(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<TierPolicyType> {
    return (await ctx.app.programs.config(program.id)).tierPolicy;
  }
}

@Resolver(() => Customer)
export class CustomerTierResolver {
  @FieldResolver(() => CustomerTier, { description: "The customer's tier, why, and what the next one takes." })
  async tier(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<CustomerTier> {
    const config = await ctx.app.programs.config(customer.programId);
    const r = customer.row as any;
    const tier = config.tiers.find((t) => t.key === r.tier_key) ?? null;
    const have = config.tiers.length
      ? await ctx.loaders.tierValue.load(`${customerKey(customer.programId, customer.id)}:${new Date(r.created_at).toISOString()}`)
      : 0;
    const next = config.tiers.find((t) => t.rank > (tier?.rank ?? -1)) ?? null;
    const window = windowAt(config.tierPolicy, ctx.now, new Date(r.created_at), config.program.timeZone);
    return {
      tier,
      since: r.tier_since ? new Date(r.tier_since) : null,
      reviewAt: r.tier_review_at ? new Date(r.tier_review_at) : null,
      manualUntil: r.tier_manual_until ? new Date(r.tier_manual_until) : null,
      reason: r.tier_reason ?? null,
      progress: {
        have,
        next,
        need: next ? Math.max(0, Math.round((next.threshold - have) * 100) / 100) : null,
        by: config.tierPolicy.window === "ROLLING_DAYS" ? null : window.end,
      },
    };
  }
}

@Resolver()
export class TierResolver {
  @Mutation(() => Program, { description: "Replaces a program's tiers and how they are earned (ADMIN). Customers on a tier that no longer exists lose it." })
  async setTiers(
    @Arg("programId", () => ID) programId: string,
    @Arg("tiers", () => TiersInput) tiers: TiersInput,
    @Ctx() ctx: RequestContext,
  ): Promise<Program> {
    const id = uuidArg(programId, "programId");
    await ctx.app.programs.config(id);
    await ctx.app.db.transaction((tx) => replaceTiers(tx, id, tiers, ""));
    ctx.app.programChanged(id);
    return (await ctx.app.programs.config(id)).program;
  }

  @Mutation(() => Customer, {
    description:
      "Sets a customer's tier by hand until a date, with a reason (ADMIN). It is no floor: qualifying higher upgrades, and after the date the tier is reviewed like any other.",
  })
  async setCustomerTier(
    @Arg("customerId", () => ID) customerId: string,
    @Arg("tier", () => String, { nullable: true, description: "A tier key, or null for none." }) tierKey: string | null,
    @Arg("until", () => Date, { description: "When the manual tier ends and normal review resumes." }) until: Date,
    @Arg("reason") reason: string,
    @Ctx() ctx: RequestContext,
  ): Promise<Customer> {
    const customer = await ctx.app.customers.byId(ctx, uuidArg(customerId, "customerId"));
    if (!customer) throw new NotFound("Customer", "customerId");
    const config = await ctx.app.programs.config(customer.programId);
    if (tierKey !== null && !config.tiers.some((t) => t.key === tierKey)) throw new BadInput("tier", `the program has no tier "${tierKey}"`);
    if (!(until instanceof Date) || Number.isNaN(until.getTime()) || until <= ctx.now) throw new BadInput("until", "until must be in the future");
    if (until.getTime() > ctx.now.getTime() + 100 * 365 * 86_400_000) throw new BadInput("until", "until is at most 100 years ahead");
    if (reason.trim().length < 3 || reason.length > 500) throw new BadInput("reason", "a reason of 3 to 500 characters is required");
    const now = ctx.app.clock();
    const graceMs = config.tierPolicy.graceDays * 86_400_000;
    const events = await ctx.app.db.transaction(async (tx) => {
      const [row] = await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE`, [customer.programId, customer.id]);
      if (row.erased_at) throw new NotFound("Customer", "customerId");
      return applyTierChanges(
        tx,
        config,
        [
          {
            customer_id: customer.id,
            from_key: row.tier_key,
            to_key: tierKey,
            review_at: tierKey ? new Date(until.getTime() + graceMs).toISOString() : null,
            manual_until: until.toISOString(),
            changed: row.tier_key !== tierKey,
            cause: "MANUAL",
            reason: { summary: reason, manualUntil: until.toISOString(), by: ctx.actor.kind },
          },
        ],
        now,
      );
    });
    ctx.app.outbox.publishCommitted(events);
    const [row] = await ctx.app.db.query(`SELECT * FROM customers WHERE program_id = $1 AND id = $2`, [customer.programId, customer.id]);
    return customerFromRow(row);
  }

  @Mutation(() => TierReviewReport, { description: "Reviews tiers whose window (plus grace) ended, as of now (ADMIN). The scheduled job does the same." })
  async runTierReview(@Arg("programId", () => ID) programId: string, @Ctx() ctx: RequestContext): Promise<TierReviewReport> {
    const id = uuidArg(programId, "programId");
    const config = await ctx.app.programs.config(id);
    return reviewTiers(ctx.app.db, config, ctx.app.clock(), (e) => ctx.app.outbox.publishCommitted(e));
  }
}
