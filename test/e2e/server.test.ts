/** The process around the API: health, readiness, GraphiQL offline, request ids, the committed schema. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import { printedSchema } from "../../src/schema";
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";

let t: TestApp;
let base: string;
beforeAll(async () => {
  t = await startTestApp();
  base = t.server.url.replace("/graphql", "");
});
afterAll(() => t.stop());

it("matches schema/schema.graphql (run `npm run schema` after changing the API)", async () => {
  const committed = readFileSync(join(__dirname, "../../schema/schema.graphql"), "utf8");
  expect(await printedSchema()).toBe(committed);
});

it("answers /healthz, and /readyz only when the database is migrated", async () => {
  expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
  const ready = await fetch(`${base}/readyz`);
  expect(ready.status).toBe(200);
  const [last] = await t.app.db.query(`DELETE FROM migrations WHERE id = (SELECT max(id) FROM migrations) RETURNING *`);
  try {
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as any).detail).toMatch(/migrations pending/);
  } finally {
    await t.app.db.query(`INSERT INTO migrations (id, timestamp, name) VALUES ($1, $2, $3)`, [last.id, last.timestamp, last.name]);
  }
});

it("serves GraphiQL at GET /graphql from local assets only", async () => {
  const page = await fetch(t.server.url, { headers: { accept: "text/html" } });
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain("GraphiQL");
  const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  expect(sources.length).toBe(4);
  for (const src of sources) {
    expect(src.startsWith("/graphiql/")).toBe(true);
    const asset = await fetch(base + src);
    expect(asset.status).toBe(200);
    expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  }
  expect(html).not.toMatch(/https?:\/\/(?!localhost)/);
});

it("takes WebSockets on /graphql only, with the graphql-transport-ws protocol", async () => {
  const open = (path: string) =>
    new Promise<string>((resolve) => {
      const socket = new WebSocket(t.server.wsUrl.replace("/graphql", path), "graphql-transport-ws");
      socket.on("open", () => {
        resolve(`open ${socket.protocol}`);
        socket.close();
      });
      socket.on("unexpected-response", (_req, res) => resolve(`refused ${res.statusCode}`));
      socket.on("error", () => undefined);
    });
  expect(await open("/graphql")).toBe("open graphql-transport-ws");
  expect(await open("/elsewhere")).toBe("refused 400");
});

it("logs an error of its listening socket (accept failing with EMFILE) and goes on serving", async () => {
  const failure = Object.assign(new Error("accept EMFILE"), { code: "EMFILE", syscall: "accept" });
  // Without a listener, an 'error' event throws: in the server, that ends the process.
  expect(() => t.server.http.emit("error", failure)).not.toThrow();
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
});

it("echoes or assigns a request id", async () => {
  const given = await fetch(t.server.url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": "trace-42" },
    body: JSON.stringify({ query: "{ __typename }" }),
  });
  expect(given.headers.get("x-request-id")).toBe("trace-42");
  const assigned = await fetch(`${base}/healthz`);
  expect(assigned.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
});

it("masks an unexpected failure as INTERNAL_SERVER_ERROR with the request id, and stays up", async () => {
  await t.app.db.query(`ALTER TABLE programs RENAME TO programs_gone`);
  try {
    const res = await fetch(t.server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}`, "x-request-id": "boom-1" },
      body: JSON.stringify({ query: "{ programs { id } }" }),
    });
    const body = (await res.json()) as any;
    expect(body.errors[0]).toEqual({
      message: "Internal server error (request boom-1)",
      path: ["programs"],
      extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "boom-1" },
    });
  } finally {
    await t.app.db.query(`ALTER TABLE programs_gone RENAME TO programs`);
  }
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
});
