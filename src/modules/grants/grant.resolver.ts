/**
 * Referrals and triggered rewards. recordReferral links a new customer to the one who brought
 * them (idempotent by referralId), owes the SIGNUP referral rules' points, records the referrer's
 * REFERRAL touchpoint (its ladder counts it), and gives what is owed before answering.
 */
import { IsIn, IsInt, IsOptional, Length, Max, Min } from "class-validator";
import { IsPartnerCustomerId } from "../../api/validation";
import { Arg, Ctx, Field, FieldResolver, Float, ID, InputType, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { customerKey } from "../../api/loaders";
import { Customer, customerFromRow } from "../customer/customer.types";
import { Program } from "../program/program.types";
import { TouchpointType } from "../program/earning";
import { recordReferral } from "./referral.service";
import { setConfigRowActive } from "../program/config-switch";
import { lockProgramConfig } from "../program/config-lock";

@InputType()
export class RecordReferralInput {
  @Field(() => ID)
  programId: string;

  @Field(() => ID, { nullable: true, description: "Who referred (our id); or referrerExternalId." })
  @IsOptional()
  referrerId?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsPartnerCustomerId()
  referrerExternalId?: string | null;

  @Field({ description: "The new customer (the partner's id); created when unknown." })
  @IsPartnerCustomerId()
  refereeExternalId: string;

  @Field({ description: "The referral's id: the idempotency key." })
  @Length(1, 200)
  referralId: string;
}

@ObjectType({ description: "Points or a reward a customer was owed, and whether it was given." })
export class Grant {
  @Field()
  key: string;

  @Field(() => ID)
  customerId: string;

  @Field({ description: "POINTS or REWARD." })
  kind: string;

  @Field(() => Float, { nullable: true })
  points: number | null;

  @Field(() => ID, { nullable: true })
  rewardId: string | null;

  @Field()
  reason: string;

  @Field(() => ID, { nullable: true, description: "The stage reward that owed it, for a reward given on entering a stage." })
  stageRewardId: string | null;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  grantedAt: Date | null;

  @Field(() => String, { nullable: true, description: "The coupon code, for a reward given." })
  code: string | null;
}

function grantFromRow(row: any): Grant {
  return Object.assign(new Grant(), {
    key: row.key,
    customerId: row.customer_id,
    kind: row.kind,
    points: row.points === null ? null : Number(row.points),
    rewardId: row.reward_id,
    reason: row.reason,
    stageRewardId: row.stage_reward_id ?? null,
    createdAt: new Date(row.created_at),
    grantedAt: row.granted_at ? new Date(row.granted_at) : null,
    code: row.result?.code ?? null,
  });
}

@ObjectType()
export class ReferralPayload {
  @Field(() => Customer)
  referrer: Customer;

  @Field(() => Customer)
  referee: Customer;

  @Field(() => [Grant], { description: "What the referral owed so far (signup now, first purchase later)." })
  grants: Grant[];

  @Field()
  replayed: boolean;
}

@InputType({ description: "Issue a reward when a customer shows a pattern, e.g. 10 PRODUCT_VIEWs in 24 hours and no purchase yet." })
export class CreateRewardTriggerInput {
  @Field(() => ID)
  programId: string;

  @Field()
  @Length(1, 200)
  name: string;

  @Field(() => ID, { description: "The reward issued (free: no points are taken)." })
  rewardId: string;

  @Field(() => TouchpointType)
  @IsIn(Object.values(TouchpointType))
  touchpointType: TouchpointType;

  @Field(() => Int, { description: "At least this many touchpoints of the type..." })
  @IsInt()
  @Min(1)
  @Max(100000)
  minCount: number;

  @Field(() => Int, { description: "...within this many hours. Issued at most once per customer per window." })
  @IsInt()
  @Min(1)
  @Max(87600)
  windowHours: number;

  @Field({ defaultValue: false, description: "Only for customers who never bought." })
  requireNoPurchase: boolean;
}

@ObjectType()
export class RewardTrigger {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => ID)
  rewardId: string;

  @Field(() => TouchpointType)
  touchpointType: TouchpointType;

  @Field(() => Int)
  minCount: number;

  @Field(() => Int)
  windowHours: number;

  @Field()
  requireNoPurchase: boolean;

  @Field()
  active: boolean;
}

