/** The statistics keeper's configuration (docs/operations.md): defaults, and a wrong value fails at start. */
import { loadConfig } from "../../src/config";

describe("STATS_KEEPER configuration", () => {
  it("runs the keeper by default: every 10 s, due after 500 rows + 10% changed", () => {
    expect(loadConfig({}).statsKeeper).toEqual({ mode: "auto", intervalMs: 10_000, threshold: 500, scaleFactor: 0.1 });
  });

  it("takes its variables", () => {
    const config = loadConfig({
      STATS_KEEPER: "OFF",
      STATS_KEEPER_INTERVAL_MS: "250",
      STATS_KEEPER_ANALYZE_THRESHOLD: "50",
      STATS_KEEPER_ANALYZE_SCALE_FACTOR: "0.02",
    });
    expect(config.statsKeeper).toEqual({ mode: "off", intervalMs: 250, threshold: 50, scaleFactor: 0.02 });
  });

  it("refuses what it cannot mean, naming the variable", () => {
    expect(() => loadConfig({ STATS_KEEPER: "sometimes" })).toThrow('STATS_KEEPER must be auto or off, got "sometimes"');
    expect(() => loadConfig({ STATS_KEEPER_INTERVAL_MS: "10" })).toThrow("STATS_KEEPER_INTERVAL_MS must be an integer >= 100");
    expect(() => loadConfig({ STATS_KEEPER_ANALYZE_SCALE_FACTOR: "-1" })).toThrow("STATS_KEEPER_ANALYZE_SCALE_FACTOR must be a number from 0 to 100");
  });
});
