/**
 * Webhooks (ADMIN): a program's HTTP endpoints that receive the events they ask for, signed with a
 * secret shown once, retried until they answer 2xx (src/events/webhook-dispatcher.ts). For systems
 * that cannot keep a WebSocket open: a CRM, an email tool, a data warehouse loader.
 */
import { randomBytes } from "node:crypto";
import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { checkFirst, decodeCursor, toConnection } from "../../api/connection";
import { LOYALTY_TOPICS } from "../../events/event.types";
import { refusedHost, WebhookOptions } from "../../events/webhook-dispatcher";
import {
  CreateWebhookInput,
  deliveryFromRow,
  Webhook,
  WebhookCreated,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookDeliveryStatus,
  webhookFromRow,
  WebhookTestResult,
} from "./webhook.types";

/** An http(s) URL with a host, as the dispatcher will POST to it. */
function webhookUrl(raw: string, options: WebhookOptions): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadInput("url", "url is not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new BadInput("url", "url must be http:// or https://");
  if (url.username || url.password) throw new BadInput("url", "url may not carry credentials: deliveries are signed instead");
  const refused = refusedHost(url, options);
  if (refused) throw new BadInput("url", `${refused}: endpoints must be public unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is set`);
  return url.toString();
}

/** The webhook of an id, which the policy let the credential use (gone since, it is NOT_FOUND). */
async function webhookOf(ctx: RequestContext, id: string): Promise<any> {
  const [row] = await ctx.app.db.query(`SELECT * FROM webhooks WHERE id = $1`, [uuidArg(id, "webhookId")]);
  if (!row) throw new NotFound("Webhook", "webhookId");
  return row;
}

@Resolver()
export class WebhookResolver {
  @Mutation(() => WebhookCreated, {
    description:
      "Sends the program's events of some topics to an endpoint (ADMIN): a POST of JSON `{ id, sequence, topic, programId, customerId, createdAt, payload }` per event, signed (x-loyalty-signature), from the events published after it is created while it is active. Retried with a doubling delay until it answers 2xx (redirects are not followed); at least once and not in order: drop a sequence seen before. Loopback, private and link-local endpoints are refused unless WEBHOOK_ALLOW_PRIVATE_NETWORKS.",
  })
  async createWebhook(@Arg("input") input: CreateWebhookInput, @Ctx() ctx: RequestContext): Promise<WebhookCreated> {
    const programId = uuidArg(input.programId, "programId");
    const url = webhookUrl(input.url, ctx.app.config.webhooks);
    const unknown = input.topics.filter((topic) => !LOYALTY_TOPICS.includes(topic));
    if (unknown.length > 0) throw new BadInput("topics", `unknown topic ${unknown.join(", ")}: one of ${LOYALTY_TOPICS.join(", ")}`);
    const secret = `whsec_${randomBytes(24).toString("base64url")}`;
    const [row] = await ctx.app.db.query(
      `INSERT INTO webhooks (program_id, url, topics, description, secret)
       SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM programs WHERE id = $1) RETURNING *`,
      [programId, url, [...new Set(input.topics)], input.description ?? null, secret],
    );
    if (!row) throw new NotFound("Program", "programId");
    return Object.assign(new WebhookCreated(), { webhook: webhookFromRow(row), secret });
  }

  @Mutation(() => Webhook, { description: "Pauses or resumes an endpoint (ADMIN). Events of a paused endpoint's topics are not queued for it." })
  async setWebhookActive(@Arg("webhookId", () => ID) webhookId: string, @Arg("active") active: boolean, @Ctx() ctx: RequestContext): Promise<Webhook> {
    const row = await webhookOf(ctx, webhookId);
    const [updated] = await ctx.app.db.query(`UPDATE webhooks SET active = $3 WHERE program_id = $1 AND id = $2 RETURNING *`, [row.program_id, row.id, active]);
    if (active) ctx.app.webhooks.kick();
    return webhookFromRow(updated);
  }

  @Mutation(() => Boolean, { description: "Removes an endpoint and its deliveries (ADMIN)." })
  async deleteWebhook(@Arg("webhookId", () => ID) webhookId: string, @Ctx() ctx: RequestContext): Promise<boolean> {
    const row = await webhookOf(ctx, webhookId);
    await ctx.app.db.query(`DELETE FROM webhooks WHERE program_id = $1 AND id = $2`, [row.program_id, row.id]);
    return true;
  }