function triggerFromRow(row: any): RewardTrigger {
  return Object.assign(new RewardTrigger(), {
    id: row.id,
    name: row.name,
    rewardId: row.reward_id,
    touchpointType: row.touchpoint_type,
    minCount: row.min_count,
    windowHours: row.window_hours,
    requireNoPurchase: row.require_no_purchase,
    active: row.active,
  });
}

@Resolver()
export class GrantResolver {
  @Mutation(() => ReferralPayload, { description: "Records that a customer brought a new one (ADMIN, PARTNER). referralId makes a retry safe." })
  async recordReferral(@Arg("input") input: RecordReferralInput, @Ctx() ctx: RequestContext): Promise<ReferralPayload> {
    const programId = uuidArg(input.programId, "programId");
    const config = await ctx.app.programs.config(programId);
    if (!!input.referrerId === !!input.referrerExternalId) throw new BadInput("referrerId", "give exactly one of referrerId and referrerExternalId");
    const link = await recordReferral(ctx, config, input);
    const customers = await ctx.app.db.query(`SELECT * FROM customers WHERE program_id = $1 AND id = ANY($2::uuid[])`, [
      programId,
      [link.referrerId, link.refereeId],
    ]);
    const grants = await ctx.app.db.query(`SELECT * FROM grants WHERE program_id = $1 AND starts_with(key, $2) ORDER BY created_at, key`, [
      programId,
      `referral:${link.refereeId}:`,
    ]);
    return {
      referrer: customerFromRow(customers.find((c) => c.id === link.referrerId)),
      referee: customerFromRow(customers.find((c) => c.id === link.refereeId)),
      grants: grants.map(grantFromRow),
      replayed: link.replayed,
    };
  }

  @Mutation(() => RewardTrigger, { description: "Issues a reward when customers show a touchpoint pattern (ADMIN). Evaluated as touchpoints arrive." })
  async createRewardTrigger(@Arg("input") input: CreateRewardTriggerInput, @Ctx() ctx: RequestContext): Promise<RewardTrigger> {
    const programId = uuidArg(input.programId, "programId");
    const rewardId = uuidArg(input.rewardId, "rewardId");
    const [reward] = await ctx.app.db.query(`SELECT id FROM rewards WHERE program_id = $1 AND id = $2`, [programId, rewardId]);
    if (!reward) throw new NotFound("Reward", "rewardId");
    const [row] = await ctx.app.db.transaction(async (tx) => {
      // A new configuration version (batches in flight are evaluated again with the trigger),
      // taken first: one configuration change of the program at a time.
      await lockProgramConfig(tx, programId);
      const rows = await tx.query(
        `INSERT INTO reward_triggers (program_id, name, reward_id, touchpoint_type, min_count, window_hours, require_no_purchase)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [programId, input.name, rewardId, input.touchpointType, input.minCount, input.windowHours, input.requireNoPurchase],
      );
      return rows;
    });
    ctx.app.programChanged(programId);
    return triggerFromRow(row);
  }

  @Mutation(() => RewardTrigger, { description: "Turns a reward trigger on or off (ADMIN); records from now on see the change." })
  async setRewardTriggerActive(
    @Arg("triggerId", () => ID) triggerId: string,
    @Arg("active") active: boolean,
    @Ctx() ctx: RequestContext,
  ): Promise<RewardTrigger> {
    return triggerFromRow(await setConfigRowActive(ctx, "reward_triggers", triggerId, active));
  }
}

@Resolver(() => Program)
export class ProgramTriggersResolver {
  @FieldResolver(() => [RewardTrigger])
  async rewardTriggers(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<RewardTrigger[]> {
    const rows = await ctx.app.db.query(`SELECT * FROM reward_triggers WHERE program_id = $1 ORDER BY created_at, id`, [program.id]);
    return rows.map(triggerFromRow);
  }
}

@Resolver(() => Customer)
export class CustomerGrantsResolver {
  @FieldResolver(() => [Grant], { description: "Points and rewards the customer was owed by referrals, triggers and stage rewards, newest first." })
  async grants(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<Grant[]> {
    return (await ctx.loaders.grants.load(customerKey(customer.programId, customer.id))).map(grantFromRow);
  }
}
