/**
 * Referrals and triggered rewards. recordReferral links a new customer to the one who brought
 * them (idempotent by referralId), owes the SIGNUP referral rules' points, records the referrer's
 * REFERRAL touchpoint (its ladder counts it), and gives what is owed before answering.
 */
import { IsIn, IsInt, IsOptional, Length, Max, Min } from "class-validator";
import { Arg, Ctx, Field, FieldResolver, Float, ID, InputType, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, IdempotencyKeyReused, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { customerKey } from "../../api/loaders";
import { Role, requireRole } from "../auth/actor";
import { Customer, customerFromRow } from "../customer/customer.types";
import { Program } from "../program/program.types";
import { TouchpointType } from "../program/earning";
import { requestHash } from "../touchpoint/request-hash";

@InputType()
export class RecordReferralInput {
  @Field(() => ID)
  programId: string;

  @Field(() => ID, { nullable: true, description: "Who referred (our id); or referrerExternalId." })
  @IsOptional()
  referrerId?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 200)
  referrerExternalId?: string | null;

  @Field({ description: "The new customer (the partner's id); created when unknown." })
  @Length(1, 200)
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
    requireRole(ctx.actor, programId, [Role.ADMIN, Role.PARTNER]);
    const config = await ctx.app.programs.config(programId);
    if (!!input.referrerId === !!input.referrerExternalId) throw new BadInput("referrerId", "give exactly one of referrerId and referrerExternalId");
    const hash = requestHash({ referrerId: input.referrerId?.toLowerCase(), referrerExternalId: input.referrerExternalId, referee: input.refereeExternalId });
    const now = ctx.app.clock();
    const link = await ctx.app.db.transaction(async (tx) => {
      const [referrer] = input.referrerId
        ? await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND id = $2`, [programId, uuidArg(input.referrerId, "referrerId")])
        : await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND external_id = $2`, [programId, input.referrerExternalId]);
      if (!referrer) throw new NotFound("Referrer", input.referrerId ? "referrerId" : "referrerExternalId");
      await tx.query(`INSERT INTO customers (program_id, external_id, stage_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        programId,
        input.refereeExternalId,
        config.bottom.key,
      ]);
      const [referee] = await tx.query(`SELECT * FROM customers WHERE program_id = $1 AND external_id = $2 FOR NO KEY UPDATE`, [programId, input.refereeExternalId]);
      // After the referee's lock: a racing first attempt with the same key waits above, then replays here.
      const replay = async () => {
        const [existing] = await tx.query(`SELECT * FROM referrals WHERE program_id = $1 AND referral_key = $2`, [programId, input.referralId]);
        if (!existing) return null;
        if (existing.request_hash !== hash) throw new IdempotencyKeyReused("referralId", input.referralId);
        return { referrerId: existing.referrer_id as string, refereeId: existing.referee_id as string, replayed: true };
      };
      const earlier = await replay();
      if (earlier) return earlier;
      if (referee.id === referrer.id) throw new BadInput("refereeExternalId", "a customer cannot refer themselves");
      if (referee.purchase_count > 0) throw new BadInput("refereeExternalId", "the referee is already a buying customer");
      const [claimed] = await tx.query(
        `INSERT INTO referrals (program_id, referee_id, referrer_id, referral_key, request_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING RETURNING 1 AS ok`,
        [programId, referee.id, referrer.id, input.referralId, hash, now],
      );
      if (!claimed) {
        // The key was taken meanwhile for another referee (IDEMPOTENCY_KEY_REUSED), or this referee has a referral already.
        await replay();
        throw new BadInput("refereeExternalId", "the referee was already referred");
      }
      await tx.query(
        `INSERT INTO grants (program_id, key, customer_id, kind, points, rule_id, reason, created_at)
         SELECT $1, 'referral:' || $2::text || ':SIGNUP:' || r.id, CASE WHEN r.beneficiary = 'REFERRER' THEN $3::uuid ELSE $2::uuid END,
                'POINTS', r.fixed_points, r.id, coalesce(r.name, 'referral: signup'), $4
           FROM earning_rules r WHERE r.program_id = $1 AND r.referral_trigger = 'SIGNUP' AND r.fixed_points > 0
         ON CONFLICT DO NOTHING`,
        [programId, referee.id, referrer.id, now],
      );
      return { referrerId: referrer.id as string, refereeId: referee.id as string, replayed: false };
    });
    // The referrer's REFERRAL touchpoint (idempotent by the same key): the ladder counts referrals.
    await ctx.app.touchpoints.record(ctx, config, {
      programId,
      customerId: link.referrerId,
      type: TouchpointType.REFERRAL,
      externalId: input.referralId,
      keyField: "referralId",
      occurredAt: now,
      amount: null,
      data: { refereeId: link.refereeId },
      hashed: { referralId: input.referralId, referee: link.refereeId },
    });
    // This referral's grants, waiting for any a racing retry is giving: the answer shows them given.
    await ctx.app.grants.process(programId, `referral:${link.refereeId}:`);
    const customers = await ctx.app.db.query(`SELECT * FROM customers WHERE program_id = $1 AND id = ANY($2::uuid[])`, [programId, [link.referrerId, link.refereeId]]);
    const grants = await ctx.app.db.query(`SELECT * FROM grants WHERE program_id = $1 AND key LIKE $2 ORDER BY created_at, key`, [programId, `referral:${link.refereeId}:%`]);
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
    requireRole(ctx.actor, programId, [Role.ADMIN]);
    const rewardId = uuidArg(input.rewardId, "rewardId");
    const [reward] = await ctx.app.db.query(`SELECT id FROM rewards WHERE program_id = $1 AND id = $2`, [programId, rewardId]);
    if (!reward) throw new NotFound("Reward", "rewardId");
    const [row] = await ctx.app.db.transaction(async (tx) => {
      const rows = await tx.query(
        `INSERT INTO reward_triggers (program_id, name, reward_id, touchpoint_type, min_count, window_hours, require_no_purchase)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [programId, input.name, rewardId, input.touchpointType, input.minCount, input.windowHours, input.requireNoPurchase],
      );
      // A new configuration version: batches in flight are evaluated again with the trigger.
      await tx.query(`UPDATE programs SET updated_at = now() WHERE id = $1`, [programId]);
      return rows;
    });
    ctx.app.programChanged(programId);
    return triggerFromRow(row);
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
  @FieldResolver(() => [Grant], { description: "Points and rewards the customer was owed by referrals and triggers, newest first." })
  async grants(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<Grant[]> {
    return (await ctx.loaders.grants.load(customerKey(customer.programId, customer.id))).map(grantFromRow);
  }
}
