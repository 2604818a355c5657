/**
 * The bench's report: each scenario's throughput, latency and cores, the API's ratios to the
 * baselines (median of the rounds' ratios), the write path's figures, the layers, and the CPU per
 * purchase by who spends it. Kept apart from bench.ts, which drives the load.
 */
import { median, pooled, Result } from "./bench-stats";
import { describeWritePath, writePathTotal } from "./bench-write-path";

/** The suffix of a scenario's name when it runs against the other build. */
export const OTHER = " (other build)";

/** The API scenarios, by name (each printed with its ratios to the baselines). */
export const API_SCENARIOS = { cold: "api           spread", warm: "api warm      spread", tiers: "api tiers     spread", hot: "api           hot" };

/** The HTTP + GraphQL floor: `{ __typename }`. */
export const NOOP_SCENARIO = "api-noop      -";

/** The layer scenarios (bench-layers.ts), by name: the write path alone, HTTP and GraphQL alone. */
export const LAYER_SCENARIOS = ["layer write path", "layer graphql   "] as const;

/** Prints every scenario's rounds (after the run's heading). */
export function printReport(rounds: Map<string, Result[]>): void {
  const fmt = (n: number, d = 0) => n.toFixed(d).padStart(8);
  console.log(
    `${"scenario".padEnd(20)}${"ops/s".padStart(8)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}${"errors".padStart(8)}${"cores: server/pg/gen".padStart(22)}   api ratios (median of the rounds, their range)`,
  );
  const cores = (r: Result) => (r.cpu ? `${r.cpu.server.toFixed(2)}/${r.cpu.postgres.toFixed(2)}/${r.cpu.generator.toFixed(2)}` : "-").padStart(22);
  const line = (r: Result) => `${r.name.padEnd(20)}${fmt(r.tps)}${fmt(r.p50, 2)}${fmt(r.p99, 2)}${fmt(r.errors)}${cores(r)}`;
  // Per core: purchases per second of CPU used by everyone (server, PostgreSQL, load generator).
  // It tells how much of a gap is CPU.
  const perCore = (r: Result) => (r.cpu ? r.tps / (r.cpu.server + r.cpu.postgres + r.cpu.generator) : NaN);
  /** The API's ratio to a baseline, round by round (each pair measured seconds apart). */
  const ratio = (api: Result[], base: Result[] | undefined, label: string, of: (r: Result) => number = (r) => r.tps) => {
    if (!base) return "";
    const each = api.map((r, i) => of(r) / of(base[i]));
    if (!each.every(Number.isFinite)) return "";
    const range = each.length > 1 ? ` (${Math.min(...each).toFixed(2)}-${Math.max(...each).toFixed(2)})` : "";
    return `${median(each).toFixed(2)} ${label}${range}`;
  };
  for (const spread of ["spread", "hot"]) {
    const of = (prefix: string) => [...rounds.entries()].find(([name]) => name.startsWith(prefix) && name.endsWith(spread))?.[1];
    const tx = of("baseline-tx");
    const cte = of("baseline-cte");
    for (const r of [tx, cte]) if (r) console.log(line(pooled(r)));
    for (const [name, api] of rounds) {
      if (!name.startsWith("api ") || !name.endsWith(spread)) continue;
      const ratios = [ratio(api, tx, "of baseline-tx"), ratio(api, cte, "of baseline-cte"), ratio(api, cte, "per core", perCore)].filter(Boolean).join("; ");
      console.log(`${line(pooled(api))}   ${ratios}`);
      const writePaths = api.map((r) => r.writePath);
      const writePath = writePaths.every((w) => w)
        ? describeWritePath(writePathTotal(writePaths as NonNullable<Result["writePath"]>[]))
        : "not available (the server's /metrics did not answer)";
      console.log(`${"".padEnd(20)}write path: ${writePath}`);
      const theirs = rounds.get(name + OTHER);
      if (theirs) {
        const theirRatios = [ratio(theirs, tx, "of baseline-tx"), ratio(theirs, cte, "of baseline-cte"), ratio(theirs, cte, "per core", perCore)]
          .filter(Boolean)
          .join("; ");
        console.log(`${line({ ...pooled(theirs), name: "  other build" })}   ${theirRatios}`);
        console.log(`${"".padEnd(20)}this build / other build: ${ratio(api, theirs, "ops/s")}; ${ratio(api, theirs, "per core", perCore)}`);
      }
    }
  }
  const noop = rounds.get(NOOP_SCENARIO);
  if (noop) console.log(`${line({ ...pooled(noop), name: "api-noop (floor)" })}   { __typename } over HTTP: the stack alone`);
  const cteSpread = [...rounds.entries()].find(([name]) => name.startsWith("baseline-cte") && name.endsWith("spread"))?.[1];
  for (const name of LAYER_SCENARIOS) {
    const layer = rounds.get(name);
    if (layer) console.log(`${line(pooled(layer))}   ${ratio(layer, cteSpread, "of baseline-cte")}`);
  }
  costPerPurchase(rounds);
}

/**
 * CPU per purchase by who spends it, for the scenarios that split the API's cost: the one-statement
 * baseline, the API on warm customers (the same ledger work, no stage move), the HTTP + GraphQL
 * floor, and the two layers. On a machine where every scenario is CPU-bound, an API's ratio to
 * the baseline is roughly the inverse ratio of these sums.
 */
function costPerPurchase(rounds: Map<string, Result[]>): void {
  const wanted: Array<[string, string]> = [
    ["baseline-cte  spread", "baseline-cte spread"],
    [API_SCENARIOS.warm, "api warm spread"],
    [NOOP_SCENARIO, "api-noop (floor)"],
    [LAYER_SCENARIOS[0], "layer write path"],
    [LAYER_SCENARIOS[1], "layer graphql"],
  ];
  const lines: string[] = [];
  for (const [name, label] of wanted) {
    const result = rounds.get(name);
    const cpu = result && pooled(result).cpu;
    if (!result || !cpu) continue;
    const tps = pooled(result).tps;
    const us = (cores: number) => Math.round((cores * 1e6) / tps);
    const parts = [us(cpu.server), us(cpu.postgres), us(cpu.generator)];
    lines.push(`${label.padEnd(20)}${parts.map((p) => String(p).padStart(6)).join(" /")}  = ${String(parts.reduce((a, b) => a + b, 0)).padStart(5)} µs`);
  }
  if (lines.length === 0) return;
  console.log(`\nCPU per purchase, µs: server / PostgreSQL / load generator (the layers run in the bench process: its CPU is under server)`);
  for (const l of lines) console.log(l);
}
