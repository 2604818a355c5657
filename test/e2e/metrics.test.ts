/**
 * /metrics: what an operator scrapes (Prometheus text) counts what the API did, and only those
 * allowed may scrape it.
 */
import { metricsAccess } from "../../src/observability/metrics-endpoint";
import { griffinProgram, purchase, refund } from "../helpers/operations";
import { collect, listening, startTestApp, TestApp } from "../helpers/test-app";

/** The value of one series of the exposition text (`name{labels}`), 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function scrape(t: TestApp, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(t.server.url.replace("/graphql", "/metrics"), { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

describe("/metrics", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());

  it("counts operations, written, replayed and rejected touchpoints, points, batches and events", async () => {
    const programId = await griffinProgram(t);
    const before = (await scrape(t)).text;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => purchase(t, { programId, customerExternalId: `m${i % 3}`, orderId: `o${i}`, amount: 10 + i, currency: "EUR" })),
    );
    const replay = await purchase(t, { programId, customerExternalId: "m0", orderId: "o0", amount: 10, currency: "EUR" });
    expect(replay.data.recordPurchase.replayed).toBe(true);
    const bad = await purchase(t, { programId, customerExternalId: "m0", orderId: "neg", amount: -1, currency: "EUR" });
    expect(bad.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    const nobody = await purchase(t, { programId, customerId: "00000000-0000-4000-8000-000000000000", orderId: "nobody", amount: 5, currency: "EUR" });
    expect(nobody.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    const refunded = await refund(t, { programId, orderId: "o1", refundId: "r1", amount: 11 });
    expect(refunded.errors).toBeUndefined();

    const after = await scrape(t);
    expect(after.status).toBe(200);
    expect(after.type).toContain("text/plain");
    const delta = (series: string) => value(after.text, series) - value(before, series);
    expect(delta('loyalty_graphql_operations_total{operation="recordPurchase",type="mutation",outcome="ok"}')).toBe(7);
    expect(delta('loyalty_graphql_operations_total{operation="recordPurchase",type="mutation",outcome="error"}')).toBe(2);
    expect(delta('loyalty_graphql_operation_duration_seconds_count{operation="recordPurchase",type="mutation"}')).toBe(9);
    expect(delta('loyalty_graphql_operations_total{operation="recordRefund",type="mutation",outcome="ok"}')).toBe(1);
    // Six purchases and the refund written; the retry replayed; the unknown customer rejected.
    expect(delta('loyalty_touchpoints_total{outcome="written"}')).toBe(7);
    expect(delta('loyalty_touchpoints_total{outcome="replayed"}')).toBe(1);
    expect(delta('loyalty_touchpoints_total{outcome="rejected"}')).toBe(1);
    const earned = results.reduce((sum, r) => sum + r.data.recordPurchase.pointsEarned, 0);
    expect(earned).toBeGreaterThan(0);
    expect(delta("loyalty_points_earned_total")).toBe(earned);
    // Every purchase went through a committed batch (the unknown customer's too: its batch wrote
    // nothing for it); a batch is at least one record and at most all of them. Refunds have a path of their own.
    expect(delta("loyalty_write_batch_records_sum")).toBe(8);
    const batches = delta("loyalty_write_batch_records_count");
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(batches).toBeLessThanOrEqual(8);
    expect(delta('loyalty_write_batches_total{path="optimistic"}') + delta('loyalty_write_batches_total{path="locked"}')).toBe(batches);
    expect(delta("loyalty_write_batches_failed_total")).toBe(0);
    expect(delta("loyalty_write_queue_wait_seconds_count")).toBe(8);
    expect(delta('loyalty_write_statement_duration_seconds_count{statement="read"}')).toBe(batches);
    // The six purchases' and the refund's.
    expect(delta('loyalty_events_published_total{topic="TOUCHPOINT_RECORDED",via="commit"}')).toBe(7);
    // Three customers' first purchases moved them from prospect.
    expect(delta('loyalty_events_published_total{topic="STAGE_CHANGED",via="commit"}')).toBeGreaterThanOrEqual(3);
    expect(value(after.text, "process_cpu_seconds_total")).toBeGreaterThan(0);
  });

  it("labels a document that does not validate as invalid, not by the client's field names", async () => {
    const before = (await scrape(t)).text;
    const res = await t.gql(/* invalid on purpose */ `{ noSuchField }`);
    expect(res.errors?.[0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const after = (await scrape(t)).text;
    expect(
      value(after, 'loyalty_graphql_operations_total{operation="invalid",type="unknown",outcome="error"}') -
        value(before, 'loyalty_graphql_operations_total{operation="invalid",type="unknown",outcome="error"}'),
    ).toBe(1);
    expect(after).not.toContain("noSuchField");
  });

  it("gauges the WebSocket connections open", async () => {
    const programId = await griffinProgram(t);
    const client = t.ws();
    const sub = collect(client, `subscription($programId: ID!) { loyaltyEvents(programId: $programId) { __typename } }`, { programId });
    await listening(t.app, programId);
    await purchase(t, { programId, customerExternalId: "ws", orderId: "ws1", amount: 5, currency: "EUR" });
    await sub.next(1);
    expect(value((await scrape(t)).text, "loyalty_websocket_connections")).toBe(1);
    await client.dispose();
    for (let i = 0; i < 50 && value((await scrape(t)).text, "loyalty_websocket_connections") !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(value((await scrape(t)).text, "loyalty_websocket_connections")).toBe(0);
  });
});

