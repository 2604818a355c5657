/**
 * The faults of a chaos run, one after the other on a timeline: PostgreSQL killed (`pg_ctl stop -m
 * immediate`) and restarted after a while, Redis killed (SIGKILL) and restarted, one API process
 * sent SIGTERM while the load goes on (a rolling deploy; the supervisor starts another).
 */
import { ApiUnderTest } from "./api-under-test";
import { ThrowawayPostgres } from "./throwaway-postgres";
import { ThrowawayRedis } from "./throwaway-redis";
import { alive, sleep, waitFor } from "./util";

export type FaultSpec = { kind: "pg" | "redis"; downMs: number } | { kind: "sigterm" };

export interface Fault {
  label: string;
  spec: FaultSpec;
  startedAt: number;
  /** PostgreSQL or Redis accepting connections again; after a SIGTERM, every API process listening again. */
  restoredAt?: number;
  /** SIGTERM: the process signalled, when it was gone and the code it exited with. */
  pid?: number;
  exitedAt?: number;
  exitCode?: number | null;
  error?: string;
}

/** "pg:2,pg:2,redis:5,sigterm": kind, and seconds down for PostgreSQL and Redis; "none": no fault. */
export function parseFaults(text: string): FaultSpec[] {
  if (text.trim() === "none" || text.trim() === "") return [];
  return text.split(",").map((part) => {
    const [kind, seconds] = part.trim().split(":");
    if (kind === "sigterm" && seconds === undefined) return { kind };
    const downMs = Number(seconds ?? 2) * 1000;
    if ((kind === "pg" || kind === "redis") && Number.isFinite(downMs) && downMs >= 0) return { kind, downMs };
    throw new Error(`fault "${part}": expected pg[:seconds], redis[:seconds] or sigterm`);
  });
}

export interface Targets {
  pg: ThrowawayPostgres;
  redis: ThrowawayRedis;
  api: ApiUnderTest;
  processes: number;
}

/**
 * Gap between one fault's restoration and the next fault: the report names what went wrong by the
 * fault window it falls in (1 s before a fault to 2 s after it was restored, checks.ts), and
 * windows that overlapped would blame one fault for another's harm.
 */
const GAP_MS = 3000;

/**
 * Runs the faults spread evenly over [startAt, startAt + durationMs], each to its end (restored)
 * and GAP_MS after it before the next; returns their records. A fault that cannot be restored throws.
 */
export async function runFaults(specs: FaultSpec[], startAt: number, durationMs: number, targets: Targets, onFault: (fault: Fault) => void): Promise<Fault[]> {
  const faults: Fault[] = [];
  const counts = new Map<string, number>();
  for (const [i, spec] of specs.entries()) {
    const previous = faults.at(-1)?.restoredAt;
    const due = Math.max(startAt + ((i + 1) * durationMs) / (specs.length + 1), previous ? previous + GAP_MS : 0);
    if (Date.now() < due) await sleep(due - Date.now());
    const n = (counts.get(spec.kind) ?? 0) + 1;
    counts.set(spec.kind, n);
    const fault: Fault = { label: `${spec.kind === "pg" ? "PostgreSQL" : spec.kind === "redis" ? "Redis" : "SIGTERM"} #${n}`, spec, startedAt: Date.now() };
    faults.push(fault);
    onFault(fault);
    if (spec.kind === "pg") {
      await targets.pg.kill();
      // The outage itself: how long the database stays down is the experiment's parameter.
      await sleep(spec.downMs);
      await targets.pg.start();
      fault.restoredAt = Date.now();
    } else if (spec.kind === "redis") {
      await targets.redis.kill();
      await sleep(spec.downMs);
      await targets.redis.start();
      fault.restoredAt = Date.now();
    } else {
      await sigterm(fault, targets);
    }
  }
  return faults;
}

/** SIGTERM to one forked API process under load; waits for it to end and for its replacement. */
async function sigterm(fault: Fault, { api, processes }: Targets): Promise<void> {
  const [pid] = api.live();
  if (!pid) throw new Error("no live API process to send SIGTERM to");
  fault.pid = pid;
  process.kill(pid, "SIGTERM");
  // The drain has a grace limit of about 10 s (issue 17); 30 s is well past anything graceful.
  await waitFor(`API process ${pid} to exit after SIGTERM`, () => !alive(pid), 30_000, 20);
  fault.exitedAt = Date.now();
  // The supervisor logs the exit (and its code) as it sees it, a moment after.
  const exit = await waitFor(`the supervisor to report process ${pid}'s exit`, () => api.exits.find((e) => e.pid === pid), 10_000, 20).catch(() => null);
  fault.exitCode = exit ? (exit.code ?? null) : undefined;
  await waitFor(`a replacement of API process ${pid}`, () => api.live().length >= processes, 60_000, 50);
  fault.restoredAt = Date.now();
}
