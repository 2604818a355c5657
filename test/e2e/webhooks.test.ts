/**
 * Webhooks: an endpoint gets the events of its topics, signed, after commit; failures are retried
 * until FAILED, and sent again on request; a paused endpoint gets nothing; an event whose writer
 * died before publishing still goes out (via the relay); roles and input are checked.
 */
import { createHmac } from "node:crypto";
import { createServer, IncomingMessage, Server } from "node:http";
import { AddressInfo } from "node:net";
import { lookup } from "node:dns";
import { hostname } from "node:os";
import { startTestApp, TestApp } from "../helpers/test-app";
import { until as untilHolds } from "../helpers/until";
import { createKey, griffinProgram, ok, purchase } from "../helpers/operations";

let t: TestApp;
let receiver: Server;
let base: string;
/** What each path received, and how it answers (a list of statuses to use in turn; then 200). */
const received = new Map<string, Array<{ headers: IncomingMessage["headers"]; body: string }>>();
const answers = new Map<string, number[]>();

beforeAll(async () => {
  t = await startTestApp();
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const path = req.url ?? "/";
      received.set(path, [...(received.get(path) ?? []), { headers: req.headers, body }]);
      if (path === "/hang") return; // never answers
      res.statusCode = answers.get(path)?.shift() ?? 200;
      // A 200 whose (small) body ends after the timeout: the status is the answer.
      if (path === "/slow-body") {
        res.write("accepted");
        setTimeout(() => res.end(), 1500);
        return;
      }
      // An answer that never ends: only its status should matter.
      if (path === "/endless") {
        const chunk = "x".repeat(64 * 1024);
        const timer = setInterval(() => res.write(chunk), 5);
        res.on("close", () => clearInterval(timer));
        return;
      }
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await t.stop();
  await new Promise((resolve) => receiver.close(resolve));
});

const CREATE = `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url topics active } } }`;
const DELIVERIES = `query($w: ID!, $s: WebhookDeliveryStatus) { webhookDeliveries(webhookId: $w, status: $s, first: 50) {
  nodes { id sequence topic status attempts lastStatus lastError deliveredAt } } }`;

async function createWebhook(programId: string, path: string, topics: string[], token?: string) {
  return t.gql(CREATE, { i: { programId, url: `${base}${path}`, topics, description: "test" } }, token);
}

/** Waits until `check` holds (the dispatcher runs every 200 ms in tests; retries back off from 200 ms). */
const until = (check: () => boolean | Promise<boolean>, what = "the webhook deliveries") => untilHolds(check, { timeoutMs: 8000, what });

const deliveries = async (webhookId: string, status?: string) => ok(await t.gql(DELIVERIES, { w: webhookId, s: status ?? null })).data.webhookDeliveries.nodes;

