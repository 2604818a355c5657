/**
 * The chaos run's own measuring (npm run chaos, docs/chaos.md): a failure it reports must be the
 * server's, so what the clients call a drop, a refusal or a retryable error is checked here against
 * a server that misbehaves on purpose; and the fault timeline's parsing and windows.
 */
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { Load } from "../../src/cli/chaos/clients";
import { faultAt, tally } from "../../src/cli/chaos/checks";
import { Fault, parseFaults } from "../../src/cli/chaos/faults";
import { freePort } from "../../src/cli/chaos/util";

/** A server answering the n-th request (from 0) as `answer` says. */
async function serve(answer: (n: number, req: any, res: any) => void): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => answer(n++, req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, server };
}

const ok = (res: any, replayed = false) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ data: { recordPurchase: { pointsEarned: 20, pointsPending: 0, replayed } } }));
};

const load = (url: string, orderDeadlineMs = 10_000) =>
  new Load({ url, key: "k", programId: "p", runId: "t", clients: 1, customers: 1, attemptTimeoutMs: 500, orderDeadlineMs });

describe("chaos clients", () => {
  it("counts a request cut off after the server accepted it as dropped, and retries it with the same key", async () => {
    const bodies: string[] = [];
    const { url, server } = await serve((n, req, res) => {
      if (n === 0) return req.socket.destroy();
      ok(res, true);
    });
    server.on("request", (req) => req.on("data", (d: Buffer) => bodies.push(d.toString())));
    try {
      const order = await load(url).post("c1", 10, "o1");
      expect(order.attempts.map((a) => a.outcome)).toEqual(["reset", "ok"]);
      expect(order).toMatchObject({ pointsEarned: 20, replayed: true });
      expect(new Set(bodies).size).toBe(1); // the same orderId, the same request
    } finally {
      server.close();
    }
  });

  it("counts an unanswered request as dropped (timeout), a refused connection as not", async () => {
    const { url, server } = await serve((n, _req, res) => (n === 0 ? undefined : ok(res)));
    try {
      expect((await load(url).post("c1", 10, "o1")).attempts.map((a) => a.outcome)).toEqual(["timeout", "ok"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
    const nobody = `http://127.0.0.1:${await freePort()}/graphql`;
    const refused = await load(nobody, 300).post("c1", 10, "o2");
    expect(refused.attempts.length).toBeGreaterThan(0);
    expect(new Set(refused.attempts.map((a) => a.outcome))).toEqual(new Set(["refused"]));
    expect(refused.failed).toMatch(/^no answer within 300 ms/);
  });

  it("retries retryable errors and 5xx, and stops at an error that is not", async () => {
    const { url, server } = await serve((n, _req, res) => {
      const error = (code: string, extensions: object = {}) => res.end(JSON.stringify({ errors: [{ message: code, extensions: { code, ...extensions } }] }));
      if (n === 0) return error("UNAVAILABLE", { retryable: true });
      if (n === 1) return error("INTERNAL_SERVER_ERROR");
      if (n === 2) return res.writeHead(503).end("busy");
      if (n === 3) return ok(res);
      error("BAD_USER_INPUT");
    });
    try {
      const client = load(url);
      const first = await client.post("c1", 10, "o1");
      expect(first.attempts.map((a) => a.outcome)).toEqual(["UNAVAILABLE (retryable) error", "INTERNAL_SERVER_ERROR error", "http 503", "ok"]);
      const refused = await client.post("c1", 10, "o2");
      expect(refused.attempts.map((a) => a.outcome)).toEqual(["BAD_USER_INPUT error"]);
      expect(refused.failed).toBe("BAD_USER_INPUT error: BAD_USER_INPUT");
    } finally {
      server.close();
    }
  });
});

describe("chaos faults", () => {
  it("parses a timeline", () => {
    expect(parseFaults("pg:2,redis:0.5, sigterm")).toEqual([{ kind: "pg", downMs: 2000 }, { kind: "redis", downMs: 500 }, { kind: "sigterm" }]);
    expect(parseFaults("pg")).toEqual([{ kind: "pg", downMs: 2000 }]);
    expect(parseFaults("none")).toEqual([]);
    expect(() => parseFaults("pg:x")).toThrow('fault "pg:x"');
    expect(() => parseFaults("sigterm:3")).toThrow('fault "sigterm:3"');
  });

  it("names the fault a moment falls in: 1 s before to 2 s after it, the later one where two meet", () => {
    const fault = (label: string, startedAt: number, restoredAt: number): Fault => ({ label, spec: { kind: "sigterm" }, startedAt, restoredAt });
    const faults = [fault("a", 10_000, 12_000), fault("b", 13_500, 20_000)];
    expect(faultAt(faults, 8_999)).toBeUndefined();
    expect(faultAt(faults, 9_000)?.label).toBe("a");
    expect(faultAt(faults, 13_000)?.label).toBe("b");
    expect(faultAt(faults, 22_000)?.label).toBe("b");
    expect(faultAt(faults, 22_001)).toBeUndefined();
    expect(tally(["x", "y", "x"])).toBe("x: 2, y: 1");
  });
});