  @Mutation(() => WebhookDelivery, {
    description: "Sends a FAILED delivery again, with its attempts counted from zero (ADMIN), e.g. once the endpoint is fixed.",
  })
  async redeliverWebhookDelivery(
    @Arg("webhookId", () => ID) webhookId: string,
    @Arg("deliveryId", () => ID) deliveryId: string,
    @Ctx() ctx: RequestContext,
  ): Promise<WebhookDelivery> {
    const webhook = await webhookOf(ctx, webhookId);
    if (!/^\d{1,18}$/.test(deliveryId)) throw new BadInput("deliveryId", "deliveryId is not a delivery's id");
    const [row] = await ctx.app.db.query(
      `UPDATE webhook_deliveries SET status = 'PENDING', attempts = 0, next_attempt_at = now(), last_error = NULL
        WHERE program_id = $1 AND webhook_id = $2 AND id = $3 AND status = 'FAILED' RETURNING *`,
      [webhook.program_id, webhook.id, deliveryId],
    );
    if (!row) {
      const [other] = await ctx.app.db.query(`SELECT status FROM webhook_deliveries WHERE program_id = $1 AND webhook_id = $2 AND id = $3`, [
        webhook.program_id,
        webhook.id,
        deliveryId,
      ]);
      if (!other) throw new NotFound("Webhook delivery", "deliveryId");
      throw new BadInput("deliveryId", `the delivery is ${other.status}: only a FAILED one is sent again`);
    }
    ctx.app.webhooks.kick();
    return deliveryFromRow(row);
  }

  @Mutation(() => WebhookTestResult, {
    description:
      'Sends the endpoint a signed test event now (ADMIN), topic PING with sequence "0" and payload { webhookId }, and says what it answered: to check a URL and its signature check before real events flow. Not retried, not recorded as a delivery.',
  })
  async testWebhook(@Arg("webhookId", () => ID) webhookId: string, @Ctx() ctx: RequestContext): Promise<WebhookTestResult> {
    const webhook = await webhookOf(ctx, webhookId);
    const started = performance.now();
    const outcome = await ctx.app.webhooks.post(webhook.url, webhook.secret, {
      id: `test-${randomBytes(8).toString("hex")}`,
      sequence: "0",
      topic: "PING",
      programId: webhook.program_id,
      customerId: null,
      createdAt: new Date().toISOString(),
      payload: { webhookId: webhook.id },
    });
    const ms = Math.round(performance.now() - started);
    if (outcome === "stopped") return Object.assign(new WebhookTestResult(), { ok: false, status: null, error: "the server is stopping", ms });
    return Object.assign(new WebhookTestResult(), { ok: outcome.error === null, status: outcome.status, error: outcome.error, ms });
  }

  @Query(() => [Webhook], { description: "The program's endpoints, oldest first (ADMIN)." })
  async webhooks(@Arg("programId", () => ID) programIdArg: string, @Ctx() ctx: RequestContext): Promise<Webhook[]> {
    const programId = uuidArg(programIdArg, "programId");
    const rows = await ctx.app.db.query(`SELECT * FROM webhooks WHERE program_id = $1 ORDER BY created_at, id`, [programId]);
    return rows.map(webhookFromRow);
  }

  @Query(() => WebhookDeliveryConnection, { description: "An endpoint's deliveries, newest first (ADMIN), optionally of one status." })
  async webhookDeliveries(
    @Arg("webhookId", () => ID) webhookId: string,
    @Ctx() ctx: RequestContext,
    @Arg("status", () => WebhookDeliveryStatus, { nullable: true }) status?: WebhookDeliveryStatus,
    @Arg("first", () => Int, { defaultValue: 20 }) first = 20,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ) {
    const webhook = await webhookOf(ctx, webhookId);
    const size = checkFirst(first);
    const cursor = decodeCursor(after);
    if (cursor !== null && !/^\d{1,18}$/.test(cursor)) throw new BadInput("after", "not a cursor from this API");
    const rows = await ctx.app.db.query(
      `SELECT * FROM webhook_deliveries
        WHERE program_id = $1 AND webhook_id = $2 AND ($3::text IS NULL OR status = $3) AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC LIMIT $5`,
      [webhook.program_id, webhook.id, status ?? null, cursor, size + 1],
    );
    return toConnection(rows.map(deliveryFromRow), size, (d) => d.id, cursor !== null);
  }
}