describe("webhooks", () => {
  it("delivers the events of its topics after commit, signed with its secret", async () => {
    const programId = await griffinProgram(t);
    const created = ok(await createWebhook(programId, "/moves", ["STAGE_CHANGED"])).data.createWebhook;
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.webhook).toMatchObject({ url: `${base}/moves`, topics: ["STAGE_CHANGED"], active: true });

    ok(await purchase(t, { programId, customerExternalId: "a", orderId: "a1", amount: 10, currency: "EUR" }));
    ok(await purchase(t, { programId, customerExternalId: "a", orderId: "a2", amount: 10, currency: "EUR" }));
    await until(() => (received.get("/moves")?.length ?? 0) >= 2);
    // The moves only, not the touchpoints: a marker move written after them is sent, and every
    // delivery queued for the endpoint is settled (queued in sequence order, so the touchpoints'
    // would be among them); what came besides the marker are the two moves.
    const marker = ok(await purchase(t, { programId, customerExternalId: "m", orderId: "m1", amount: 10, currency: "EUR" })).data.recordPurchase.customer.id;
    const isMarker = (r: { body: string }) => JSON.parse(r.body).customerId === marker;
    await until(async () => received.get("/moves")!.some(isMarker) && (await deliveries(created.webhook.id)).every((d: any) => d.status !== "PENDING"));
    const got = received.get("/moves")!.filter((r) => !isMarker(r));
    expect(got).toHaveLength(2);
    const bodies = got.map((r) => JSON.parse(r.body));
    expect(bodies.map((b) => [b.topic, b.payload.to.key]).sort()).toEqual([
      ["STAGE_CHANGED", "first_time_customer"],
      ["STAGE_CHANGED", "repeat_customer"],
    ]);
    const [outbox] = await t.app.db.query(
      `SELECT array_agg(id::text ORDER BY id) AS ids FROM outbox WHERE program_id = $1 AND topic = 'STAGE_CHANGED' AND customer_id <> $2`,
      [programId, marker],
    );
    expect(bodies.map((b) => b.sequence).sort()).toEqual(outbox.ids.sort());
    for (const { headers, body } of got) {
      expect(headers["content-type"]).toBe("application/json");
      expect(headers["x-loyalty-event"]).toBe("STAGE_CHANGED");
      const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers["x-loyalty-signature"]))!;
      expect(v1).toBe(createHmac("sha256", created.secret).update(`${ts}.${body}`).digest("hex"));
      expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(60);
      expect(JSON.parse(body)).toMatchObject({
        programId,
        customerId: expect.any(String),
        id: headers["x-loyalty-delivery"],
        sequence: headers["x-loyalty-sequence"],
      });
    }
    const listed = await deliveries(created.webhook.id);
    expect(listed.map((d: any) => [d.status, d.attempts, d.lastStatus])).toEqual([
      ["DELIVERED", 1, 200],
      ["DELIVERED", 1, 200],
      ["DELIVERED", 1, 200], // the marker's
    ]);
  });

  it("retries a failing endpoint, gives up after the attempts, and sends again on request", async () => {
    const programId = await griffinProgram(t);
    const flaky = ok(await createWebhook(programId, "/flaky", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    const down = ok(await createWebhook(programId, "/down", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    // In another program, sent only later: its delivery shows that the dispatcher went on after /down failed.
    const elsewhere = await griffinProgram(t);
    const later = ok(await createWebhook(elsewhere, "/after-down", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    answers.set("/flaky", [500, 503]);
    answers.set("/down", [500, 500, 500]);
    ok(await purchase(t, { programId, customerExternalId: "b", orderId: "b1", amount: 10, currency: "EUR" }));

    await until(async () => (await deliveries(flaky.id, "DELIVERED")).length === 1);
    expect((await deliveries(flaky.id))[0]).toMatchObject({ status: "DELIVERED", attempts: 3, lastStatus: 200 });
    expect(received.get("/flaky")).toHaveLength(3);

    await until(async () => (await deliveries(down.id, "FAILED")).length === 1);
    const [failed] = await deliveries(down.id);
    expect(failed).toMatchObject({ status: "FAILED", attempts: 3, lastStatus: 500, lastError: "HTTP 500", deliveredAt: null });
    // No more after FAILED: a later event is sent to another endpoint of the program after several
    // of the dispatcher's rounds (its retries back off from 200 ms), and /down had nothing more meanwhile.
    ok(await purchase(t, { programId: elsewhere, customerExternalId: "b2", orderId: "b2", amount: 10, currency: "EUR" }));
    await until(async () => (await deliveries(later.id, "DELIVERED")).length >= 1);
    expect(received.get("/down")).toHaveLength(3);

    // The endpoint is fixed: send it again.
    const again = ok(
      await t.gql(`mutation($w: ID!, $d: ID!) { redeliverWebhookDelivery(webhookId: $w, deliveryId: $d) { status attempts } }`, { w: down.id, d: failed.id }),
    );
    expect(again.data.redeliverWebhookDelivery).toEqual({ status: "PENDING", attempts: 0 });
    await until(async () => (await deliveries(down.id, "DELIVERED")).length === 1);
    expect(received.get("/down")).toHaveLength(4);
    const twice = await t.gql(`mutation($w: ID!, $d: ID!) { redeliverWebhookDelivery(webhookId: $w, deliveryId: $d) { status } }`, {
      w: down.id,
      d: failed.id,
    });
    expect(twice.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "deliveryId" });
  });

  it("queues nothing for a paused endpoint, and sends what an orphaned event owed (the relay publishes it)", async () => {
    const programId = await griffinProgram(t);
    const hook = ok(await createWebhook(programId, "/paused", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    // An active endpoint of the same topic: when it has c1's event, c1 was dispatched.
    const active = ok(await createWebhook(programId, "/active", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    ok(await t.gql(`mutation($w: ID!) { setWebhookActive(webhookId: $w, active: false) { active } }`, { w: hook.id }));
    ok(await purchase(t, { programId, customerExternalId: "c", orderId: "c1", amount: 10, currency: "EUR" }));
    await until(async () => (await deliveries(active.id, "DELIVERED")).length === 1);
    expect(received.get("/paused")).toBeUndefined();
    expect(await deliveries(hook.id)).toEqual([]);

    ok(await t.gql(`mutation($w: ID!) { setWebhookActive(webhookId: $w, active: true) { active } }`, { w: hook.id }));
    // A writer that died between COMMIT and publish: the relay publishes (and marks) its event.
    const [orphan] = await t.app.db.query(
      `INSERT INTO outbox (program_id, topic, customer_id, payload, created_at)
       SELECT program_id, 'TOUCHPOINT_RECORDED', customer_id, payload || '{"externalId": "orphan"}', now() - interval '1 minute'
         FROM outbox WHERE program_id = $1 AND topic = 'TOUCHPOINT_RECORDED' LIMIT 1 RETURNING id::text`,
      [programId],
    );
    await until(() => (received.get("/paused")?.length ?? 0) >= 1);
    // Only the orphan was owed: a marker event written after it is sent, and before it came the orphan alone.
    ok(await purchase(t, { programId, customerExternalId: "c", orderId: "c2", amount: 10, currency: "EUR" }));
    const isMarker = (r: { body: string }) => JSON.parse(r.body).payload.externalId === "c2";
    await until(() => received.get("/paused")!.some(isMarker));
    const sent = received.get("/paused")!;
    expect(sent.slice(0, sent.findIndex(isMarker)).map((r) => JSON.parse(r.body).sequence)).toEqual([orphan.id]);
  });

  it("keeps sending to other endpoints while one hangs, and reads only the status of an endless answer", async () => {
    const slow = await griffinProgram(t);
    const fast = await griffinProgram(t);
    const hang = ok(await createWebhook(slow, "/hang", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    const endless = ok(await createWebhook(fast, "/endless", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => purchase(t, { programId: slow, customerExternalId: `s${i}`, orderId: `s${i}`, amount: 1, currency: "EUR" })),
    );
    await until(() => (received.get("/hang")?.length ?? 0) >= 1);
    const started = Date.now();
    ok(await purchase(t, { programId: fast, customerExternalId: "f", orderId: "f1", amount: 1, currency: "EUR" }));
    await until(async () => (await deliveries(endless.id, "DELIVERED")).length === 1);
    // Well within the hanging endpoint's timeout (1 s in tests): it held only its own slots.
    expect(Date.now() - started).toBeLessThan(900);
    expect(received.get("/hang")!.length).toBeLessThanOrEqual(2); // at most 2 at a time per endpoint
    await until(async () => (await deliveries(hang.id)).some((d: any) => d.lastError === "no answer within 1000 ms"));
    const slowBody = ok(await createWebhook(fast, "/slow-body", ["TOUCHPOINT_RECORDED"])).data.createWebhook.webhook;
    ok(await purchase(t, { programId: fast, customerExternalId: "f", orderId: "f2", amount: 1, currency: "EUR" }));
    await until(async () => (await deliveries(slowBody.id)).length === 1 && (await deliveries(slowBody.id))[0].status !== "PENDING");
    expect((await deliveries(slowBody.id))[0]).toMatchObject({ status: "DELIVERED", attempts: 1, lastStatus: 200, lastError: null });
    ok(await t.gql(`mutation($w: ID!) { deleteWebhook(webhookId: $w) }`, { w: hang.id }));
  });

  it("refuses loopback, private and link-local endpoints unless WEBHOOK_ALLOW_PRIVATE_NETWORKS", async () => {
    const programId = await griffinProgram(t);
    const named = ok(await t.gql(CREATE, { i: { programId, url: `http://${hostname()}:${new URL(base).port}/named`, topics: ["TOUCHPOINT_RECORDED"] } })).data
      .createWebhook.webhook;
    const { webhooks } = t.app.config;
    webhooks.allowPrivateNetworks = false;
    try {
      for (const url of [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x",
        "http://[::ffff:192.168.0.1]/x",
      ]) {
        const res = await t.gql(CREATE, { i: { programId, url, topics: ["STAGE_CHANGED"] } });
        expect(res.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
      }
      // A name is checked when it is resolved: this machine's own name resolves to loopback here.
      const addresses = await new Promise<string[]>((resolve) =>
        lookup(hostname(), { all: true }, (err, found) => resolve(err ? [] : found.map((a) => a.address))),
      );
      if (addresses.length > 0 && addresses.every((a) => /^127\.|^::1$/.test(a))) {
        ok(await purchase(t, { programId, customerExternalId: "n", orderId: "n1", amount: 1, currency: "EUR" }));
        await until(async () => (await deliveries(named.id)).some((d: any) => /loopback, private or link-local/.test(d.lastError ?? "")));
        expect(received.get("/named")).toBeUndefined();
      }
    } finally {
      webhooks.allowPrivateNetworks = true;
    }
  });

  it("sends a signed test event on request and says what the endpoint answered", async () => {
    const programId = await griffinProgram(t);
    const created = ok(await createWebhook(programId, "/ping", ["STAGE_CHANGED"])).data.createWebhook;
    const TEST = `mutation($w: ID!) { testWebhook(webhookId: $w) { ok status error ms } }`;
    const passed = ok(await t.gql(TEST, { w: created.webhook.id })).data.testWebhook;
    expect(passed).toMatchObject({ ok: true, status: 200, error: null });
    const [{ headers, body }] = received.get("/ping")!;
    expect(JSON.parse(body)).toMatchObject({ topic: "PING", sequence: "0", programId, payload: { webhookId: created.webhook.id } });
    const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers["x-loyalty-signature"]))!;
    expect(v1).toBe(createHmac("sha256", created.secret).update(`${ts}.${body}`).digest("hex"));
    answers.set("/ping", [503]);
    expect(ok(await t.gql(TEST, { w: created.webhook.id })).data.testWebhook).toMatchObject({ ok: false, status: 503, error: "HTTP 503" });
    // Not a delivery: nothing recorded, nothing retried. A real event after the tests is
    // delivered (the dispatcher ran on), and it is the only delivery and the third request.
    ok(await purchase(t, { programId, customerExternalId: "p", orderId: "p1", amount: 1, currency: "EUR" }));
    await until(async () => (await deliveries(created.webhook.id, "DELIVERED")).length === 1);
    expect((await deliveries(created.webhook.id)).map((d: any) => d.topic)).toEqual(["STAGE_CHANGED"]);
    expect(received.get("/ping")!.map((r) => JSON.parse(r.body).topic)).toEqual(["PING", "PING", "STAGE_CHANGED"]);
    const partner = await createKey(t, programId, "PARTNER");
    expect((await t.gql(TEST, { w: created.webhook.id }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("checks roles and input, and lists and deletes endpoints", async () => {
    const programId = await griffinProgram(t);
    const partner = await createKey(t, programId, "PARTNER");
    expect((await createWebhook(programId, "/x", ["STAGE_CHANGED"], partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const bad = async (input: Record<string, unknown>) =>
      (await t.gql(CREATE, { i: { programId, url: `${base}/x`, topics: ["STAGE_CHANGED"], ...input } })).errors?.[0].extensions;
    expect(await bad({ url: "ftp://example.com/x" })).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
    expect(await bad({ url: "not a url" })).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
    expect(await bad({ topics: ["STAGE_CHANGED", "PROGRAM_CHANGED"] })).toMatchObject({ code: "BAD_USER_INPUT", field: "topics" });
    expect(await bad({ topics: [] })).toMatchObject({ code: "BAD_USER_INPUT", field: "topics" });
    const [{ n: before }] = await t.app.db.query(`SELECT count(*)::int AS n FROM webhooks WHERE program_id = $1`, [programId]);
    expect(before).toBe(0);

    const hook = ok(await createWebhook(programId, "/x", ["STAGE_CHANGED", "STAGE_CHANGED"])).data.createWebhook.webhook;
    expect(hook.topics).toEqual(["STAGE_CHANGED"]);
    const list = ok(await t.gql(`query($p: ID!) { webhooks(programId: $p) { id url } }`, { p: programId })).data.webhooks;
    expect(list).toEqual([{ id: hook.id, url: `${base}/x` }]);
    expect((await t.gql(`query($p: ID!) { webhooks(programId: $p) { id } }`, { p: programId }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await t.gql(DELIVERIES, { w: hook.id }, partner)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    // Another program's ADMIN cannot tell this endpoint from no endpoint.
    const otherAdmin = await createKey(t, await griffinProgram(t), "ADMIN");
    expect((await t.gql(DELIVERIES, { w: hook.id }, otherAdmin)).errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND", field: "webhookId" });
    expect((await t.gql(DELIVERIES, { w: hook.id }, null)).errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
    ok(await t.gql(`mutation($w: ID!) { deleteWebhook(webhookId: $w) }`, { w: hook.id }));
    expect(ok(await t.gql(`query($p: ID!) { webhooks(programId: $p) { id } }`, { p: programId })).data.webhooks).toEqual([]);
    expect((await t.gql(DELIVERIES, { w: hook.id })).errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND", field: "webhookId" });
  });
});
