/**
 * The stage engine: pure functions of (ladder, metrics). The write path, the recompute job and the
 * `nextStage` field all call these, so "why is this member an Advocate?" has one answer everywhere.
 */
import { Comparator, Criterion, CriterionResult, Ladder, MetricReader, StageDefinition, StageReason } from "./ladder.types";

export function compare(have: number | null, op: Comparator, value: number): boolean {
  if (have === null || Number.isNaN(have)) return false;
  switch (op) {
    case Comparator.GTE:
      return have >= value;
    case Comparator.GT:
      return have > value;
    case Comparator.LTE:
      return have <= value;
    case Comparator.LT:
      return have < value;
    case Comparator.EQ:
      return have === value;
  }
}

const OP_SYMBOL: Record<Comparator, string> = {
  [Comparator.GTE]: ">=",
  [Comparator.GT]: ">",
  [Comparator.LTE]: "<=",
  [Comparator.LT]: "<",
  [Comparator.EQ]: "=",
};

export function describeCriterion(c: Criterion, have?: number | null): string {
  const window = c.windowDays ? ` (${c.windowDays}d)` : "";
  const seen = have === undefined ? "" : ` ${have === null ? "none" : round(have)}`;
  return `${c.metric}${window}${seen} ${OP_SYMBOL[c.op]} ${c.value}`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function evaluateCriterion(c: Criterion, read: MetricReader): CriterionResult {
  const have = read(c.metric, c.windowDays ?? null);
  return { ...c, windowDays: c.windowDays ?? null, have, passed: compare(have, c.op, c.value) };
}

/** The first path of the stage whose criteria all hold, with the values seen; null when none holds. */
export function stageHolds(stage: StageDefinition, read: MetricReader): StageReason | null {
  if (stage.paths.length === 0) {
    return { stage: stage.key, pathIndex: null, criteria: [], summary: "entry stage" };
  }
  for (let i = 0; i < stage.paths.length; i++) {
    const path = stage.paths[i];
    // Check first, describe only the path that holds: most paths of most stages fail, and the
    // results (a copy of each criterion) are what this costs. Every criterion is still read, so a
    // window that was not loaded fails here as before.
    let holds = true;
    for (const c of path) if (!compare(read(c.metric, c.windowDays ?? null), c.op, c.value)) holds = false;
    if (!holds) continue;
    const results = path.map((c) => evaluateCriterion(c, read));
    if (results.every((r) => r.passed)) {
      return {
        stage: stage.key,
        pathIndex: i,
        criteria: results,
        summary: results.map((r) => describeCriterion(r, r.have)).join(" and "),
      };
    }
  }
  return null;
}

/**
 * The stage a customer stands on: the first side stage that holds (lapsed, disqualified), else the
 * highest ladder stage that holds. The bottom stage always holds, so there is always an answer.
 */
export function evaluateLadder(ladder: Ladder, read: MetricReader): StageReason {
  for (const stage of ladder.stages) {
    if (!stage.side) continue;
    const held = stageHolds(stage, read);
    if (held) return held;
  }
  const rungs = ladder.stages.filter((s) => !s.side);
  for (let i = rungs.length - 1; i > 0; i--) {
    const held = stageHolds(rungs[i], read);
    if (held) return held;
  }
  return { stage: rungs[0].key, pathIndex: null, criteria: [], summary: "entry stage" };
}

export interface Requirement {
  criterion: Criterion;
  have: number | null;
  need: number;
  met: boolean;
}

export interface NextStage {
  stage: StageDefinition;
  /** The closest path: the one with the fewest criteria still unmet (ties: the first). */
  pathIndex: number;
  requirements: Requirement[];
}

/**
 * What would move a customer up one rung: the next ladder stage above the current one and the
 * criteria of its closest path. A customer on a side stage is measured against the rung above the
 * highest ladder stage that holds. Null at the top of the ladder.
 */
export function nextStage(ladder: Ladder, currentKey: string, read: MetricReader): NextStage | null {
  const rungs = ladder.stages.filter((s) => !s.side);
  let index = rungs.findIndex((s) => s.key === currentKey);
  if (index < 0) {
    // On a side stage: where would the ladder alone place them?
    index = 0;
    for (let i = rungs.length - 1; i > 0; i--) {
      if (stageHolds(rungs[i], read)) {
        index = i;
        break;
      }
    }
  }
  const target = rungs[index + 1];
  if (!target) return null;
  let best: NextStage | null = null;
  let bestUnmet = Infinity;
  target.paths.forEach((path, pathIndex) => {
    const requirements = path.map((criterion) => {
      const result = evaluateCriterion(criterion, read);
      return { criterion, have: result.have, need: criterion.value, met: result.passed };
    });
    const unmet = requirements.filter((r) => !r.met).length;
    if (unmet < bestUnmet) {
      best = { stage: target, pathIndex, requirements };
      bestUnmet = unmet;
    }
  });
  return best;
}

/** The distinct (metric, window) pairs a ladder reads: what the write path must load to evaluate it. */
export function windowsUsed(ladder: Ladder): Array<{ metric: Criterion["metric"]; windowDays: number }> {
  const seen = new Map<string, { metric: Criterion["metric"]; windowDays: number }>();
  for (const stage of ladder.stages) {
    for (const path of stage.paths) {
      for (const c of path) {
        if (c.windowDays) seen.set(`${c.metric}:${c.windowDays}`, { metric: c.metric, windowDays: c.windowDays });
      }
    }
  }
  return [...seen.values()];
}
