/**
 * Webhook deliveries: the events a program's endpoints asked for, POSTed with a signature and
 * retried with a doubling delay until the endpoint answers 2xx (or WEBHOOK_MAX_ATTEMPTS is reached:
 * FAILED, which `redeliverWebhookDelivery` sets going again).
 *
 * A delivery is queued when its event is marked published (outbox.ts: by its writer right after
 * commit, or by the relay for a writer that died), once per endpoint and event (a unique key), so
 * the writing transaction does no webhook work. Every process that marks events sends: each claims
 * due deliveries with SKIP LOCKED and a lease (next_attempt_at moved past the POST's timeout), so
 * two processes never send one at once, and a process that dies mid-send leaves it to be sent again
 * when the lease ends. Delivery is at least once, not in order: each carries its event's sequence.
 *
 * Sends run side by side, at most SEND_SLOTS per process and PER_ENDPOINT per endpoint, each slot
 * refilled as it frees, endpoints served in turns: an endpoint that hangs holds two slots for its
 * timeout (ten hanging endpoints would fill a process's twenty).
 */
import { logBackgroundFailure } from "../api/unavailable";
import { lookup } from "node:dns";
import { createHmac } from "node:crypto";
import { BlockList, isIP } from "node:net";
import type { Logger } from "pino";
import { Agent, request } from "undici";
import { Db } from "../db/db";

export interface WebhookOptions {
  intervalMs: number;
  retryBaseMs: number;
  maxAttempts: number;
  timeoutMs: number;
  /** Whether endpoints may be on loopback, private or link-local addresses (WEBHOOK_ALLOW_PRIVATE_NETWORKS). */
  allowPrivateNetworks: boolean;
}

/** POSTs in flight per process, and per endpoint. */
const SEND_SLOTS = 20;
const PER_ENDPOINT = 2;
/** The longest wait between two attempts. */
const MAX_RETRY_DELAY_MS = 6 * 3600_000;
/** What is read of an endpoint's answer (only its status matters); the rest is dropped. */
const MAX_ANSWER_BYTES = 16 * 1024;

/**
 * Queues deliveries for the outbox rows a statement just marked published (`marked`: program_id,
 * id, topic): one per active endpoint of the program that wants the topic. A fragment of the
 * marking statements' WITH (flush and relay), so queuing commits with the marking. The endpoints
 * are key-share locked: one deleted meanwhile is skipped rather than failing the marking.
 */
export const QUEUE_DELIVERIES = `
endpoints AS (
  SELECT w.program_id, w.id, w.topics FROM webhooks w
   WHERE w.active AND w.program_id IN (SELECT program_id FROM marked)
   FOR KEY SHARE OF w
), queued AS (
  INSERT INTO webhook_deliveries (program_id, webhook_id, event_id, topic)
  SELECT m.program_id, w.id, m.id, m.topic FROM marked m
    JOIN endpoints w ON w.program_id = m.program_id AND m.topic = ANY(w.topics)
   ORDER BY m.id, w.id
  ON CONFLICT DO NOTHING
  RETURNING 1
)`;

/**
 * Due deliveries of active endpoints, leased for $2 ms, with what to send: at most $4 in flight per
 * endpoint (less what this process is sending to it: endpoints $3 with counts $6), taken in turns
 * (every endpoint's first due delivery before any endpoint's second), so a backlog behind one
 * endpoint does not starve the others. A delivery whose last attempt's outcome was never recorded
 * (its process died) and has no attempt left is FAILED here.
 */
const CLAIM_DUE = `
WITH exhausted AS (
  UPDATE webhook_deliveries d SET status = 'FAILED', last_error = coalesce(d.last_error, 'no outcome was recorded for the last attempt')
    FROM (SELECT program_id, id FROM webhook_deliveries
           WHERE status = 'PENDING' AND attempts >= $5 AND next_attempt_at <= now()
           LIMIT 100 FOR UPDATE SKIP LOCKED) x
   WHERE d.program_id = x.program_id AND d.id = x.id
), sending AS (
  SELECT * FROM unnest($3::uuid[], $6::int[]) AS s(webhook_id, n)
), candidates AS (
  SELECT program_id, id FROM (
    SELECT d.program_id, d.id, d.next_attempt_at,
           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) + coalesce(s.n, 0) AS n
      FROM (SELECT * FROM webhook_deliveries
             WHERE status = 'PENDING' AND next_attempt_at <= now() AND attempts < $5
             ORDER BY next_attempt_at LIMIT 2000) d
      JOIN webhooks w ON w.program_id = d.program_id AND w.id = d.webhook_id AND w.active
      LEFT JOIN sending s ON s.webhook_id = d.webhook_id
  ) x WHERE n <= $4 ORDER BY n, next_attempt_at, id LIMIT $1
), due AS (
  SELECT d.program_id, d.id FROM webhook_deliveries d JOIN candidates c ON c.program_id = d.program_id AND c.id = d.id
   WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
   FOR UPDATE OF d SKIP LOCKED
), claimed AS (
  UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(),
         next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
    FROM due WHERE d.program_id = due.program_id AND d.id = due.id
  RETURNING d.program_id, d.id, d.webhook_id, d.event_id, d.attempts
)
SELECT c.program_id, c.id::text AS id, c.webhook_id, c.attempts, w.url, w.secret, c.event_id::text AS sequence,
       o.id IS NOT NULL AS kept, o.topic, o.customer_id, o.payload, o.created_at
  FROM claimed c
  JOIN webhooks w ON w.program_id = c.program_id AND w.id = c.webhook_id
  LEFT JOIN outbox o ON o.program_id = c.program_id AND o.id = c.event_id`;

