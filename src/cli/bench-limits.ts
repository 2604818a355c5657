/**
 * The bench's two limits scenarios (BENCH_ONLY=limits):
 *   - "limits overhead": what the request limits add to one recordPurchase, measured in this
 *     process on the same document the API scenarios send: pricing it (graphql-query-complexity
 *     over the document), pricing the answer, and the bucket's take and refund, in process and,
 *     when Redis answers, through Redis (one round trip each). Parsing and validation are not
 *     repeated per request: Apollo keeps validated documents by hash, so the limit rules run once
 *     per distinct document. Printed as µs per purchase and as a share of the API's CPU per
 *     purchase (server + PostgreSQL) in the warm scenario of the same run.
 *   - "limits victim": a PARTNER key posting purchases from 4 clients alone, then the same while
 *     another PARTNER key floods the server from 28 clients with the most expensive reads its
 *     ceiling allows. The victim's p99 under flood against alone is the figure (goal: within 2×).
 */
import { Redis } from "ioredis";
import { parse, OperationDefinitionNode } from "graphql";
import { Pool } from "undici";
import { getSchema } from "../schema";
import { actualCost, requestedCost } from "../api/limits/cost";
import { CostBuckets, MemoryBuckets, RedisBuckets } from "../api/limits/buckets";
import { percentile } from "./bench-stats";

export interface LoadResult {
  ops: number;
  seconds: number;
  p50: number;
  p99: number;
  statuses: Map<number, number>;
}

/**
 * `concurrency` loops sending `body(i)` with `token` for `seconds` (after a 1 s ramp-up). With
 * `honorRetryAfter`, a loop told 429 waits the Retry-After it was given, as a client should.
 */
export async function load(
  url: string,
  token: string,
  concurrency: number,
  seconds: number,
  body: (i: number) => string,
  honorRetryAfter = false,
): Promise<LoadResult> {
  const { origin, pathname } = new URL(url);
  const pool = new Pool(origin, { connections: concurrency });
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let measuring = false;
  let stop = false;
  let seq = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const t0 = performance.now();
      const res = await pool.request({
        path: pathname,
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: body(seq++),
      });
      await res.body.text();
      if (honorRetryAfter && res.statusCode === 429) await new Promise((r) => setTimeout(r, Number(res.headers["retry-after"] ?? 1) * 1000));
      if (!measuring) continue;
      latencies.push(performance.now() - t0);
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    }
  });
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(loops);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, seconds: elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), statuses };
}

/** µs of CPU the limits spend on one request of `query` answered with `answer`, with `buckets`. */
async function overheadPerRequest(
  query: string,
  variables: Record<string, unknown>,
  answer: unknown,
  buckets: CostBuckets,
  iterations: number,
): Promise<number> {
  const schema = await getSchema();
  const document = parse(query);
  const operation = document.definitions[0] as OperationDefinitionNode;
  // One PARTNER key posting purchases: one bucket, as in the API, with a PARTNER's lease (2% of
  // 60,000). It refills faster than a PARTNER's so that this loop, which runs far faster than the
  // API, measures the taking and not a drained bucket's refusals.
  const bucket = { size: 60_000, restorePerSecond: 1_000_000 };
  const once = async () => {
    const cost = requestedCost(schema, document, variables);
    await buckets.take("bench:partner", bucket, 0);
    await buckets.take("bench:partner", bucket, cost);
    const refund = cost - actualCost(schema, document, operation, answer);
    if (refund > 0) await buckets.take("bench:partner", bucket, -refund);
  };
  // 32 at once, as the server has them in flight (Redis commands then share round trips).
  const run = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < count) {
          next++;
          await once();
        }
      }),
    );
  };
  await run(2000); // compiled before measuring
  const before = process.cpuUsage();
  await run(iterations);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / iterations;
}

export interface Overhead {
  memoryUs: number;
  redisUs: number | null;
}

/** The limits' CPU per recordPurchase, with in-process buckets and (if it answers) Redis. */
export async function limitsOverhead(query: string, variables: Record<string, unknown>, answer: unknown, redisUrl: string): Promise<Overhead> {
  const memoryUs = await overheadPerRequest(query, variables, answer, new MemoryBuckets(), 50_000);
  let redisUs: number | null = null;
  const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  probe.on("error", () => undefined);
  const reachable = await probe.connect().then(
    () => true,
    () => false,
  );
  probe.disconnect();
  if (reachable) {
    const buckets = new RedisBuckets(redisUrl, (err) => console.error("limits overhead: redis:", err));
    await new Promise((r) => setTimeout(r, 200));
    // The Redis server's own CPU is not counted: like PostgreSQL's, it is another process's.
    redisUs = await overheadPerRequest(query, variables, answer, buckets, 10_000);
    await buckets.close();
  }
  return { memoryUs, redisUs };
}

export interface VictimRuns {
  /** One PARTNER key posting purchases from every client, alone. */
  partner: LoadResult;
  alone: LoadResult;
  /** The other key's clients wait the Retry-After they are given. */
  politeFlood: { victim: LoadResult; flood: LoadResult };
  /** The other key's clients ignore 429s and send again at once. */
  hostileFlood: { victim: LoadResult; flood: LoadResult };
}

export function printLimits(overhead: Overhead | null, apiCpuPerPurchaseUs: number | null, victim: VictimRuns | null): void {
  console.log(`\nrequest limits`);
  if (overhead) {
    const share = (us: number) =>
      apiCpuPerPurchaseUs
        ? ` = ${((100 * us) / apiCpuPerPurchaseUs).toFixed(1)}% of the API's ${Math.round(apiCpuPerPurchaseUs)} µs per warm purchase (server + PostgreSQL)`
        : "";
    console.log(`  limits overhead, in-process buckets: ${overhead.memoryUs.toFixed(1)} µs of CPU per recordPurchase${share(overhead.memoryUs)}`);
    if (overhead.redisUs !== null)
      console.log(
        `  limits overhead, Redis buckets:      ${overhead.redisUs.toFixed(1)} µs of this process's CPU per recordPurchase${share(overhead.redisUs)}`,
      );
  }
  if (victim) {
    const line = (name: string, r: LoadResult) =>
      `  ${name.padEnd(44)}${(r.ops / r.seconds).toFixed(0).padStart(8)}/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  ${[...r.statuses].map(([s, n]) => `${s}: ${n}`).join(", ")}`;
    console.log(line(`one PARTNER key, purchases (all clients)`, victim.partner));
    console.log(line("victim alone (4 clients)", victim.alone));
    for (const [label, run] of [
      ["waits its Retry-After", victim.politeFlood],
      ["ignores 429s", victim.hostileFlood],
    ] as const) {
      console.log(line(`victim, while a key that ${label} floods`, run.victim));
      console.log(line(`  the flood (28 clients)`, run.flood));
      console.log(`  victim p99 under that flood / alone: ${(run.victim.p99 / victim.alone.p99).toFixed(2)}× (goal: at most 2×)`);
    }
  }
}
