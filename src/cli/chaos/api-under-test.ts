/**
 * The API under test, as an operator runs it: `node dist/src/main.js` with API_PROCESSES forked
 * processes behind one port (node:cluster), on the throwaway PostgreSQL and Redis. Its log (JSON
 * lines) goes to a file and is read as it comes: which processes listen (pid), which died (code),
 * and how many errors it logged.
 */
import { ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { alive, GiveUp, waitFor } from "./util";

export interface ProcessEvent {
  pid: number;
  at: number;
  /** For an exit: the code the supervisor saw. */
  code?: number | null;
}

export interface ApiUnderTest {
  url: string;
  wsUrl: string;
  supervisor: ChildProcess;
  listening: ProcessEvent[];
  exits: ProcessEvent[];
  /** Log lines at level error or above, by message, and those not in JSON (a crash's stack). */
  errors: Map<string, number>;
  /** API processes that listen and have not exited. */
  live(): number[];
  /** Sends SIGTERM to the supervisor and waits for the whole tree to end. */
  stop(): Promise<number | null>;
}

export interface ApiOptions {
  databaseUrl: string;
  redisUrl: string;
  processes: number;
  adminKey: string;
  logFile: string;
}

export async function startApi(options: ApiOptions): Promise<ApiUnderTest> {
  const main = join(__dirname, "../../main.js");
  const supervisor = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
      API_PROCESSES: String(options.processes),
      // The system picks the port; the processes share it (node:cluster) and log it.
      PORT: "0",
      HOST: "127.0.0.1",
      LOYALTY_ADMIN_KEY: options.adminKey,
      LOYALTY_SEED_DEMO: "false",
      NODE_ENV: "production",
      // info: the lines that say which process listens and which died.
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = createWriteStream(options.logFile);
  const api: ApiUnderTest = {
    url: "",
    wsUrl: "",
    supervisor,
    listening: [],
    exits: [],
    errors: new Map(),
    live: () => api.listening.map((e) => e.pid).filter((pid) => !api.exits.some((x) => x.pid === pid) && alive(pid)),
    async stop() {
      if (supervisor.exitCode !== null || supervisor.signalCode !== null) return supervisor.exitCode;
      const ended = new Promise<number | null>((resolve) => supervisor.once("exit", (code) => resolve(code)));
      supervisor.kill("SIGTERM");
      // The supervisor gives its processes 10 s; past that, nothing is left to be graceful about.
      const timer = setTimeout(() => {
        supervisor.kill("SIGKILL");
        for (const pid of api.live()) process.kill(pid, "SIGKILL");
      }, 15_000);
      const code = await ended;
      clearTimeout(timer);
      log.end();
      return code;
    },
  };
  const read = (stream: NodeJS.ReadableStream) =>
    createInterface({ input: stream }).on("line", (line) => {
      log.write(line + "\n");
      let entry: any;
      try {
        entry = JSON.parse(line);
      } catch {
        // Not ours: a library writing to the console (Apollo's shutdown warning), or a crash's stack.
        const key = `(not JSON) ${line.trim().slice(0, 100)}`;
        if (line.trim()) api.errors.set(key, (api.errors.get(key) ?? 0) + 1);
        return;
      }
      if (entry.msg === "loyalty API listening" && typeof entry.pid === "number") {
        api.listening.push({ pid: entry.pid, at: Date.now() });
        if (!api.url && typeof entry.url === "string") {
          api.url = entry.url;
          api.wsUrl = entry.url.replace(/^http/, "ws");
        }
      } else if (entry.msg === "API process exited: starting another") {
        api.exits.push({ pid: entry.pid, at: Date.now(), code: entry.code });
      }
      if (entry.level >= 50) {
        const key = `${entry.msg}${entry.err?.message ? `: ${String(entry.err.message).slice(0, 100)}` : ""}`;
        api.errors.set(key, (api.errors.get(key) ?? 0) + 1);
      }
    });
  read(supervisor.stdout!);
  read(supervisor.stderr!);
  try {
    await waitFor(
      `${options.processes} API processes listening (log: ${options.logFile})`,
      async () => {
        if (supervisor.exitCode !== null) throw new GiveUp(`the API exited (${supervisor.exitCode}): see ${options.logFile}`);
        return api.live().length >= options.processes && (await fetch(api.url.replace("/graphql", "/readyz"))).ok;
      },
      120_000,
      200,
    );
  } catch (err) {
    await api.stop();
    throw err;
  }
  return api;
}