/**
 * An attempt's outcome, recorded only if the delivery is still the attempt this process claimed ($10):
 * DELIVERED; FAILED when attempts are used up or it can never succeed ($6); else due again after
 * retryBaseMs × 2^(attempts-1), at most MAX_RETRY_DELAY_MS.
 */
const FINISH = `
UPDATE webhook_deliveries SET
  status = CASE WHEN $3 THEN 'DELIVERED' WHEN $6 OR attempts >= $7 THEN 'FAILED' ELSE 'PENDING' END,
  delivered_at = CASE WHEN $3 THEN now() END,
  last_status = $4, last_error = $5,
  next_attempt_at = CASE WHEN $3 OR $6 OR attempts >= $7 THEN next_attempt_at
                         ELSE now() + make_interval(secs => least($8::float8 * power(2, least(attempts - 1, 40)), $9::float8) / 1000) END
 WHERE program_id = $1 AND id = $2 AND status = 'PENDING' AND attempts = $10`;

/** Gives back a claimed attempt that was not made (the process stopping): not counted, due again now. */
const RELEASE = `
UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = now()
 WHERE program_id = $1 AND id = $2 AND status = 'PENDING' AND attempts = $3`;

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>` (replays can be refused by t). */
export function webhookSignature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex")}`;
}

/** Addresses an endpoint may not have unless WEBHOOK_ALLOW_PRIVATE_NETWORKS: loopback, private, link-local (cloud metadata), unspecified. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv4");
}
// Unspecified, loopback, unique-local, link-local and site-local; NAT64 and 6to4 can carry any IPv4 address.
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["64:ff9b::", 96],
  ["2002::", 16],
] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv6");
}

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1], "ipv4");
  const family = isIP(address);
  return family === 4 ? PRIVATE.check(address, "ipv4") : family === 6 ? PRIVATE.check(address, "ipv6") : false;
}

/** Why a URL's host may not be sent to (a literal private address), or null. Names are checked when they are resolved. */
export function refusedHost(url: URL, options: Pick<WebhookOptions, "allowPrivateNetworks">): string | null {
  if (options.allowPrivateNetworks) return null;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost") || isPrivateAddress(host)) return `${host} is a loopback, private or link-local address`;
  return null;
}

