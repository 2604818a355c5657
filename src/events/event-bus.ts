/**
 * Pub/sub between the writers and the subscribers. In-process by default; the interface is what a
 * Redis (or NATS) transport implements when several API processes run (type-graphql's Redis example:
 * `createPubSub({ eventTarget: createRedisEventTarget(...) })` from @graphql-yoga/redis-event-target).
 */
import { createPubSub, type PubSubEventTarget } from "@graphql-yoga/subscription";
import { LoyaltyEventMessage } from "./event.types";

export interface EventBus {
  publish(message: LoyaltyEventMessage): void;
  /** Every event of one program, from now on. */
  subscribe(programId: string): AsyncIterable<LoyaltyEventMessage>;
}

type Channels = { PROGRAM: [programId: string, message: LoyaltyEventMessage] };

export function createEventBus(eventTarget?: PubSubEventTarget<Channels>): EventBus {
  const pubsub = createPubSub<Channels>(eventTarget ? { eventTarget } : undefined);
  return {
    publish: (message) => pubsub.publish("PROGRAM", message.programId, message),
    subscribe: (programId) => pubsub.subscribe("PROGRAM", programId),
  };
}
