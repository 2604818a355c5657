/**
 * The benchmark's arithmetic: CPU used per process (Linux /proc), percentiles, and a scenario's
 * rounds pooled into one result. Kept apart from bench.ts, which drives the load.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { WritePath } from "./bench-write-path";

export interface Result {
  name: string;
  /** Sorted, one per measured call. */
  latencies: number[];
  ops: number;
  seconds: number;
  tps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Cores used while measuring, by who (Linux /proc; empty elsewhere). */
  cpu: { server: number; postgres: number; generator: number } | null;
  /** The API's write path while measuring (from its /metrics); absent for the baselines. */
  writePath?: WritePath | null;
}

/** CPU seconds used so far by a process (Linux), or by every PostgreSQL process together. */
function cpuSeconds(select: { pid: number } | { comm: string }): Map<string, number> {
  const ticks = 100; // USER_HZ on Linux
  const read = (pid: string) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      return { comm, ppid: fields[1], seconds: (Number(fields[11]) + Number(fields[12])) / ticks };
    } catch {
      return null;
    }
  };
  const found = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    const r = read(pid);
    // A server process and the API processes it forked (API_PROCESSES), or every process of a name.
    const wanted = "pid" in select ? pid === String(select.pid) || r?.ppid === String(select.pid) : r?.comm === select.comm;
    if (r && wanted) found.set(pid, r.seconds);
  }
  return found;
}

/** CPU seconds used between two snapshots by the processes alive at the end (one that started meanwhile counts from 0). */
function used(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** CPU seconds so far: the server process `serverPid` (and its children), PostgreSQL, this process. */
export function cpuSnapshot(serverPid: number) {
  if (!existsSync("/proc/self/stat")) return null;
  const own = process.cpuUsage();
  // No server process (a scenario served inside this one): nothing to count, not pid 0's children.
  return {
    server: serverPid > 0 ? cpuSeconds({ pid: serverPid }) : new Map<string, number>(),
    postgres: cpuSeconds({ comm: "postgres" }),
    generator: (own.user + own.system) / 1e6,
  };
}

export function cpuBetween(a: NonNullable<ReturnType<typeof cpuSnapshot>>, b: NonNullable<ReturnType<typeof cpuSnapshot>>, seconds: number) {
  return { server: used(a.server, b.server) / seconds, postgres: used(a.postgres, b.postgres) / seconds, generator: (b.generator - a.generator) / seconds };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One scenario over every round: throughput over the measured time, latencies pooled, cores averaged. */
export function pooled(rounds: Result[]): Result {
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const latencies = rounds.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const weighted = (pick: (cpu: NonNullable<Result["cpu"]>) => number) => rounds.reduce((sum, r) => sum + pick(r.cpu!) * r.seconds, 0) / seconds;
  const cpu = rounds.every((r) => r.cpu)
    ? { server: weighted((c) => c.server), postgres: weighted((c) => c.postgres), generator: weighted((c) => c.generator) }
    : null;
  const ops = latencies.length;
  return {
    name: rounds[0].name,
    latencies,
    ops,
    seconds,
    tps: ops / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    cpu,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
