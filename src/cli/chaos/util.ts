/** Small helpers of the chaos run: commands, free ports, waiting for a condition. */
import { spawn, SpawnOptions } from "node:child_process";
import { AddressInfo, createServer } from "node:net";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Thrown by a waitFor condition that knows the wait is hopeless (the process it waits for died). */
export class GiveUp extends Error {}

/**
 * Waits until `condition` holds (polled every `everyMs`), or throws `what` after `timeoutMs`.
 * Returns the condition's last truthy value. A condition that throws is retried (a server not up
 * yet refuses connections), unless it throws GiveUp.
 */
export async function waitFor<T>(what: string, condition: () => T | Promise<T>, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/**
 * Runs a command to its end and returns its output; throws with that output when it fails.
 * Resolves on the process's exit, not on its pipes closing: `pg_ctl start` leaves the server
 * running, and a server that inherited a pipe would keep it open for as long as it runs.
 */
export function run(command: string, args: string[], options: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    child.on("error", (err) => reject(new Error(`${command}: ${err.message}`)));
    child.on("exit", (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${output.trim()}`));
    });
  });
}

/**
 * A loopback port nothing listens on now, from the system (a guessed one could be some
 * connection's ephemeral port). PostgreSQL and Redis are given it; they cannot pick their own.
 */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", resolve);
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
