/**
 * Pub/sub between API processes. In-process by default; with REDIS_URL, Redis carries the events
 * between API processes (type-graphql's Redis example: a yoga pubsub over
 * @graphql-yoga/redis-event-target), so a subscriber on one process hears what another wrote.
 *
 * The bus is a fast path, not the record: Redis pub/sub forgets what it could not deliver. What
 * subscribers read comes from live-feeds.ts, which also takes this process's own commits directly
 * and catches up from the outbox whenever the bus was down or may have lost a message. For that the
 * bus says whether it is up (`state`, `onStateChange`).
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

/** "up": messages flow; "down": they may not (Redis unreachable, or not yet resubscribed). */
export type BusState = "up" | "down";

export interface EventBus {
  /** True when other processes are on the other end (Redis); false for the in-process bus. */
  readonly distributed: boolean;
  publish(message: LoyaltyEventMessage): void;
  /** Every event of one program published from now on (by any process, this one included). */
  subscribe(programId: string): AsyncIterable<LoyaltyEventMessage>;
  publishControl(message: ControlMessage): void;
  control(): AsyncIterable<ControlMessage>;
  state(): BusState;
  /** Called on every change of state (down when either Redis connection drops, up when both are back). */
  onStateChange(listener: (state: BusState) => void): () => void;
  close(): Promise<void>;
}

type Channels = {
  PROGRAM: [programId: string, message: LoyaltyEventMessage];
  CONTROL: [message: ControlMessage];
};

/**
 * The event target calls publish/subscribe without handling their promises; during a Redis outage
 * (or after close) those reject, and an unhandled rejection would end the process. This hands the
 * target a client whose calls report their failure instead. A publish lost in an outage is not
 * retried here: live-feeds.ts catches up from the outbox.
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
  const listeners = new Set<(state: BusState) => void>();
  let current: BusState = redisUrl ? "down" : "up";
  const setState = (next: BusState) => {
    if (next === current || closed) return;
    current = next;
    for (const listener of listeners) listener(next);
  };
  if (redisUrl) {
    // Two connections: a Redis connection in subscriber mode can do nothing else. The publisher
    // fails fast while Redis is away instead of queueing every event of the outage in memory (the
    // outbox has them); the subscriber queues its few SUBSCRIBEs and resends them on reconnect.
    const publisher = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const subscriber = new Redis(redisUrl);
    clients = [publisher, subscriber];
    // One line per outage, not one per event published into it.
    let reported = false;
    const report = (err: unknown) => {
      if (reported || closed) return;
      reported = true;
      onError(err);
    };
    for (const client of clients) {
      client.on("error", report);
      client.on("close", () => setState("down"));
      client.on("ready", () => {
        // ioredis resends the subscriber's SUBSCRIBEs after "ready": live-feeds.ts confirms them with a marker.
        if (clients.every((c) => c.status === "ready")) {
          reported = false;
          setState("up");
        }
      });
    }
    eventTarget = createRedisEventTarget<any>({ publishClient: guarded(publisher, report), subscribeClient: guarded(subscriber, report) });
  }
  const pubsub = createPubSub<Channels>(eventTarget ? { eventTarget } : undefined);
  return {
    distributed: !!redisUrl,
    publish: (message) => {
      if (!closed) pubsub.publish("PROGRAM", message.programId, message);
    },
    subscribe: (programId) => pubsub.subscribe("PROGRAM", programId),
    publishControl: (message) => {
      if (!closed) pubsub.publish("CONTROL", message);
    },
    control: () => pubsub.subscribe("CONTROL"),
    state: () => current,
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      listeners.clear();
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
