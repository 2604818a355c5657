/**
 * A Redis of the chaos run's own: a child process on a free loopback port, nothing saved to disk.
 * Killed with SIGKILL (an outage, not a shutdown: no goodbye to its clients) and restarted on the
 * same port, empty, as a Redis without persistence comes back.
 */
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, GiveUp, waitFor } from "./util";

export interface ThrowawayRedis {
  port: number;
  url: string;
  kill(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}

/** One PING on a fresh connection: true when Redis answers PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      answer += d;
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
    });
  });
}

export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const binary = process.env.CHAOS_REDIS_SERVER ?? "redis-server";
  const port = await freePort();
  // Its working folder: with --save "" nothing should land there, but never the caller's folder.
  const dir = mkdtempSync(join(tmpdir(), "loyalty-chaos-redis-"));
  let child: ChildProcess | null = null;
  let output = "";
  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
  const redis: ThrowawayRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      output = "";
      const started = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = started;
      started.stdout!.on("data", (d) => (output += d));
      started.stderr!.on("data", (d) => (output += d));
      const failed = new Promise<never>((_, reject) => started.once("error", (err) => reject(new Error(`${binary}: ${err.message} (set CHAOS_REDIS_SERVER)`))));
      failed.catch(() => undefined);
      await Promise.race([
        failed,
        waitFor(
          `Redis on port ${port}`,
          async () => {
            if (exited(started)) throw new GiveUp(`redis-server exited: ${output.trim()}`);
            return ping(port);
          },
          20_000,
        ),
      ]);
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || exited(running)) return;
      const gone = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGKILL");
      await gone;
    },
    async remove() {
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await redis.start();
  } catch (err) {
    await redis.remove();
    throw err;
  }
  return redis;
}
