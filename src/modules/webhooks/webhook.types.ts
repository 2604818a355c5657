/** Webhooks' GraphQL types: endpoints, their creation (with the secret, once) and their deliveries. */
import { ArrayMaxSize, ArrayMinSize, IsOptional, Length } from "class-validator";
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { ConnectionType } from "../../api/connection";
import { LOYALTY_TOPICS } from "../../events/event.types";

export enum WebhookDeliveryStatus {
  PENDING = "PENDING",
  DELIVERED = "DELIVERED",
  FAILED = "FAILED",
}
registerEnumType(WebhookDeliveryStatus, {
  name: "WebhookDeliveryStatus",
  description:
    "PENDING: not sent yet, or to be sent again; DELIVERED: the endpoint answered 2xx; FAILED: attempts used up (redeliverWebhookDelivery sends it again).",
});

@InputType()
export class CreateWebhookInput {
  @Field(() => ID)
  programId: string;

  @Field({ description: "An http(s) URL that takes a POST of each event as JSON." })
  @Length(1, 2000)
  url: string;

  @Field(() => [String], { description: `The event topics to send: ${LOYALTY_TOPICS.join(", ")}.` })
  @ArrayMinSize(1)
  @ArrayMaxSize(LOYALTY_TOPICS.length)
  topics: string[];

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 500)
  description?: string | null;
}

@ObjectType({ description: "An endpoint that receives a program's events. Its secret is never shown again." })
export class Webhook {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  programId: string;

  @Field()
  url: string;

  @Field(() => [String])
  topics: string[];

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field({ description: "Inactive: no new deliveries are queued and queued ones wait until it is active again." })
  active: boolean;

  @Field()
  createdAt: Date;
}

@ObjectType()
export class WebhookCreated {
  @Field(() => Webhook)
  webhook: Webhook;

  @Field({
    description: 'Signs every delivery: x-loyalty-signature is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Shown once: store it now.',
  })
  secret: string;
}

@ObjectType({ description: "One event sent (or to be sent) to one endpoint." })
export class WebhookDelivery {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  webhookId: string;

  @Field(() => ID, { description: "The event's sequence (as on subscriptions)." })
  sequence: string;

  @Field()
  topic: string;

  @Field(() => WebhookDeliveryStatus)
  status: WebhookDeliveryStatus;

  @Field(() => Int, { description: "Attempts made so far (a POST each, unless the event was no longer kept or the endpoint was refused)." })
  attempts: number;

  @Field(() => Int, { nullable: true, description: "The HTTP status of the last attempt (null: no answer)." })
  lastStatus: number | null;

  @Field(() => String, { nullable: true, description: "Why the last attempt failed." })
  lastError: string | null;

  @Field(() => Date, { nullable: true, description: "While PENDING: when it is sent (again); during an attempt, when that attempt's lease ends." })
  nextAttemptAt: Date | null;

  @Field(() => Date, { nullable: true })
  deliveredAt: Date | null;

  @Field()
  createdAt: Date;
}

export const WebhookDeliveryConnection = ConnectionType(WebhookDelivery, "WebhookDelivery");

export const webhookFromRow = (row: any): Webhook =>
  Object.assign(new Webhook(), {
    id: row.id,
    programId: row.program_id,
    url: row.url,
    topics: row.topics,
    description: row.description ?? null,
    active: row.active,
    createdAt: new Date(row.created_at),
  });

export const deliveryFromRow = (row: any): WebhookDelivery =>
  Object.assign(new WebhookDelivery(), {
    id: String(row.id),
    webhookId: row.webhook_id,
    sequence: String(row.event_id),
    topic: row.topic,
    status: row.status,
    attempts: row.attempts,
    lastStatus: row.last_status ?? null,
    lastError: row.last_error ?? null,
    nextAttemptAt: row.status === "PENDING" ? new Date(row.next_attempt_at) : null,
    deliveredAt: row.delivered_at ? new Date(row.delivered_at) : null,
    createdAt: new Date(row.created_at),
  });

@ObjectType({ description: "What an endpoint answered to a test event (a PING, sent at once and not retried)." })
export class WebhookTestResult {
  @Field({ description: "The endpoint answered 2xx." })
  ok: boolean;

  @Field(() => Int, { nullable: true, description: "The HTTP status (null: no answer)." })
  status: number | null;

  @Field(() => String, { nullable: true, description: "Why it failed." })
  error: string | null;

  @Field(() => Int, { description: "How long the POST took, in milliseconds." })
  ms: number;
}
