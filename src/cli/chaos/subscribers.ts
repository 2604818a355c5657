/**
 * Live subscribers as an operator's dashboards and integrations hold them: each on a WebSocket of
 * its own (node:cluster deals the connections over the API processes), recording every event's
 * sequence. When its socket closes (a process drained, restarted) a subscriber reconnects and
 * resumes with `after:` the last sequence it saw, as the API documents. Nothing else tells it of a
 * gap: what it did not receive, it missed.
 */
import { createClient, Client } from "graphql-ws";
import WebSocket from "ws";
import { LOYALTY_TOPICS } from "../../events/event.types";
import { sleep } from "./util";

export interface Received {
  sequence: bigint;
  customerId: string;
  /** Which connection of the subscriber delivered it (0, 1, … after each reconnect). */
  session: number;
  at: number;
}

export interface Subscriber {
  name: string;
  /** The outbox topics its feed carries. */
  topics: readonly string[];
  received: Received[];
  /** Why each of its connections ended, when it did before the run's end. */
  closes: string[];
  errors: string[];
}

const FEEDS = {
  loyaltyEvents: {
    query: `subscription($p: ID!, $after: ID) { loyaltyEvents(programId: $p, after: $after) { ... on CustomerEvent { sequence customerId } } }`,
    topics: LOYALTY_TOPICS,
  },
  stageChanged: {
    query: `subscription($p: ID!, $after: ID) { stageChanged(programId: $p, after: $after) { sequence customerId } }`,
    topics: ["STAGE_CHANGED"],
  },
} as const;

export type Feed = keyof typeof FEEDS;

function describeClose(err: unknown): string {
  if (err && typeof err === "object" && "code" in err) return `close ${(err as any).code}${(err as any).reason ? ` ${(err as any).reason}` : ""}`;
  if (Array.isArray(err)) return `errors: ${err.map((e) => e?.message).join("; ")}`;
  return err instanceof Error ? err.message : String(err);
}

export class Subscribers {
  readonly all: Subscriber[] = [];
  private stopping = false;
  private readonly clients = new Set<Client>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly wsUrl: string,
    private readonly key: string,
    private readonly programId: string,
  ) {}

  /** Opens one subscriber of `feed`, on a connection of its own. */
  open(feed: Feed): Subscriber {
    const subscriber: Subscriber = {
      name: `${feed} #${this.all.filter((s) => s.name.startsWith(feed)).length + 1}`,
      topics: FEEDS[feed].topics,
      received: [],
      closes: [],
      errors: [],
    };
    this.all.push(subscriber);
    this.loops.push(this.follow(subscriber, feed));
    return subscriber;
  }

  private async follow(subscriber: Subscriber, feed: Feed): Promise<void> {
    for (let session = 0; !this.stopping; session++) {
      const last = subscriber.received.at(-1);
      const client = createClient({
        url: this.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${this.key}` },
        // Reconnecting is this loop's job: it resumes after the last sequence, which the client's own retry would not.
        retryAttempts: 0,
        lazy: true,
      });
      this.clients.add(client);
      let why = "completed";
      try {
        const variables = { p: this.programId, after: last ? last.sequence.toString() : null };
        for await (const result of client.iterate({ query: FEEDS[feed].query, variables })) {
          if (result.errors) {
            subscriber.errors.push(result.errors.map((e) => e.message).join("; "));
            break;
          }
          const event = (result.data as any)?.[feed];
          if (event?.sequence) subscriber.received.push({ sequence: BigInt(event.sequence), customerId: event.customerId, session, at: Date.now() });
        }
      } catch (err) {
        why = describeClose(err);
      }
      this.clients.delete(client);
      await client.dispose();
      if (this.stopping) return;
      subscriber.closes.push(why);
      // A process that is restarting refuses connections for a moment: do not spin.
      await sleep(200);
    }
  }

  /** Closes every subscriber's connection and waits for their loops to end. */
  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.clients].map((c) => c.dispose()));
    await Promise.all(this.loops);
  }
}
