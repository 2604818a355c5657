/**
 * Automatic persisted queries (Apollo's APQ): a hash that is not the query's is the client's error
 * (BAD_REQUEST, HTTP 400), an unknown hash is PERSISTED_QUERY_NOT_FOUND (HTTP 200, so the client
 * sends the text next), and neither is logged as a bug; a registered hash runs its query.
 */
import { createHash } from "node:crypto";
import { ADMIN_KEY, startTestApp, TestApp } from "../helpers/test-app";

let t: TestApp;
/** What the server logged at error level (the app's logger and every request's child of it). */
const logged: unknown[][] = [];
beforeAll(async () => {
  t = await startTestApp();
  const log = t.app.log as any;
  const watch = (logger: any) => {
    const error = logger.error.bind(logger);
    logger.error = (...args: unknown[]) => {
      logged.push(args);
      return error(...args);
    };
    const child = logger.child.bind(logger);
    logger.child = (...args: unknown[]) => watch(child(...args));
    return logger;
  };
  watch(log);
});
beforeEach(() => {
  logged.length = 0;
});
afterAll(() => t.stop());

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function post(body: Record<string, unknown>) {
  const res = await fetch(t.server.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("persisted queries", () => {
  const query = "{ programs { id name } }";
  const apq = (hash: string, version = 1) => ({ persistedQuery: { version, sha256Hash: hash } });

  it("refuses a hash that does not match the query with BAD_REQUEST and HTTP 400, not logged", async () => {
    const res = await post({ query, extensions: apq(sha256("{ __typename }")) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ message: "provided sha does not match query", extensions: { code: "BAD_REQUEST" } }]);
    const version = await post({ query, extensions: apq(sha256(query), 2) });
    expect(version.status).toBe(400);
    expect(version.body.errors).toEqual([{ message: "Unsupported persisted query version", extensions: { code: "BAD_REQUEST" } }]);
    expect(logged).toEqual([]);
    // The mismatched text was not registered under either hash.
    expect((await post({ extensions: apq(sha256("{ __typename }")) })).body.errors[0].extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
  });

  it("answers an unknown hash with PERSISTED_QUERY_NOT_FOUND, not logged", async () => {
    const res = await post({ extensions: apq(sha256("{ programs { id } }")) });
    expect(res.status).toBe(200);
    expect(res.body.errors).toEqual([{ message: "PersistedQueryNotFound", extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } }]);
    expect(logged).toEqual([]);
  });

  it("runs a query registered with its hash, then by the hash alone", async () => {
    const hash = sha256(query);
    const miss = await post({ extensions: apq(hash) });
    expect(miss.body.errors[0].extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
    const register = await post({ query, extensions: apq(hash) });
    expect(register.status).toBe(200);
    expect(register.body.errors).toBeUndefined();
    const hit = await post({ extensions: apq(hash) });
    expect(hit.status).toBe(200);
    expect(hit.body).toEqual(register.body);
    expect(logged).toEqual([]);
  });
});
