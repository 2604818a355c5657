/**
 * Purchases from many clients, as a careful integration posts them: every order has its own id (the
 * idempotency key), and an order is sent again with the same id after any failure that may be
 * passing (no connection, a reset, 5xx, a retryable GraphQL error) until it is answered or its
 * deadline passes. Every attempt is recorded with how it ended.
 *
 * One TCP connection per request (no keep-alive), so what a failure means is unambiguous: refused
 * before connecting = the server never had the request (no process listening, a restart); cut off
 * after connecting, or never answered = the server accepted the request and dropped it, the failure
 * a graceful drain must prevent. With keep-alive a server closing an idle connection just as a
 * request goes out looks the same as a drop, and the count would mean nothing.
 */
import { request } from "node:http";
import { sleep } from "./util";

/** How an attempt ended: "ok", or a failure kind (see classify). */
export type Outcome = "ok" | "refused" | "reset" | "timeout" | "rate limited" | `http ${number}` | `${string} error`;

export interface Attempt {
  startedAt: number;
  endedAt: number;
  outcome: Outcome;
}

export interface Order {
  id: string;
  customer: string;
  amount: number;
  startedAt: number;
  attempts: Attempt[];
  /** When the answer came (ok), and what it said. */
  answeredAt?: number;
  pointsEarned?: number;
  pointsPending?: number;
  /** The answer was a replay: an earlier attempt of this order had been committed. */
  replayed?: boolean;
  /** An answer that is not worth retrying (a bug of the harness or the server), or the deadline passed. */
  failed?: string;
}

/** Failures that say the server had the request and did not answer it. */
export const DROPPED: ReadonlySet<Outcome> = new Set<Outcome>(["reset", "timeout"]);

interface Reply {
  outcome: "answer" | "refused" | "reset" | "timeout";
  status?: number;
  retryAfterMs?: number;
  text?: string;
  detail?: string;
}

/** One POST on a connection of its own: its answer, or where it failed (see the header). */
function postOnce(url: URL, body: string, key: string, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const finish = (reply: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${key}` },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          const retryAfter = Number(res.headers["retry-after"]);
          finish({ outcome: "answer", status: res.statusCode, text, retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined });
        });
        // A response cut off before its end is an answer the client never got.
        res.on("close", () => res.complete || finish({ outcome: "reset", detail: "response cut off" }));
      },
    );
    req.on("socket", (socket) => socket.once("connect", () => (connected = true)));
    req.on("error", (err: NodeJS.ErrnoException) => finish({ outcome: connected ? "reset" : "refused", detail: err.code ?? err.message }));
    const timer = setTimeout(() => {
      finish({ outcome: connected ? "timeout" : "refused", detail: `no answer in ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.end(body);
  });
}

const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned pointsPending replayed } }`;

/** GraphQL error codes worth the same request again, besides any error marked extensions.retryable. */
const RETRYABLE_CODES = new Set(["UNAVAILABLE", "INTERNAL_SERVER_ERROR"]);

type Verdict = { outcome: Outcome; retry: boolean; retryAfterMs?: number; data?: any; message?: string };

/** What an answer means for the order: done, worth retrying (and how it failed), or a final failure. */
function classify(reply: Reply): Verdict {
  if (reply.outcome !== "answer") return { outcome: reply.outcome, retry: true, message: reply.detail };
  const status = reply.status ?? 0;
  let body: any;
  try {
    body = JSON.parse(reply.text ?? "");
  } catch {
    body = null;
  }
  if (status === 429) return { outcome: "rate limited", retry: true, retryAfterMs: reply.retryAfterMs };
  const data = body?.data?.recordPurchase;
  if (data && !body.errors) return { outcome: "ok", retry: false, data };
  const error = body?.errors?.[0];
  const code = String(error?.extensions?.code ?? `HTTP_${status}`);
  const retryable = error?.extensions?.retryable === true || RETRYABLE_CODES.has(code) || status >= 500;
  const outcome: Outcome = error ? `${code}${error.extensions?.retryable === true ? " (retryable)" : ""} error` : `http ${status}`;
  return { outcome, retry: retryable, retryAfterMs: reply.retryAfterMs, message: error?.message ?? reply.text?.slice(0, 200) };
}

export interface LoadOptions {
  url: string;
  key: string;
  programId: string;
  /** Unique per run: order ids never meet those of another run. */
  runId: string;
  clients: number;
  customers: number;
  attemptTimeoutMs: number;
  orderDeadlineMs: number;
}

export class Load {
  readonly orders: Order[] = [];
  private readonly url: URL;

  constructor(private readonly options: LoadOptions) {
    this.url = new URL(options.url);
  }

  /** Posts one order until it is answered, fails for good, or its deadline passes. */
  async post(customer: string, amount: number, id: string): Promise<Order> {
    const order: Order = { id, customer, amount, startedAt: Date.now(), attempts: [] };
    this.orders.push(order);
    const body = JSON.stringify({
      query: PURCHASE,
      variables: { input: { programId: this.options.programId, customerExternalId: customer, orderId: id, amount, currency: "EUR" } },
    });
    const deadline = order.startedAt + this.options.orderDeadlineMs;
    for (let n = 0; ; n++) {
      const startedAt = Date.now();
      const verdict = classify(await postOnce(this.url, body, this.options.key, this.options.attemptTimeoutMs));
      const endedAt = Date.now();
      order.attempts.push({ startedAt, endedAt, outcome: verdict.outcome });
      if (verdict.outcome === "ok") {
        order.answeredAt = endedAt;
        order.pointsEarned = verdict.data.pointsEarned;
        order.pointsPending = verdict.data.pointsPending;
        order.replayed = verdict.data.replayed;
        return order;
      }
      if (!verdict.retry) {
        order.failed = `${verdict.outcome}: ${verdict.message}`;
        return order;
      }
      // Doubling from 50 ms up to 2 s, jittered so the clients do not come back in step; or what Retry-After says.
      const backoff = verdict.retryAfterMs ?? Math.min(2000, 50 * 2 ** n) * (0.5 + Math.random());
      if (Date.now() + backoff > deadline) {
        order.failed = `no answer within ${this.options.orderDeadlineMs} ms (last: ${verdict.outcome}${verdict.message ? `, ${verdict.message}` : ""})`;
        return order;
      }
      await sleep(backoff);
    }
  }

  /** The clients post orders of random customers and amounts, one after the other each, until `endAt`. */
  async run(endAt: number): Promise<void> {
    await Promise.all(
      Array.from({ length: this.options.clients }, async (_, client) => {
        for (let n = 0; Date.now() < endAt; n++) {
          const customer = `customer-${Math.floor(Math.random() * this.options.customers)}`;
          await this.post(customer, 1 + Math.floor(Math.random() * 100), `${this.options.runId}-${client}-${n}`);
        }
      }),
    );
  }
}