export class WebhookDispatcher {
  private timer?: NodeJS.Timeout;
  private claiming?: Promise<void>;
  private again = false;
  private stopped = false;
  /** Sends in flight, by endpoint. */
  private readonly sending = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  /** Connections whose every resolved address is checked (a name that resolves to a private address is refused). */
  private readonly agent: Agent;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: WebhookOptions,
  ) {
    this.agent = new Agent({
      connect: {
        lookup: (hostname: string, opts: any, callback: any) =>
          lookup(hostname, opts, (err: any, address: any, family?: number) => {
            if (err) return callback(err);
            const addresses: Array<{ address: string }> = Array.isArray(address) ? address : [{ address }];
            const refused = !this.options.allowPrivateNetworks && addresses.find((a) => isPrivateAddress(a.address));
            if (refused)
              return callback(
                Object.assign(new Error(`${hostname} resolves to ${refused.address}, a loopback, private or link-local address`), { code: "EPRIVATEADDRESS" }),
              );
            callback(null, address, family);
          }),
      },
    });
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Fills the free send slots with due deliveries (after new ones were queued, a send ended, or on the interval). */
  kick(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = this.fill()
      .catch((err) => logBackgroundFailure(this.log, err, "webhook deliveries"))
      .finally(() => {
        this.claiming = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async fill(): Promise<void> {
    const free = SEND_SLOTS - this.inFlight.size;
    if (free <= 0) return;
    const { timeoutMs, maxAttempts } = this.options;
    const rows = await this.db.query(CLAIM_DUE, [free, timeoutMs + 30_000, [...this.sending.keys()], PER_ENDPOINT, maxAttempts, [...this.sending.values()]]);
    if (this.stopped) {
      // Claimed while stopping: handed back untouched, for the next start or another process.
      await Promise.all(rows.map((row) => this.db.query(RELEASE, [row.program_id, row.id, row.attempts])));
      return;
    }
    for (const row of rows) {
      this.sending.set(row.webhook_id, (this.sending.get(row.webhook_id) ?? 0) + 1);
      const send: Promise<void> = this.deliver(row)
        .catch((err) => logBackgroundFailure(this.log, err, "webhook delivery", { delivery: row.id }))
        .finally(() => {
          this.inFlight.delete(send);
          const left = this.sending.get(row.webhook_id)! - 1;
          if (left > 0) this.sending.set(row.webhook_id, left);
          else this.sending.delete(row.webhook_id);
          this.kick();
        });
      this.inFlight.add(send);
    }
  }

  private async deliver(row: any): Promise<void> {
    const { retryBaseMs, maxAttempts } = this.options;
    const finish = (ok: boolean, status: number | null, error: string | null, never = false) =>
      this.db.query(FINISH, [row.program_id, row.id, ok, status, error, never, maxAttempts, retryBaseMs, MAX_RETRY_DELAY_MS, row.attempts]);
    // Pruned (OUTBOX_RETENTION_DAYS) before it could be sent: nothing left to send.
    if (!row.kept) return void (await finish(false, null, "the event is no longer kept (OUTBOX_RETENTION_DAYS)", true));
    const event = {
      id: row.id,
      sequence: row.sequence,
      topic: row.topic,
      programId: row.program_id,
      customerId: row.customer_id ?? null,
      createdAt: new Date(row.created_at).toISOString(),
      payload: row.payload,
    };
    const outcome = await this.post(row.url, row.secret, event);
    // Stopped before an answer: the attempt was not made (not counted, due again).
    if (outcome === "stopped") return void (await this.db.query(RELEASE, [row.program_id, row.id, row.attempts]));
    await finish(outcome.error === null, outcome.status, outcome.error);
  }

  /**
   * POSTs one event to an endpoint, signed with its secret: the answer's status, or why there was
   * none; "stopped" when the process stopped first. Used by deliveries and by testWebhook.
   */
  async post(
    endpoint: string,
    secret: string,
    event: { id: string; sequence: string; topic: string } & Record<string, unknown>,
  ): Promise<{ status: number | null; error: string | null } | "stopped"> {
    const { timeoutMs } = this.options;
    const url = new URL(endpoint);
    const refused = refusedHost(url, this.options);
    if (refused) return { status: null, error: `refused: ${refused} (WEBHOOK_ALLOW_PRIVATE_NETWORKS)` };
    const body = JSON.stringify(event);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await request(url, {
        method: "POST",
        body,
        dispatcher: this.agent, // redirects are not followed (undici's request does not)
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.abort.signal]),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        headers: {
          "content-type": "application/json",
          "user-agent": "loyalty-ladder-webhooks",
          "x-loyalty-delivery": event.id,
          "x-loyalty-event": event.topic,
          "x-loyalty-sequence": event.sequence,
          "x-loyalty-signature": webhookSignature(secret, body, Math.floor(Date.now() / 1000)),
        },
      });
      status = res.statusCode;
      if (status < 200 || status >= 300) error = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
      // The status is the answer: what happens to the rest of the body (slow, cut, the process
      // stopping) changes nothing.
      await readSome(res.body).catch(() => undefined);
    } catch (err: any) {
      if (this.abort.signal.aborted) return "stopped";
      if (err?.name === "TimeoutError" || /Timeout/.test(err?.code ?? "")) error = `no answer within ${timeoutMs} ms`;
      else error = String(err?.code ? `${err.code}: ${err.message}` : (err?.message ?? err));
    }
    return { status, error };
  }

  /** Stops claiming, ends the POSTs in flight (each counts as a failed attempt) and waits for their outcomes to be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await this.claiming;
    await Promise.allSettled([...this.inFlight]);
    await this.agent.close().catch(() => undefined);
  }
}

/** Reads at most MAX_ANSWER_BYTES of an answer and drops the rest (a huge or endless body must not fill memory). */
async function readSome(body: AsyncIterable<Buffer> & { destroy?: () => void }): Promise<void> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read >= MAX_ANSWER_BYTES) {
      body.destroy?.();
      return;
    }
  }
}
