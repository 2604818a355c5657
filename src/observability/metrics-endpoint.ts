/**
 * GET /metrics: who may scrape, and what they get. With METRICS_TOKEN set, a scraper sends it as a
 * bearer token; without it, only this machine may scrape (a sidecar, a local Prometheus): the
 * figures say how much a business sells, which is not for the internet. With API_PROCESSES the
 * processes share one port, so any one of them answers a scrape: it asks the supervisor, which
 * sums every process's metrics (prom-client's AggregatorRegistry).
 */
import cluster from "node:cluster";
import type { IncomingHttpHeaders } from "node:http";
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { ApolloServerPlugin } from "@apollo/server";
import { AggregatorRegistry, Registry } from "prom-client";
import { Metrics, processMetrics } from "./metrics";

export type MetricsAccess = { ok: true } | { ok: false; status: 401 | 403; message: string };

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;
const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether a scrape from `remoteAddress` with these headers may read the metrics. */
export function metricsAccess(remoteAddress: string | undefined, headers: IncomingHttpHeaders, token: string | undefined): MetricsAccess {
  if (token) {
    const given = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "")?.[1] ?? "";
    // Compared as digests, in constant time: the token's length leaks nothing either.
    if (timingSafeEqual(digest(given), digest(token))) return { ok: true };
    return { ok: false, status: 401, message: "metrics need the METRICS_TOKEN as a bearer token" };
  }
  // A proxy on this machine (nginx, a mesh sidecar) connects from loopback on behalf of anyone:
  // a request it forwarded says so in these headers, and is not this machine's own.
  const forwarded = headers.forwarded ?? headers["x-forwarded-for"] ?? headers["x-real-ip"];
  if (remoteAddress && LOOPBACK.test(remoteAddress) && !forwarded) return { ok: true };
  return { ok: false, status: 403, message: "metrics are served to this machine only unless METRICS_TOKEN is set" };
}

/** GraphQL operations by first root field, type and outcome, and their latency. */
export function operationMetricsPlugin(metrics: Metrics): ApolloServerPlugin<any> {
  // The series of each (operation, type), made once: labels are hashed on every call otherwise.
  type Series = {
    ok: ReturnType<Metrics["operations"]["labels"]>;
    error: ReturnType<Metrics["operations"]["labels"]>;
    seconds: ReturnType<Metrics["operationSeconds"]["labels"]>;
  };
  const series = new Map<string, Series>();
  const seriesOf = (operation: string, type: string) => {
    const key = `${operation} ${type}`;
    let found = series.get(key);
    if (!found) {
      found = {
        ok: metrics.operations.labels({ operation, type, outcome: "ok" }),
        error: metrics.operations.labels({ operation, type, outcome: "error" }),
        seconds: metrics.operationSeconds.labels({ operation, type }),
      };
      series.set(key, found);
    }
    return found;
  };
  return {
    async requestDidStart() {
      const started = performance.now();
      // Until the document validates, its field names are the client's words, not the schema's.
      let operation = "invalid";
      let type = "unknown";
      return {
        async didResolveOperation({ operation: op }) {
          if (!op) return;
          type = op.operation;
          const first = op.selectionSet.selections[0];
          operation = first?.kind === "Field" ? first.name.value : "fragment";
        },
        async willSendResponse({ response }) {
          const failed = response.body.kind === "single" && (response.body.singleResult.errors?.length ?? 0) > 0;
          const { ok, error, seconds } = seriesOf(operation, type);
          (failed ? error : ok).inc();
          seconds.observe((performance.now() - started) / 1000);
        },
      };
    },
  };
}

const REQUEST = "loyalty:metrics";
const REPLY = "loyalty:metrics-reply";

/**
 * In an API process forked by the supervisor, first thing: answer the supervisor's aggregation
 * (prom-client does once an AggregatorRegistry exists) with the process's own metrics, then with
 * the App's too once it exists (shareWithSupervisor). A process still starting would otherwise
 * leave every scrape waiting 5 s for it, just when a restart is what one wants to watch. Its slot
 * (0..API_PROCESSES-1, kept by a replacement) labels its series: summed across processes, a
 * process's counters would vanish from the sum when it dies, which Prometheus reads as a reset.
 */
export function joinClusterMetrics(): void {
  shareInCluster([processMetrics()]);
}

/** In an API process forked by the supervisor: its App's metrics join what the supervisor collects. */
export function shareWithSupervisor(metrics: Metrics): void {
  shareInCluster([processMetrics(), metrics.registry]);
}

function shareInCluster(registries: Registry[]): void {
  if (!cluster.isWorker) return;
  const slot = process.env.LOYALTY_PROCESS_SLOT;
  if (slot) for (const registry of registries) registry.setDefaultLabels({ process: slot });
  new AggregatorRegistry(); // idempotent: its listeners are added once
  AggregatorRegistry.setRegistries(registries);
}

/** Scrapes waiting for the supervisor's answer, by request id (one listener for all of them). */
const waiting = new Map<string, { resolve(text: string): void; reject(err: Error): void }>();

function listenForReplies(): void {
  if (waiting.size > 0) return; // listening already
  process.on("message", onReply);
}

function onReply(message: any): void {
  if (message?.kind !== REPLY) return;
  const scrape = waiting.get(message.id);
  if (!scrape) return;
  waiting.delete(message.id);
  if (waiting.size === 0) process.off("message", onReply);
  if (message.error) scrape.reject(new Error(message.error));
  else scrape.resolve(message.text);
}

/** The exposition text: this process's, or every API process's when this one was forked. */
export async function metricsText(metrics: Metrics): Promise<string> {
  if (!cluster.isWorker || !process.send) return metrics.text();
  const id = randomUUID();
  return new Promise<string>((resolve, reject) => {
    const fail = (err: Error) => {
      if (!waiting.delete(id)) return;
      if (waiting.size === 0) process.off("message", onReply);
      reject(err);
    };
    // The supervisor gives up on a silent process after 5 s (and says so): this is the backstop.
    const timer = setTimeout(() => fail(new Error("the supervisor did not answer with the metrics in 6 s")), 6000);
    listenForReplies();
    waiting.set(id, {
      resolve: (text) => (clearTimeout(timer), resolve(text)),
      reject: (err) => (clearTimeout(timer), reject(err)),
    });
    process.send!({ kind: REQUEST, id }, undefined, undefined, (err) => {
      if (err) {
        clearTimeout(timer);
        fail(err);
      }
    });
  });
}

/** In the supervisor: answers its API processes' requests with every process's metrics. */
export function aggregateForWorkers(onError: (err: unknown) => void): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: any) => {
    if (message?.kind !== REQUEST) return;
    const reply = (body: { text?: string; error?: string }) => {
      // The asker may have exited meanwhile (a shutdown, a crash): a send to it must not throw here.
      if (!worker.isConnected()) return;
      worker.send({ kind: REPLY, id: message.id, ...body }, undefined, (err) => err && onError(err));
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err) => reply({ error: String(err?.message ?? err) }),
    );
  });
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
