/**
 * Hostile JSON: a 40 KB body nesting 20,000 levels, sent without a credential, used to overflow the
 * stack of the NUL check and answer 500. It is refused with 400 BAD_REQUEST (over HTTP and
 * graphql-ws), before GraphQL's recursive variable coercion sees it; the server keeps serving.
 */
import { WebSocket } from "ws";
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";
import { griffinProgram, tableCounts } from "../helpers/operations";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

const nested = (levels: number, inner = "0") => "[".repeat(levels) + inner + "]".repeat(levels);

async function post(body: string, authorization?: string) {
  const res = await fetch(t.server.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

const expectRefused = (res: { status: number; text: string; body: any }, field: string) => {
  expect(res.status).toBe(400);
  expect(res.body.errors[0].extensions).toEqual({ code: "BAD_REQUEST", field });
  expect(res.body.errors[0].message).toMatch(/nested more than 64 levels/);
  expect(res.text).not.toMatch(/stack|RangeError|at \w+ \(|\.ts:\d+/);
};

describe("deeply nested JSON", () => {
  it("refuses a body nested 20,000 levels, with or without a credential, and keeps serving", async () => {
    const body = `{"query":"{__typename}","variables":{"a":${nested(20_000)}}}`;
    expect(body.length).toBeLessThan(50_000);
    expectRefused(await post(body), "a");
    // A credential that names no one is answered before the body is read.
    const unknown = await post(body, "Bearer not-a-key");
    expect(unknown.status).toBe(401);
    expect(unknown.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expectRefused(await post(body, `Bearer ${ADMIN_KEY}`), "a");
    // In the extensions, or as the whole body.
    expectRefused(await post(`{"query":"{__typename}","extensions":{"x":${nested(20_000)}}}`), "extensions");
    expectRefused(await post(nested(20_000)), "[0]");
    // Objects as well as arrays.
    expectRefused(await post(`{"query":"{__typename}","variables":{"b":${'{"k":'.repeat(20_000)}1${"}".repeat(20_000)}}}`), "b");
    const ok = await post(`{"query":"{__typename}"}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ data: { __typename: "Query" } });
  });

  it("refuses JSON just past the limit, and lets values within it through to GraphQL", async () => {
    // The body is level 1, variables 2, the variable's value from 3: 62 arrays reach 64.
    const within = await post(`{"query":"{ __typename }","variables":{"a":${nested(62)}}}`);
    expect(within.status).toBe(200);
    expect(within.body).toMatchObject({ data: { __typename: "Query" } });
    expectRefused(await post(`{"query":"{ __typename }","variables":{"a":${nested(63)}}}`), "a");
  });

  it("refuses a deep value in a mutation's input, writing nothing", async () => {
    const programId = await griffinProgram(t);
    const before = await tableCounts(t);
    const query = `mutation($i: RecordTouchpointInput!) { recordTouchpoint(input: $i) { replayed } }`;
    const input = `{"programId":"${programId}","customerExternalId":"deep","type":"VISIT","externalId":"v-1","data":{"x":${nested(5_000)}}}`;
    expectRefused(await post(`{"query":${JSON.stringify(query)},"variables":{"i":${input}}}`, `Bearer ${ADMIN_KEY}`), "i");
    expect(await tableCounts(t)).toEqual(before);
  });

  it("refuses a deep subscribe payload over graphql-ws with BAD_REQUEST", async () => {
    // A raw socket: the message is text built by hand, as an attacker would (JSON.stringify recurses).
    const socket = new WebSocket(t.server.wsUrl, "graphql-transport-ws");
    const messages: any[] = [];
    let arrived: () => void = () => undefined;
    socket.on("message", (data) => {
      messages.push(JSON.parse(String(data)));
      arrived();
    });
    // A socket the server drops ends the wait too, as a failure.
    socket.on("close", (code, reason) => {
      messages.push({ type: "closed", code, reason: String(reason) });
      arrived();
    });
    const next = (type: string) =>
      new Promise<any>((resolve) => {
        const check = () => {
          const found = messages.find((m) => m.type === type || m.type === "closed");
          if (found) resolve(found);
        };
        arrived = check;
        check();
      });
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${ADMIN_KEY}` } }));
    await next("connection_ack");
    const query = JSON.stringify('subscription { loyaltyEvents(programId: "00000000-0000-0000-0000-000000000000") { sequence } }');
    socket.send(`{"id":"1","type":"subscribe","payload":{"query":${query},"variables":{"x":${nested(20_000)}}}}`);
    const error = await next("error");
    expect(error).toEqual({ id: "1", type: "error", payload: [expect.objectContaining({ extensions: { code: "BAD_REQUEST", field: "x" } })] });
    expect(JSON.stringify(error)).not.toMatch(/stack|RangeError/);
    socket.close();
  });
});
