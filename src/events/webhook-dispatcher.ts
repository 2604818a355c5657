/**
 * Webhook deliveries: the events a program's endpoints asked for, POSTed with a signature and
 * retried with a doubling delay until the endpoint answers 2xx (or WEBHOOK_MAX_ATTEMPTS is reached:
 * FAILED, which `redeliverWebhookDelivery` sets going again).
 *
 * A delivery is queued when its event is marked published (outbox.ts: by its writer right after
 * commit, or by the relay for a writer that died), once per endpoint and event (a unique key), so
 * the writing transaction does no webhook work. Every API process sends: each claims due deliveries
 * with SKIP LOCKED and a lease (next_attempt_at moved past the POST's timeout), so two processes
 * never send one at once, and a process that dies mid-send leaves it to be sent again when the lease
 * ends. Delivery is at least once, not in order: each carries its event's sequence to drop a copy.
 */
import { createHmac } from "node:crypto";
import type { Logger } from "pino";
import { Db } from "../db/db";

export interface WebhookOptions {
  intervalMs: number;
  retryBaseMs: number;
  maxAttempts: number;
  timeoutMs: number;
}

/** Deliveries claimed (and sent concurrently) at a time. */
const CLAIM_LIMIT = 20;
/** The longest wait between two attempts. */
const MAX_RETRY_DELAY_MS = 6 * 3600_000;

/**
 * Queues deliveries for the outbox rows a statement just marked published (`marked`: program_id,
 * id, topic): one per active endpoint of the program that wants the topic. A fragment of the
 * marking statements' WITH (flush and relay), so queuing commits with the marking.
 */
export const QUEUE_DELIVERIES = `
queued AS (
  INSERT INTO webhook_deliveries (program_id, webhook_id, event_id, topic)
  SELECT m.program_id, w.id, m.id, m.topic FROM marked m
    JOIN webhooks w ON w.program_id = m.program_id AND w.active AND m.topic = ANY(w.topics)
   ORDER BY m.id, w.id
  ON CONFLICT DO NOTHING
  RETURNING 1
)`;

/** Due deliveries of active endpoints, leased for `$2` ms, with what to send. */
const CLAIM_DUE = `
WITH due AS (
  SELECT d.program_id, d.id FROM webhook_deliveries d
    JOIN webhooks w ON w.program_id = d.program_id AND w.id = d.webhook_id AND w.active
   WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
   ORDER BY d.next_attempt_at, d.id LIMIT $1
   FOR UPDATE OF d SKIP LOCKED
), claimed AS (
  UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(),
         next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
    FROM due WHERE d.program_id = due.program_id AND d.id = due.id
  RETURNING d.program_id, d.id, d.webhook_id, d.event_id
)
SELECT c.program_id, c.id::text AS id, w.url, w.secret, c.event_id::text AS sequence,
       o.id IS NOT NULL AS kept, o.topic, o.customer_id, o.payload, o.created_at
  FROM claimed c
  JOIN webhooks w ON w.program_id = c.program_id AND w.id = c.webhook_id
  LEFT JOIN outbox o ON o.program_id = c.program_id AND o.id = c.event_id`;

/**
 * An attempt's outcome: DELIVERED; FAILED when attempts are used up or it can never succeed ($6);
 * else due again after retryBaseMs × 2^(attempts-1), at most MAX_RETRY_DELAY_MS.
 */
const FINISH = `
UPDATE webhook_deliveries SET
  status = CASE WHEN $3 THEN 'DELIVERED' WHEN $6 OR attempts >= $7 THEN 'FAILED' ELSE 'PENDING' END,
  delivered_at = CASE WHEN $3 THEN now() END,
  last_status = $4, last_error = $5,
  next_attempt_at = CASE WHEN $3 OR $6 OR attempts >= $7 THEN next_attempt_at
                         ELSE now() + make_interval(secs => least($8::float8 * power(2, attempts - 1), $9::float8) / 1000) END
 WHERE program_id = $1 AND id = $2`;

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>` (replays can be refused by t). */
export function webhookSignature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex")}`;
}

export class WebhookDispatcher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: WebhookOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Sends what is due now (after new deliveries were queued, or on the interval). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (await this.deliverDue()) === CLAIM_LIMIT);
    } catch (err) {
      this.log.error({ err }, "webhook deliveries");
    }
  }

  /** Claims and sends up to CLAIM_LIMIT due deliveries; returns how many. */
  async deliverDue(): Promise<number> {
    const rows = await this.db.query(CLAIM_DUE, [CLAIM_LIMIT, this.options.timeoutMs + 30_000]);
    await Promise.all(rows.map((row) => this.deliver(row)));
    return rows.length;
  }

  private async deliver(row: any): Promise<void> {
    const { retryBaseMs, maxAttempts, timeoutMs } = this.options;
    const finish = (ok: boolean, status: number | null, error: string | null, never = false) =>
      this.db.query(FINISH, [row.program_id, row.id, ok, status, error, never, maxAttempts, retryBaseMs, MAX_RETRY_DELAY_MS]);
    // Pruned (OUTBOX_RETENTION_DAYS) before it could be sent: nothing left to send.
    if (!row.kept) return void (await finish(false, null, "the event is no longer kept (OUTBOX_RETENTION_DAYS)", true));
    const body = JSON.stringify({
      id: row.id,
      sequence: row.sequence,
      topic: row.topic,
      programId: row.program_id,
      customerId: row.customer_id ?? null,
      createdAt: new Date(row.created_at).toISOString(),
      payload: row.payload,
    });
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(row.url, {
        method: "POST",
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": "loyalty-ladder-webhooks",
          "x-loyalty-delivery": row.id,
          "x-loyalty-event": row.topic,
          "x-loyalty-sequence": row.sequence,
          "x-loyalty-signature": webhookSignature(row.secret, body, Math.floor(Date.now() / 1000)),
        },
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined); // frees the connection
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (err: any) {
      error = err?.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : String(err?.cause?.code ?? err?.cause?.message ?? err?.message ?? err);
    }
    await finish(error === null, status, error);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
