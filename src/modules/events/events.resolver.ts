/**
 * Live events over graphql-ws. Each subscription listens to its program's channel on the bus and
 * filters on the server (topic, customer); authorization is checked when the subscription starts.
 * Only committed events reach the bus (they come from the outbox after COMMIT).
 */
import { filter, pipe } from "@graphql-yoga/subscription";
import { GraphQLJSONObject } from "graphql-scalars";
import { Arg, Args, ArgsType, Field, Float, ID, Int, createUnionType, InterfaceType, ObjectType, Resolver, Root, Subscription, Ctx } from "type-graphql";
import { RequestContext } from "../../context";
import { uuidArg } from "../../api/ids";
import { Unauthenticated } from "../../api/errors";
import { LOYALTY_TOPICS, LoyaltyEventMessage, REWARD_TOPICS } from "../../events/event.types";
import { endingSource, FeedFilter, inFeed, replayThenLive, resumePoint } from "../../events/resume";
import { StageReason } from "../customer/customer.types";
import { Stage } from "../program/program.types";
import { TouchpointType } from "../program/earning";
import { ProgramConfig } from "../program/program.config";
import { LifecyclePhase } from "../../domain/value/lifecycle";
import "../customer/lifecycle.types"; // registers LifecyclePhase

@InterfaceType({ description: "What every event about a customer carries." })
export abstract class CustomerEvent {
  @Field(() => ID, { description: "The event's sequence number: increasing, unique across programs." })
  sequence: string;

  @Field(() => ID)
  programId: string;

  @Field(() => ID)
  customerId: string;
}

@ObjectType({ description: "A customer moved between stages.", implements: CustomerEvent })
export class StageChangedEvent extends CustomerEvent {
  @Field(() => Stage, { nullable: true })
  from: Stage | null;

  @Field(() => Stage)
  to: Stage;

  @Field()
  at: Date;

  @Field(() => StageReason)
  reason: StageReason;

  @Field({ description: "TOUCHPOINT, RECOMPUTE or LADDER_UPDATE." })
  cause: string;

  @Field(() => ID, { nullable: true })
  touchpointId: string | null;
}

@ObjectType({ description: "A touchpoint was recorded (and posted its points).", implements: CustomerEvent })
export class TouchpointRecordedEvent extends CustomerEvent {
  @Field(() => ID)
  touchpointId: string;

  @Field(() => TouchpointType)
  type: TouchpointType;

  @Field()
  externalId: string;

  @Field(() => Float, { description: "Points posted." })
  points: number;

  @Field(() => Float, { description: "The customer's balance after it." })
  balance: number;

  @Field()
  occurredAt: Date;
}

@ObjectType({
  description: "Something happened to a reward of a customer: issued, redeemed, its coupon used, cancelled or expired.",
  implements: CustomerEvent,
})
export class RewardEvent extends CustomerEvent {
  @Field({ description: "REWARD_ISSUED, REWARD_REDEEMED, COUPON_USED, REDEMPTION_CANCELLED or REDEMPTION_EXPIRED." })
  kind: string;

  @Field(() => ID)
  redemptionId: string;

  @Field(() => ID)
  rewardId: string;

  @Field()
  rewardName: string;

  @Field()
  code: string;

  @Field(() => Float, { description: "Points the redemption cost (0 for an issued reward)." })
  points: number;

  @Field({ description: "The redemption's status after the event." })
  status: string;

  @Field(() => String, { nullable: true, description: "Why a reward was issued (REWARD_ISSUED): the name of the trigger or stage reward that owed it." })
  reason: string | null;

  @Field(() => String, {
    nullable: true,
    description: "Whose grant issued it (REWARD_ISSUED): the grant's key, e.g. stage:<stageRewardId>:<customerId> or trigger:<triggerId>:…",
  })
  grantKey: string | null;

  @Field()
  at: Date;
}

@ObjectType({ description: "Points moved without a touchpoint: an adjustment, a transfer, an expiry, pending points activated.", implements: CustomerEvent })
export class PointsEvent extends CustomerEvent {
  @Field({ description: "POINTS_ADJUSTED, POINTS_EXPIRED or POINTS_ACTIVATED." })
  kind: string;

  @Field(() => Float, { description: "Points added (positive) or taken (negative)." })
  points: number;

  @Field(() => String, { nullable: true })
  reason: string | null;

  @Field()
  at: Date;
}

@ObjectType({ description: "A customer's tier changed: qualified (upgrade), review (downgrade) or manual.", implements: CustomerEvent })
export class TierChangedEvent extends CustomerEvent {
  @Field(() => String, { nullable: true })
  from: string | null;

  @Field(() => String, { nullable: true })
  to: string | null;

  @Field({ description: "QUALIFIED, REVIEW or MANUAL." })
  cause: string;

  @Field(() => GraphQLJSONObject)
  reason: Record<string, unknown>;

  @Field()
  at: Date;
}

