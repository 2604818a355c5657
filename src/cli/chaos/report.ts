/** The chaos run's figures and checks, as the operator reads them (docs/chaos.md). */
import { ApiUnderTest } from "./api-under-test";
import { Check, Delivery, faultAt, tally } from "./checks";
import { DROPPED, Order } from "./clients";
import { Fault } from "./faults";
import { Subscriber } from "./subscribers";

export interface ReportInput {
  config: { seconds: number; clients: number; customers: number; subscribers: number; processes: number };
  runId: string;
  loadStart: number;
  loadEnd: number;
  probes: number;
  orders: Order[];
  faults: Fault[];
  api: ApiUnderTest;
  apiExit: number | null | undefined;
  logFile: string;
  checks: Check[];
  deliveries: Delivery[];
  subscribers: Subscriber[];
  droppedCommitted: number;
  erroredCommitted: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** The smallest of many numbers (Math.min(...xs) overflows the stack past some ten thousand). */
const least = (xs: number[]) => xs.reduce((min, x) => (x < min ? x : min), Infinity);

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => "  " + r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ")).join("\n");
}

/** What each fault did, from the clients' and subscribers' records. */
function faultLine(f: Fault, input: ReportInput): string[] {
  const at = `t+${((f.startedAt - input.loadStart) / 1000).toFixed(1)} s`;
  if (f.error) return [f.label, at, "-", `not restored: ${f.error}`];
  const restored = f.restoredAt ?? f.startedAt;
  const firstOk = least(input.orders.map((o) => o.answeredAt ?? Infinity).filter((t) => t >= restored));
  const writesBack = Number.isFinite(firstOk) ? `writes back ${s(firstOk - restored)} after` : "no write after";
  if (f.spec.kind === "pg") return [f.label, at, s(restored - f.startedAt), `killed (immediate), restarted; ${writesBack}`];
  if (f.spec.kind === "redis") {
    const during = input.orders.filter((o) => o.answeredAt !== undefined && o.answeredAt >= f.startedAt && o.answeredAt <= restored).length;
    const firstEvent = least(input.subscribers.flatMap((sub) => sub.received.map((r) => r.at)).filter((t) => t >= restored));
    const events = Number.isFinite(firstEvent) ? `first event delivered ${s(firstEvent - restored)} after` : "no event delivered after";
    return [f.label, at, s(restored - f.startedAt), `SIGKILL, restarted; ${during} orders answered while down; ${events}`];
  }
  // The other processes go on serving: what matters is what the signalled one did with its requests.
  const meanwhile = input.orders.filter((o) => o.answeredAt !== undefined && o.answeredAt >= f.startedAt && o.answeredAt <= restored).length;
  return [
    f.label,
    at,
    s(restored - f.startedAt),
    `pid ${f.pid} exited ${f.exitCode === undefined ? "(code unknown)" : `with ${f.exitCode}`} after ${s((f.exitedAt ?? restored) - f.startedAt)}; replacement listening after ${s(restored - f.startedAt)}; ${meanwhile} orders answered meanwhile`,
  ];
}

/** Prints everything; returns whether a check failed. */
export function printReport(input: ReportInput): boolean {
  const { orders, faults, checks, deliveries, config } = input;
  const seconds = (input.loadEnd - input.loadStart) / 1000;
  const answered = orders.filter((o) => o.answeredAt !== undefined);
  const attempts = orders.flatMap((o) => o.attempts);
  const failures = attempts.filter((a) => a.outcome !== "ok");
  const latencies = answered.map((o) => o.answeredAt! - o.startedAt).sort((a, b) => a - b);
  const inLoad = answered.filter((o) => o.startedAt >= input.loadStart).length;

  console.log(
    `\n== Chaos run ${input.runId}: ${config.processes} API processes, ${config.clients} clients over ${config.customers} customers, ${seconds.toFixed(1)} s of load`,
  );
  console.log("\nOrders");
  console.log(
    table([
      ["orders", `${orders.length} (${input.probes} of them before the load, until every subscriber had an event)`],
      ["answered", String(answered.length)],
      ["attempts", String(attempts.length)],
      ["retried orders", String(orders.filter((o) => o.attempts.length > 1).length)],
      ["throughput", `${(inLoad / seconds).toFixed(0)} orders/s`],
      ["latency p50 / p99 / max", `${latencies.length ? `${percentile(latencies, 50)} / ${percentile(latencies, 99)} / ${latencies.at(-1)} ms` : "-"}`],
      [
        "answered as replays",
        `${answered.filter((o) => o.replayed).length} (after a drop ${input.droppedCommitted}, after an error ${input.erroredCommitted})`,
      ],
    ]),
  );
  console.log("\nFailed attempts, by cause (and by fault window)");
  const causes = [...new Set(failures.map((a) => a.outcome))];
  console.log(
    causes.length
      ? table([
          ["cause", "attempts", "dropped?", "when"],
          ...causes.map((c) => {
            const these = failures.filter((a) => a.outcome === c);
            return [c, String(these.length), DROPPED.has(c) ? "yes" : "no", tally(these.map((a) => faultAt(faults, a.endedAt)?.label ?? "no fault"))];
          }),
        ])
      : "  none",
  );
  console.log("\nFaults");
  console.log(faults.length ? table([["fault", "at", "down", "what happened"], ...faults.map((f) => faultLine(f, input))]) : "  none (control run)");
  console.log("\nSubscribers (events of their feed from the first one each received)");
  console.log(
    table([
      ["subscriber", "expected", "received", "missing", "duplicates", "out of order", "reconnects", "redelivered on resume"],
      ...deliveries.map((d) => [
        d.name,
        String(d.expected),
        String(d.received),
        String(d.missing.length),
        String(d.duplicates),
        String(d.outOfOrder),
        String(d.reconnects),
        String(d.redelivered),
      ]),
    ]),
  );
  const subscriberErrors = deliveries.flatMap((d) => d.errors.map((e) => `${d.name}: ${e}`));
  if (subscriberErrors.length) console.log(`  errors: ${subscriberErrors.slice(0, 5).join(" | ")}`);
  console.log(
    `\nAPI: ${input.api.listening.length} processes started in all, supervisor exit ${input.apiExit ?? "unknown"}; log ${input.logFile} (kept when a check fails)`,
  );
  if (input.api.errors.size)
    console.log(
      table([
        ["logged error", "lines"],
        ...[...input.api.errors]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([m, n]) => [m.slice(0, 110), String(n)]),
      ]),
    );
  console.log("\nChecks");
  for (const c of checks) console.log(`  ${c.pass ? "PASS" : "FAIL"}  ${c.name}: ${c.detail}`);
  const failed = checks.filter((c) => !c.pass);
  console.log(`\n${failed.length ? `FAIL: ${failed.length} of ${checks.length} checks` : `PASS: all ${checks.length} checks`}`);
  return failed.length > 0;
}
