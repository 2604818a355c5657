/**
 * Pub/sub between the writers and the subscribers. In-process by default; with REDIS_URL, Redis
 * carries the events between API processes (type-graphql's Redis example: a yoga pubsub over
 * @graphql-yoga/redis-event-target), so a subscriber on one process receives what another wrote.
 */
import { createPubSub } from "@graphql-yoga/subscription";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { Redis } from "ioredis";
import { LoyaltyEventMessage } from "./event.types";

/** A configuration change every process must hear (its caches drop the program). */
export interface ControlMessage {
  kind: "PROGRAM_CHANGED";
  programId: string;
}

export interface EventBus {
  publish(message: LoyaltyEventMessage): void;
  /** Every event of one program, from now on. */
  subscribe(programId: string): AsyncIterable<LoyaltyEventMessage>;
  publishControl(message: ControlMessage): void;
  control(): AsyncIterable<ControlMessage>;
  close(): Promise<void>;
}

type Channels = {
  PROGRAM: [programId: string, message: LoyaltyEventMessage];
  CONTROL: [message: ControlMessage];
};

export function createEventBus(redisUrl?: string): EventBus {
  let clients: Redis[] = [];
  let eventTarget;
  if (redisUrl) {
    // Two connections: a Redis connection in subscriber mode can do nothing else.
    clients = [new Redis(redisUrl, { lazyConnect: false }), new Redis(redisUrl, { lazyConnect: false })];
    eventTarget = createRedisEventTarget<any>({ publishClient: clients[0], subscribeClient: clients[1] });
  }
  const pubsub = createPubSub<Channels>(eventTarget ? { eventTarget } : undefined);
  return {
    publish: (message) => pubsub.publish("PROGRAM", message.programId, message),
    subscribe: (programId) => pubsub.subscribe("PROGRAM", programId),
    publishControl: (message) => pubsub.publish("CONTROL", message),
    control: () => pubsub.subscribe("CONTROL"),
    async close() {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
