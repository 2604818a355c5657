/**
 * PostgreSQL text cannot hold the NUL character: a string with one would fail deep in a statement
 * (and fail a whole write batch). Requests are checked for it up front instead.
 *
 * The same walk refuses JSON nested deeper than MAX_JSON_DEPTH. A request body is parsed before
 * any credential is checked, and a 40 KB body can nest 20,000 levels: a recursive walk (ours, and
 * GraphQL's variable coercion after it) overflows the stack on such a value and the request became
 * a 500. So the walk keeps its own stack (it cannot overflow) and stops at the first value nested
 * too deeply, before anything else recurses into it.
 */

/** No input of the API nests anywhere near this deep (a ladder's criteria are about 8 levels). */
export const MAX_JSON_DEPTH = 64;

/** A request refused before GraphQL sees it: HTTP status and the error as the client gets it. */
export interface JsonShapeProblem {
  status: 400;
  error: { message: string; extensions: { code: "BAD_REQUEST" | "BAD_USER_INPUT"; field: string } };
}

/** A value to visit, with what is needed to name its path should it be the one refused. */
interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  step: string | number | null;
}

/** `variables.input.orderId`, `variables.lines[0].sku`: built only for the value refused. */
function pathOf(frame: Frame): string {
  const steps: Array<string | number> = [];
  for (let f: Frame | null = frame; f && f.step !== null; f = f.parent) steps.push(f.step);
  let path = "";
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i];
    path += typeof step === "number" ? `[${step}]` : path ? `.${step}` : step;
  }
  return path;
}

/** The field as clients name it: `variables.input.orderId` → `input.orderId`. */
const clientField = (path: string) => path.replace(/^variables\./, "") || "query";

/**
 * The first problem of a parsed JSON body (or a graphql-ws subscribe payload), or null: a value
 * nested deeper than MAX_JSON_DEPTH (BAD_REQUEST, field: the top-level entry it is in, e.g. the
 * variable's name), or a NUL character in a string or a key (BAD_USER_INPUT, field: its path).
 */
export function checkJsonShape(body: unknown): JsonShapeProblem | null {
  const stack: Frame[] = [{ value: body, depth: 0, parent: null, step: null }];
  while (stack.length) {
    const frame = stack.pop()!;
    const { value } = frame;
    if (typeof value === "string") {
      if (value.includes("\u0000")) return nulProblem(pathOf(frame));
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    const depth = frame.depth + 1;
    if (depth > MAX_JSON_DEPTH) {
      // Name the entry it is in (`a` for variables.a), not a path thousands of steps long.
      const chain: Frame[] = [];
      for (let f: Frame | null = frame; f; f = f.parent) chain.unshift(f);
      const top = chain[1]?.step === "variables" && chain[2] ? chain[2] : (chain[1] ?? chain[0]);
      const field = clientField(pathOf(top));
      return {
        status: 400,
        error: { message: `${field}: JSON is nested more than ${MAX_JSON_DEPTH} levels deep`, extensions: { code: "BAD_REQUEST", field } },
      };
    }
    // Pushed in reverse so the first NUL found is the first in document order.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth, parent: frame, step: i });
    } else {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i];
        const child: Frame = { value: (value as Record<string, unknown>)[key], depth, parent: frame, step: key };
        // A key is stored as text too (touchpoint data, attributes).
        if (key.includes("\u0000")) return nulProblem(pathOf(child));
        stack.push(child);
      }
    }
  }
  return null;
}

function nulProblem(path: string): JsonShapeProblem {
  const field = clientField(path);
  return { status: 400, error: { message: `${field}: text may not contain the NUL character`, extensions: { code: "BAD_USER_INPUT", field } } };
}
