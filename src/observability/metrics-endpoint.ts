/**
 * GET /metrics: who may scrape, and what they get. With METRICS_TOKEN set, a scraper sends it as a
 * bearer token; without it, only this machine may scrape (a sidecar, a local Prometheus): the
 * figures say how much a business sells, which is not for the internet. With API_PROCESSES the
 * processes share one port, so any one of them answers a scrape: it asks the supervisor, which
 * sums every process's metrics (prom-client's AggregatorRegistry).
 */
import cluster from "node:cluster";
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { ApolloServerPlugin } from "@apollo/server";
import { AggregatorRegistry, Registry } from "prom-client";
import { Metrics, processMetrics } from "./metrics";

export type MetricsAccess = { ok: true } | { ok: false; status: 401 | 403; message: string };

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;
const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether a scrape from `remoteAddress` with this Authorization header may read the metrics. */
export function metricsAccess(remoteAddress: string | undefined, authorization: string | undefined, token: string | undefined): MetricsAccess {
  if (token) {
    const given = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1] ?? "";
    // Compared as digests, in constant time: the token's length leaks nothing either.
    if (timingSafeEqual(digest(given), digest(token))) return { ok: true };
    return { ok: false, status: 401, message: "metrics need the METRICS_TOKEN as a bearer token" };
  }
  if (remoteAddress && LOOPBACK.test(remoteAddress)) return { ok: true };
  return { ok: false, status: 403, message: "metrics are served to this machine only unless METRICS_TOKEN is set" };
}

/** GraphQL operations by first root field, type and outcome, and their latency. */
export function operationMetricsPlugin(metrics: Metrics): ApolloServerPlugin<any> {
  // The series of each (operation, type), made once: labels are hashed on every call otherwise.
  type Series = { ok: ReturnType<Metrics["operations"]["labels"]>; error: ReturnType<Metrics["operations"]["labels"]>; seconds: ReturnType<Metrics["operationSeconds"]["labels"]> };
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

/** In an API process forked by the supervisor: what the supervisor's aggregation collects from it. */
export function shareWithSupervisor(metrics: Metrics): void {
  if (!cluster.isWorker) return;
  // Constructing one is what makes prom-client answer the supervisor's requests in this process.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([processMetrics(), metrics.registry]);
}

/** The exposition text: this process's, or every API process's when this one was forked. */
export async function metricsText(metrics: Metrics): Promise<string> {
  if (!cluster.isWorker || !process.send) return metrics.text();
  const id = randomUUID();
  return new Promise<string>((resolve, reject) => {
    // The supervisor gives up on a silent process after 5 s (and says so): this is the backstop.
    const timer = setTimeout(() => done(new Error("the supervisor did not answer with the metrics in 6 s")), 6000);
    const onMessage = (message: any) => {
      if (message?.kind !== REPLY || message.id !== id) return;
      done(message.error ? new Error(message.error) : undefined, message.text);
    };
    const done = (err?: Error, text?: string) => {
      clearTimeout(timer);
      process.off("message", onMessage);
      if (err) reject(err);
      else resolve(text!);
    };
    process.on("message", onMessage);
    process.send!({ kind: REQUEST, id });
  });
}

/** In the supervisor: answers its API processes' requests with the sum of all their metrics. */
export function aggregateForWorkers(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: any) => {
    if (message?.kind !== REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ kind: REPLY, id: message.id, text }),
      (err) => worker.send({ kind: REPLY, id: message.id, error: String(err?.message ?? err) }),
    );
  });
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