describe("/metrics with METRICS_TOKEN", () => {
  const token = "scrape-token-0123456789";
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ metricsToken: token });
  });
  afterAll(() => t.stop());

  it("answers only a scraper with the token, with a typed error otherwise", async () => {
    const without = await scrape(t);
    expect(without.status).toBe(401);
    expect(JSON.parse(without.text).error).toContain("METRICS_TOKEN");
    expect((await scrape(t, "wrong-token-0123456789")).status).toBe(401);
    const withToken = await scrape(t, token);
    expect(withToken.status).toBe(200);
    expect(withToken.text).toContain("loyalty_graphql_operations_total");
  });
});

describe("who may scrape", () => {
  it("without a token: this machine only (IPv4, IPv6 and IPv4-mapped loopback)", () => {
    for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(metricsAccess(address, {}, undefined)).toEqual({ ok: true });
    for (const address of ["10.0.0.7", "::ffff:10.0.0.7", "2001:db8::1", "::10", undefined]) {
      expect(metricsAccess(address, {}, undefined)).toMatchObject({ ok: false, status: 403 });
    }
  });

  it("without a token: not what a proxy on this machine forwards for someone else", () => {
    for (const headers of [{ "x-forwarded-for": "203.0.113.9" }, { forwarded: "for=203.0.113.9" }, { "x-real-ip": "203.0.113.9" }]) {
      expect(metricsAccess("127.0.0.1", headers, undefined)).toMatchObject({ ok: false, status: 403 });
    }
  });

  it("with a token: the token, from anywhere, and nothing else", () => {
    const token = "a-long-enough-token";
    const auth = (authorization: string) => ({ authorization });
    expect(metricsAccess("10.0.0.7", auth(`Bearer ${token}`), token)).toEqual({ ok: true });
    expect(metricsAccess("10.0.0.7", { ...auth(`bearer  ${token}`), "x-forwarded-for": "203.0.113.9" }, token)).toEqual({ ok: true });
    expect(metricsAccess("127.0.0.1", {}, token)).toMatchObject({ ok: false, status: 401 });
    expect(metricsAccess("127.0.0.1", auth(`Bearer ${token}x`), token)).toMatchObject({ ok: false, status: 401 });
    expect(metricsAccess("127.0.0.1", auth(token), token)).toMatchObject({ ok: false, status: 401 });
  });
});
