/**
 * Pub/sub between the writers and the subscribers. In-process by default; with REDIS_URL, Redis
 * carries the events between API processes (type-graphql's Redis example: a yoga pubsub over
 * @graphql-yoga/redis-event-target), so a subscriber on one process receives what another wrote.
 */
import { createPubSub } from "@graphql-yoga/subscription";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { Redis } from "ioredis";
import { LoyaltyEventMessage } from "./event.types";

/**
 * A change every process must hear: a program's configuration (its caches drop the program), or an
 * API key revoked (its key cache drops the key, and its WebSockets opened with it close).
 */
export type ControlMessage =
  | { kind: "PROGRAM_CHANGED"; programId: string }
  | { kind: "API_KEY_REVOKED"; programId: string; keyId: string }
  | { kind: "CUSTOMER_ERASED"; programId: string; customerId: string };

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

/**
 * The event target calls publish/subscribe without handling their promises; during a Redis outage
 * (or after close) those reject, and an unhandled rejection would end the process. This hands the
 * target a client whose calls log their failure instead. A publish lost in an outage is not
 * retried: live subscribers miss that event (it stays in the outbox, by sequence).
 */
function guarded(client: Redis, onError: (err: unknown) => void): Redis {
  const calls = new Set(["publish", "subscribe", "unsubscribe"]);
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (calls.has(prop as string)) {
        return (...args: unknown[]) => (value.apply(target, args) as Promise<unknown>).catch(onError);
      }
      return value.bind(target);
    },
  });
}

export function createEventBus(redisUrl?: string, onError: (err: unknown) => void = () => undefined): EventBus {
  let clients: Redis[] = [];
  let eventTarget;
  let closed = false;
  if (redisUrl) {
    // Two connections: a Redis connection in subscriber mode can do nothing else.
    clients = [new Redis(redisUrl), new Redis(redisUrl)];
    for (const client of clients) client.on("error", onError);
    eventTarget = createRedisEventTarget<any>({ publishClient: guarded(clients[0], onError), subscribeClient: guarded(clients[1], onError) });
  }
  const pubsub = createPubSub<Channels>(eventTarget ? { eventTarget } : undefined);
  return {
    publish: (message) => {
      if (!closed) pubsub.publish("PROGRAM", message.programId, message);
    },
    subscribe: (programId) => pubsub.subscribe("PROGRAM", programId),
    publishControl: (message) => {
      if (!closed) pubsub.publish("CONTROL", message);
    },
    control: () => pubsub.subscribe("CONTROL"),
    async close() {
      closed = true;
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
