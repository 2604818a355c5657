import { existsSync } from "node:fs";
import { cpuSnapshot, median, pooled, Result } from "../../src/cli/bench-stats";

const round = (latencies: number[], seconds: number, server: number): Result => ({
  name: "api           spread",
  latencies,
  ops: latencies.length,
  seconds,
  tps: latencies.length / seconds,
  p50: NaN,
  p99: NaN,
  errors: 1,
  cpu: { server, postgres: 1, generator: 0.5 },
});

describe("bench rounds", () => {
  it("takes the median of odd and even counts", () => {
    expect(median([0.5, 0.3, 0.4])).toBe(0.4);
    expect(median([0.5, 0.3, 0.4, 0.6])).toBeCloseTo(0.45);
  });

  it("pools rounds: throughput over the measured time, latencies merged, cores weighted by time", () => {
    const r = pooled([round([3, 1], 1, 0.2), round([2, 5, 4, 6], 3, 0.6)]);
    expect(r.tps).toBe(6 / 4);
    expect(r.latencies).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.p50).toBe(4);
    expect(r.errors).toBe(2);
    expect(r.cpu!.server).toBeCloseTo((0.2 * 1 + 0.6 * 3) / 4);
  });

  (existsSync("/proc/self/stat") ? it : it.skip)(
    "counts a server process and its children, and nothing for a scenario without one (not pid 0's children)",
    () => {
      expect(cpuSnapshot(process.pid)!.server.has(String(process.pid))).toBe(true);
      expect(cpuSnapshot(0)!.server.size).toBe(0);
    },
  );
});
