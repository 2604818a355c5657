/**
 * A TCP proxy between the app and its PostgreSQL server, for tests of what the network does to a
 * connection: it passes bytes through untouched until told to cut one connection at a chosen
 * moment. The database and the driver are the real ones; only the wire is cut.
 */
import { createServer, Socket } from "node:net";
import { AddressInfo } from "node:net";

export interface PgProxy {
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  route(databaseUrl: string): string;
  /**
   * The next statement sent with `marker` in it (a parameter's text) marks its connection; the
   * server's answer to it is dropped and the connection cut both ways, as when the network or the
   * server's host fails between a commit and its acknowledgement. Resolves once that happened.
   */
  loseAnswerTo(marker: string): Promise<void>;
  close(): Promise<void>;
}

export async function startPgProxy(serverUrl: string): Promise<PgProxy> {
  const target = new URL(serverUrl);
  const upstreamPort = Number(target.port || 5432);
  const upstreamHost = target.hostname;
  const open = new Set<Socket>();
  let armed: { marker: Buffer; lost: () => void } | undefined;

  const server = createServer((client) => {
    const upstream = new Socket();
    open.add(client).add(upstream);
    let doomed: (() => void) | undefined;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("error", cut);
      socket.on("close", () => {
        open.delete(socket);
        cut();
      });
    }
    client.on("data", (chunk: Buffer) => {
      if (armed && chunk.includes(armed.marker)) {
        doomed = armed.lost;
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!doomed) return void client.write(chunk);
      // The server has answered (for a statement outside a transaction: committed): the client never hears it.
      cut();
      doomed();
    });
    upstream.connect(upstreamPort, upstreamHost);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    route(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    },
    loseAnswerTo(marker) {
      return new Promise((resolve) => (armed = { marker: Buffer.from(marker), lost: resolve }));
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