@ObjectType({
  description: "A customer answered NPS 0-6 (a detractor), in a survey response or a SURVEY_RESPONSE touchpoint: a cue for service recovery.",
  implements: CustomerEvent,
})
export class DetractorAlertEvent extends CustomerEvent {
  @Field(() => Int, { description: "The answer, 0-6." })
  nps: number;

  @Field(() => Int, { nullable: true, description: "The customer's NPS answer before this one (null: none)." })
  previousNps: number | null;

  @Field(() => ID)
  touchpointId: string;

  @Field(() => ID, { nullable: true, description: "The survey answered (null for a SURVEY_RESPONSE touchpoint recorded directly)." })
  surveyId: string | null;

  @Field({ description: "The response as the client named it: the survey response's responseId, or the touchpoint's externalId." })
  externalId: string;

  @Field()
  occurredAt: Date;
}

@ObjectType({
  description: "A customer was erased (eraseCustomer): systems that keep their own copy of the customer's data should forget it too.",
  implements: CustomerEvent,
})
export class CustomerErasedEvent extends CustomerEvent {
  @Field()
  at: Date;
}

@ObjectType({
  description:
    "A customer moved to another lifecycle phase (Customer.lifecycle), as the recompute found it: time passing (entered DECLINE: a win-back cue; CHURNED), or purchases since the last recompute.",
  implements: CustomerEvent,
})
export class LifecycleChangedEvent extends CustomerEvent {
  @Field(() => LifecyclePhase)
  from: LifecyclePhase;

  @Field(() => LifecyclePhase)
  to: LifecyclePhase;

  @Field({ description: "When the recompute found it." })
  at: Date;
}

export const LoyaltyEvent = createUnionType({
  name: "LoyaltyEvent",
  description: "Every event of a program.",
  types: () =>
    [
      StageChangedEvent,
      TouchpointRecordedEvent,
      RewardEvent,
      PointsEvent,
      TierChangedEvent,
      DetractorAlertEvent,
      CustomerErasedEvent,
      LifecycleChangedEvent,
    ] as const,
});

function rewardEvent(message: LoyaltyEventMessage): RewardEvent {
  const p = message.payload;
  return Object.assign(new RewardEvent(), {
    sequence: message.sequence,
    programId: message.programId,
    customerId: message.customerId!,
    kind: message.topic,
    redemptionId: p.redemptionId,
    rewardId: p.rewardId,
    rewardName: p.rewardName,
    code: p.code,
    points: Number(p.points),
    status: p.status,
    reason: p.reason ?? null,
    grantKey: p.grantKey ?? null,
    at: new Date(message.createdAt),
  });
}

const AFTER_DESCRIPTION =
  "Resume after this sequence (the last one you saw): the retained events with a greater sequence come first, in order, then live ones. " +
  '"0" starts from the oldest retained. A sequence older than what is kept (OUTBOX_RETENTION_DAYS) fails with EVENTS_EXPIRED.';

@ArgsType()
class StageChangedArgs {
  @Field(() => ID)
  programId: string;

  @Field(() => ID, { nullable: true, description: "Only this customer's moves." })
  customerId?: string | null;

  @Field(() => ID, { nullable: true, description: AFTER_DESCRIPTION })
  after?: string | null;
}

function stageOf(config: ProgramConfig | null, ref: { key: string; name: string; rank: number } | null): Stage | null {
  if (!ref) return null;
  return config?.stageByKey.get(ref.key) ?? Object.assign(new Stage(), { ...ref, side: false, description: null, paths: [] });
}

