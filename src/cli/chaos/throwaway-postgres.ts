/**
 * A PostgreSQL server of the chaos run's own: initdb into a temporary folder, on a free loopback
 * port and a socket in that folder, so killing it can never touch the machine's server. Removed at
 * the end. PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user
 * (CHAOS_PG_USER), which owns the folder.
 */
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort, run } from "./util";

export interface ThrowawayPostgres {
  port: number;
  /** A URL of database `name` on this server. */
  url(name: string): string;
  /** `pg_ctl stop -m immediate`: every backend ends at once, no checkpoint (a crash, as far as data goes). */
  kill(): Promise<void>;
  /** Starts the server (crash recovery after a kill) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server if it runs and deletes its folder. */
  remove(): Promise<void>;
  /** The server's own log (recovery messages), for a run that failed. */
  logFile: string;
}

/** Where initdb and pg_ctl are: CHAOS_PG_BIN, else on PATH, else the newest /usr/lib/postgresql/N/bin. */
function binDir(): string {
  if (process.env.CHAOS_PG_BIN) return process.env.CHAOS_PG_BIN;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  const versions = existsSync("/usr/lib/postgresql")
    ? readdirSync("/usr/lib/postgresql")
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) if (existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)) return `/usr/lib/postgresql/${v}/bin`;
  throw new Error("initdb not found: install PostgreSQL's server binaries or set CHAOS_PG_BIN to their folder");
}

/** How to run a PostgreSQL command: as ourselves, or as root through runuser as the owner of the data. */
async function runner(dir: string): Promise<(command: string, args: string[]) => Promise<string>> {
  if (process.getuid?.() !== 0) return (command, args) => run(command, args);
  const user = process.env.CHAOS_PG_USER ?? "postgres";
  let uid: number;
  let gid: number;
  try {
    uid = Number((await run("id", ["-u", user])).trim());
    gid = Number((await run("id", ["-g", user])).trim());
  } catch {
    throw new Error(`running as root: PostgreSQL refuses root, and there is no user "${user}" to run it as (set CHAOS_PG_USER, or run as a normal user)`);
  }
  chownSync(dir, uid, gid);
  return (command, args) => run("runuser", ["-u", user, "--", command, ...args]);
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), "loyalty-chaos-pg-"));
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  let running = false;
  let stopNow = async () => undefined as unknown;
  try {
    const as = await runner(dir);
    const port = await freePort();
    // Belt and braces: whatever the system hands out, never the machine's own server.
    if (port === 5432) throw new Error("refusing port 5432: that is the machine's PostgreSQL");
    await as(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    // In the configuration rather than on pg_ctl's command line, so every restart gets the same.
    // Autovacuum and the rest stay at their defaults.
    appendFileSync(data + "/postgresql.conf", `\n# chaos run\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\n`);
    const pgCtl = (...args: string[]) => as(join(bin, "pg_ctl"), ["-D", data, ...args]);
    stopNow = () => pgCtl("-m", "immediate", "stop");
    const server: ThrowawayPostgres = {
      port,
      logFile,
      url: (name) => `postgresql://postgres@127.0.0.1:${port}/${name}`,
      async kill() {
        await pgCtl("-m", "immediate", "stop");
        running = false;
      },
      async start() {
        await pgCtl("-l", logFile, "-w", "-t", "120", "start");
        running = true;
      },
      async remove() {
        if (running) await stopNow().catch(() => undefined);
        running = false;
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await server.start();
    return server;
  } catch (err) {
    if (running) await stopNow().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
