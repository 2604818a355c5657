/**
 * Prometheus metrics (prom-client), served at /metrics: what an operator watches (operations and
 * their latency, errors, live subscriptions, events leaving the outbox, points posted) and what
 * explains the write path's throughput (batch sizes, how long records wait for a batch, the read
 * and the write statement of each batch, batches that met a concurrent writer).
 *
 * Each App has its own registry (tests run several Apps in one process); the process's own metrics
 * (CPU, memory, event loop lag, GC) are collected once per process and merged in at scrape time.
 * Labels take values from closed sets only (root field names of the schema, event topics, fixed
 * words), so no client input can grow the number of series.
 */
import { collectDefaultMetrics, Counter, CounterConfiguration, Gauge, GaugeConfiguration, Histogram, HistogramConfiguration, Registry } from "prom-client";

/** Seconds: from a 0.5 ms statement to a 10 s request. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Records per write batch (at most 64, see WriteBatcher). */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

let processRegistry: Registry | undefined;

/** CPU, memory, event loop lag and GC of this process: collected once, whatever the number of Apps. */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  readonly registry = new Registry();

  // Every metric in this App's registry (and not prom-client's global one).
  private counter<L extends string>(config: CounterConfiguration<L>) {
    return new Counter({ ...config, registers: [this.registry] });
  }
  private histogram<L extends string>(config: HistogramConfiguration<L>) {
    return new Histogram({ ...config, registers: [this.registry] });
  }
  private gauge<L extends string>(config: GaugeConfiguration<L>) {
    return new Gauge({ ...config, registers: [this.registry] });
  }

  /** GraphQL operations by root field (`operation`), type and outcome (ok: no error in the response). */
  readonly operations = this.counter({
    name: "loyalty_graphql_operations_total",
    help: "GraphQL operations answered, by first root field, operation type and outcome (ok or error)",
    labelNames: ["operation", "type", "outcome"] as const,
  });

  readonly operationSeconds = this.histogram({
    name: "loyalty_graphql_operation_duration_seconds",
    help: "Time from Apollo receiving a GraphQL operation over HTTP (body read, credential checked) to its response, by first root field and operation type",
    labelNames: ["operation", "type"] as const,
    buckets: LATENCY_BUCKETS,
  });

  readonly subscriptions = this.gauge({
    name: "loyalty_websocket_connections",
    help: "GraphQL WebSocket connections open (accepted by onConnect)",
  });

  /** Write batches by path: optimistic (no lock: read, tier windows if any, checked write), locked (a transaction). */
  readonly writeBatches = this.counter({
    name: "loyalty_write_batches_total",
    help: "Write batches committed, by path: optimistic (read, then a checked write), locked (a transaction with the customers locked); a batch retried after a configuration change counts once",
    labelNames: ["path"] as const,
  });

  readonly writeBatchesFailed = this.counter({
    name: "loyalty_write_batches_failed_total",
    help: "Write batches that failed as a whole (nothing written); a batch of several records is then written record by record, each its own batch",
  });

  readonly writeContended = this.counter({
    name: "loyalty_write_batches_contended_total",
    help: "Optimistic write batches that met a concurrent writer and were written again on the locked path",
  });

  readonly batchRecords = this.histogram({
    name: "loyalty_write_batch_records",
    help: "Records (touchpoints) per committed write batch",
    buckets: BATCH_SIZE_BUCKETS,
  });

  readonly batchSeconds = this.histogram({
    name: "loyalty_write_batch_duration_seconds",
    help: "Time to write a batch, as the API thread sees it (including the hand-off to the write worker)",
    buckets: LATENCY_BUCKETS,
  });

  readonly queueSeconds = this.histogram({
    name: "loyalty_write_queue_wait_seconds",
    help: "Time a record waits for its write batch to start (the batch before it is being written)",
    buckets: LATENCY_BUCKETS,
  });

  readonly statementSeconds = this.histogram({
    name: "loyalty_write_statement_duration_seconds",
    help: "Round trip of a committed write batch's read, tiers (the tier windows, for programs with tiers) and write statements, of the attempt that committed",
    labelNames: ["statement"] as const,
    buckets: LATENCY_BUCKETS,
  });

  readonly touchpoints = this.counter({
    name: "loyalty_touchpoints_total",
    help: "Touchpoints recorded: written, replayed (a key seen before, answered with the first result), or rejected (no such customer, or a key reused for another request)",
    labelNames: ["outcome"] as const,
  });

  readonly pointsEarned = this.counter({
    name: "loyalty_points_earned_total",
    help: "Points posted by recorded touchpoints (active and pending)",
  });

  readonly events = this.counter({
    name: "loyalty_events_published_total",
    help: "Loyalty events published after commit, by topic and by who published them: the writer (commit) or the outbox relay (relay)",
    labelNames: ["topic", "via"] as const,
  });

  /** The exposition text: this App's metrics and the process's. */
  text(): Promise<string> {
    return Registry.merge([processMetrics(), this.registry]).metrics();
  }
}