async function toEvent(ctx: RequestContext, message: LoyaltyEventMessage): Promise<typeof LoyaltyEvent> {
  const p = message.payload;
  if ((REWARD_TOPICS as readonly string[]).includes(message.topic)) return rewardEvent(message);
  if (message.topic === "TIER_CHANGED") {
    return Object.assign(new TierChangedEvent(), {
      sequence: message.sequence,
      programId: message.programId,
      customerId: message.customerId!,
      from: p.from ?? null,
      to: p.to ?? null,
      cause: p.cause,
      reason: p.reason ?? {},
      at: new Date(message.createdAt),
    });
  }
  if (message.topic === "LIFECYCLE_CHANGED") {
    return Object.assign(new LifecycleChangedEvent(), {
      sequence: message.sequence,
      programId: message.programId,
      customerId: message.customerId!,
      from: p.from,
      to: p.to,
      at: new Date(p.at),
    });
  }
  if (message.topic === "CUSTOMER_ERASED") {
    return Object.assign(new CustomerErasedEvent(), {
      sequence: message.sequence,
      programId: message.programId,
      customerId: message.customerId!,
      at: new Date(p.at),
    });
  }
  if (message.topic === "DETRACTOR_ALERT") {
    return Object.assign(new DetractorAlertEvent(), {
      sequence: message.sequence,
      programId: message.programId,
      customerId: message.customerId!,
      nps: p.nps,
      previousNps: p.previousNps ?? null,
      touchpointId: p.touchpointId,
      surveyId: p.surveyId ?? null,
      externalId: p.externalId,
      occurredAt: new Date(p.occurredAt),
    });
  }
  if (message.topic.startsWith("POINTS_")) {
    return Object.assign(new PointsEvent(), {
      sequence: message.sequence,
      programId: message.programId,
      customerId: message.customerId!,
      kind: message.topic,
      points: Number(p.points),
      reason: p.reason ?? null,
      at: new Date(message.createdAt),
    });
  }
  if (message.topic === "STAGE_CHANGED") {
    const config = await ctx.app.programs.cache.get(message.programId);
    return Object.assign(new StageChangedEvent(), {
      sequence: message.sequence,
      programId: message.programId,
      customerId: message.customerId!,
      from: stageOf(config, p.from),
      to: stageOf(config, p.to)!,
      at: new Date(p.at),
      reason: p.reason,
      cause: p.cause,
      touchpointId: p.touchpointId ?? null,
    });
  }
  return Object.assign(new TouchpointRecordedEvent(), {
    sequence: message.sequence,
    programId: message.programId,
    customerId: message.customerId!,
    touchpointId: p.touchpointId,
    type: p.type,
    externalId: p.externalId,
    points: p.points,
    balance: Number(p.balance),
    occurredAt: new Date(p.occurredAt),
  });
}

/** Ends a customer token's subscription with UNAUTHENTICATED once the token has expired. */
function whileValid<T>(ctx: RequestContext, events: AsyncIterable<T>): AsyncIterableIterator<T> {
  const source = events[Symbol.asyncIterator]();
  async function* checked(): AsyncGenerator<T> {
    const { actor } = ctx;
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      if (actor.kind === "customer" && actor.expiresAt <= ctx.app.clock().getTime()) {
        await source.return?.();
        throw new Unauthenticated("The customer token has expired");
      }
      yield next.value;
    }
  }
  // Unsubscribing ends the feed at once, not at the program's next event.
  return endingSource(source, checked());
}

/**
 * A program's events of some topics, or one customer's, filtered on the server (who may ask for
 * which: policies.ts); a customer token's feed ends when the token expires.
 */
async function customerFeed(context: unknown, args: { programId: string; customerId?: string | null; after?: string | null }, topics: readonly string[]) {
  const ctx = context as RequestContext;
  const programId = uuidArg(args.programId, "programId");
  const customerId = args.customerId ? uuidArg(args.customerId, "customerId") : null;
  return whileValid(ctx, await programFeed(ctx, programId, args.after, { topics, customerId }));
}

/** A program's events of some topics (and of one customer), live, or resumed after a sequence first. */
async function programFeed(ctx: RequestContext, programId: string, after: string | null | undefined, wanted: FeedFilter) {
  if (after != null) {
    const from = await resumePoint(ctx.app.db, programId, after, wanted);
    return replayThenLive(ctx.app.db, ctx.app.feeds, programId, from, wanted);
  }
  return pipe(ctx.app.feeds.subscribe(programId), filter(inFeed(wanted)));
}

@Resolver()
export class EventsResolver {
  @Subscription(() => StageChangedEvent, {
    description: "Stage moves of a program (ADMIN, PARTNER), or of one customer (also that customer's token).",
    subscribe: ({ args, context }) => customerFeed(context, args, ["STAGE_CHANGED"]),
  })
  async stageChanged(@Root() message: LoyaltyEventMessage, @Args() _args: StageChangedArgs, @Ctx() ctx: RequestContext): Promise<StageChangedEvent> {
    return (await toEvent(ctx, message)) as StageChangedEvent;
  }

  @Subscription(() => LoyaltyEvent, {
    description: "Every event of a program, for internal tools (ADMIN).",
    subscribe: ({ args, context }) => {
      const ctx = context as RequestContext;
      const programId = uuidArg(args.programId, "programId");
      return programFeed(ctx, programId, args.after, { topics: LOYALTY_TOPICS, customerId: null });
    },
  })
  async loyaltyEvents(
    @Root() message: LoyaltyEventMessage,
    @Arg("programId", () => ID) _programId: string,
    @Ctx() ctx: RequestContext,
    @Arg("after", () => ID, { nullable: true, description: AFTER_DESCRIPTION }) _after?: string,
  ): Promise<typeof LoyaltyEvent> {
    return toEvent(ctx, message);
  }

  @Subscription(() => RewardEvent, {
    description: "Reward events of a program (ADMIN, PARTNER), or of one customer (also that customer's token): issued, redeemed, used, cancelled, expired.",
    subscribe: ({ args, context }) => customerFeed(context, args, REWARD_TOPICS),
  })
  rewardEvents(@Root() message: LoyaltyEventMessage, @Args() _args: StageChangedArgs): RewardEvent {
    return rewardEvent(message);
  }
}
