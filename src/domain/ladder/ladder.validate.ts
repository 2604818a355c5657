/** Checks a ladder before it is stored: returns every problem with the input field it concerns. */
import { Ladder, WINDOWABLE_METRICS } from "./ladder.types";

export interface FieldProblem {
  field: string;
  message: string;
}

const STAGE_KEY = /^[a-z][a-z0-9_]{0,62}$/;

export function validateLadder(ladder: Ladder, field = "ladder.stages"): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { stages } = ladder;
  if (stages.length === 0) problems.push({ field, message: "a ladder needs at least one stage" });
  if (stages.length > 50) problems.push({ field, message: "a ladder has at most 50 stages" });
  const keys = new Set<string>();
  const bottomIndex = stages.findIndex((s) => !s.side);
  if (stages.length > 0 && bottomIndex < 0) problems.push({ field, message: "a ladder needs at least one stage that is not a side stage" });
  stages.forEach((stage, i) => {
    const at = `${field}[${i}]`;
    if (!STAGE_KEY.test(stage.key)) {
      problems.push({ field: `${at}.key`, message: "a stage key is lower-case letters, digits and _, starting with a letter (at most 63)" });
    }
    if (keys.has(stage.key)) problems.push({ field: `${at}.key`, message: `duplicate stage key "${stage.key}"` });
    keys.add(stage.key);
    if (!stage.name || stage.name.trim().length === 0 || stage.name.length > 100) {
      problems.push({ field: `${at}.name`, message: "a stage name is 1 to 100 characters" });
    }
    if (i === bottomIndex && stage.paths.length > 0) {
      problems.push({ field: `${at}.paths`, message: "the bottom stage is where every customer starts: it has no paths" });
    }
    if (i !== bottomIndex && stage.paths.length === 0) {
      problems.push({ field: `${at}.paths`, message: "every stage above the bottom (and every side stage) needs at least one path" });
    }
    stage.paths.forEach((path, p) => {
      if (path.length === 0) problems.push({ field: `${at}.paths[${p}]`, message: "a path needs at least one criterion" });
      path.forEach((criterion, k) => {
        const cf = `${at}.paths[${p}][${k}]`;
        if (!Number.isFinite(criterion.value)) problems.push({ field: `${cf}.value`, message: "value must be a finite number" });
        if (criterion.windowDays !== undefined && criterion.windowDays !== null) {
          if (!WINDOWABLE_METRICS.has(criterion.metric)) {
            problems.push({ field: `${cf}.windowDays`, message: `${criterion.metric} does not take a window` });
          } else if (!Number.isInteger(criterion.windowDays) || criterion.windowDays < 1 || criterion.windowDays > 3650) {
            problems.push({ field: `${cf}.windowDays`, message: "windowDays is a whole number of days from 1 to 3650" });
          }
        }
      });
    });
  });
  return problems;
}
