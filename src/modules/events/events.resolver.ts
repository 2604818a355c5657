/**
 * Live events over graphql-ws. Each subscription listens to its program's channel on the bus and
 * filters on the server (topic, customer); authorization is checked when the subscription starts.
 * Only committed events reach the bus (they come from the outbox after COMMIT).
 */
import { filter, pipe } from "@graphql-yoga/subscription";
import { Arg, Args, ArgsType, Field, Float, ID, createUnionType, ObjectType, Resolver, Root, Subscription, Ctx } from "type-graphql";
import { RequestContext } from "../../context";
import { uuidArg } from "../../api/ids";
import { Forbidden, Unauthenticated } from "../../api/errors";
import { LoyaltyEventMessage } from "../../events/event.types";
import { Role, requireCustomerAccess, requireRole } from "../auth/actor";
import { StageReason } from "../customer/customer.types";
import { Stage } from "../program/program.types";
import { TouchpointType } from "../program/earning";
import { ProgramConfig } from "../program/program.config";

@ObjectType({ description: "A customer moved between stages." })
export class StageChangedEvent {
  @Field(() => ID, { description: "The event's sequence number: increasing, unique across programs." })
  sequence: string;

  @Field(() => ID)
  programId: string;

  @Field(() => ID)
  customerId: string;

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

@ObjectType({ description: "A touchpoint was recorded (and posted its points)." })
export class TouchpointRecordedEvent {
  @Field(() => ID)
  sequence: string;

  @Field(() => ID)
  programId: string;

  @Field(() => ID)
  customerId: string;

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

export const LoyaltyEvent = createUnionType({
  name: "LoyaltyEvent",
  description: "Every event of a program.",
  types: () => [StageChangedEvent, TouchpointRecordedEvent] as const,
  resolveType: (value) => ("to" in value ? StageChangedEvent : TouchpointRecordedEvent),
});

@ArgsType()
class StageChangedArgs {
  @Field(() => ID)
  programId: string;

  @Field(() => ID, { nullable: true, description: "Only this customer's moves." })
  customerId?: string | null;
}

function stageOf(config: ProgramConfig | null, ref: { key: string; name: string; rank: number } | null): Stage | null {
  if (!ref) return null;
  return config?.stageByKey.get(ref.key) ?? Object.assign(new Stage(), { ...ref, side: false, description: null, paths: [] });
}

async function toEvent(ctx: RequestContext, message: LoyaltyEventMessage): Promise<StageChangedEvent | TouchpointRecordedEvent> {
  const p = message.payload;
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
async function* whileValid<T>(ctx: RequestContext, events: AsyncIterable<T>): AsyncGenerator<T> {
  const { actor } = ctx;
  for await (const event of events) {
    if (actor.kind === "customer" && actor.expiresAt <= ctx.app.clock().getTime()) {
      throw new Unauthenticated("The customer token has expired");
    }
    yield event;
  }
}

@Resolver()
export class EventsResolver {
  @Subscription(() => StageChangedEvent, {
    description: "Stage moves of a program (ADMIN, PARTNER), or of one customer (also that customer's token).",
    subscribe: ({ args, context }) => {
      const ctx = context as RequestContext;
      const programId = uuidArg(args.programId, "programId");
      const customerId = args.customerId ? uuidArg(args.customerId, "customerId") : null;
      if (customerId) requireCustomerAccess(ctx.actor, programId, customerId);
      else requireRole(ctx.actor, programId, [Role.ADMIN, Role.PARTNER]);
      return whileValid(
        ctx,
        pipe(
          ctx.app.bus.subscribe(programId),
          filter((m: LoyaltyEventMessage) => m.topic === "STAGE_CHANGED" && (!customerId || m.customerId === customerId)),
        ),
      );
    },
  })
  async stageChanged(@Root() message: LoyaltyEventMessage, @Args() _args: StageChangedArgs, @Ctx() ctx: RequestContext): Promise<StageChangedEvent> {
    return (await toEvent(ctx, message)) as StageChangedEvent;
  }

  @Subscription(() => LoyaltyEvent, {
    description: "Every event of a program, for internal tools (ADMIN).",
    subscribe: ({ args, context }) => {
      const ctx = context as RequestContext;
      const programId = uuidArg(args.programId, "programId");
      requireRole(ctx.actor, programId, [Role.ADMIN]);
      if (ctx.actor.kind === "customer") throw new Forbidden();
      return pipe(
        ctx.app.bus.subscribe(programId),
        filter((m: LoyaltyEventMessage) => m.topic === "STAGE_CHANGED" || m.topic === "TOUCHPOINT_RECORDED"),
      );
    },
  })
  async loyaltyEvents(
    @Root() message: LoyaltyEventMessage,
    @Arg("programId", () => ID) _programId: string,
    @Ctx() ctx: RequestContext,
  ): Promise<typeof LoyaltyEvent> {
    return toEvent(ctx, message);
  }
}
