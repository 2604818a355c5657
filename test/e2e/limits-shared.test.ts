/**
 * Buckets shared by API processes through Redis, and the production defaults of the limits.
 * The Redis part needs REDIS_URL (.ci/run starts the local Redis and sets it).
 */
import { randomUUID } from "node:crypto";
import { RedisBuckets } from "../../src/api/limits/buckets";
import { SecondProcess, startSecondProcess, startTestApp, TestApp } from "../helpers/test-app";
import { createKey, griffinProgram } from "../helpers/operations";

const REDIS_URL = process.env.REDIS_URL;
const describeWithRedis = REDIS_URL ? describe : describe.skip;

/** Two processes' bucket stores on the same Redis, connected, and closed after `use`. */
async function withTwoProcesses(use: (one: RedisBuckets, two: RedisBuckets) => Promise<void>): Promise<void> {
  const [one, two] = [new RedisBuckets(REDIS_URL!, () => undefined), new RedisBuckets(REDIS_URL!, () => undefined)];
  try {
    await Promise.all([one.ready(5000), two.ready(5000)]);
    await use(one, two);
  } finally {
    await one.close();
    await two.close();
  }
}

describeWithRedis("cost buckets in Redis", () => {
  it("never lets two processes taking at once overdraw a bucket, and each sees what the other took", async () => {
    await withTwoProcesses(async (one, two) => {
      const key = `test-${randomUUID()}`;
      // A bucket that refills one point in 1,000 s: what the test takes is what is gone.
      const bucket = { size: 100, restorePerSecond: 0.001 };
      const takes = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? one : two).take(key, bucket, 3)));
      expect(takes.filter((s) => s.ok)).toHaveLength(33);
      const state = await two.take(key, bucket, 1);
      expect(state.ok).toBe(true);
      expect(state.available).toBeCloseTo(0, 1);
      // A refund rides on the next take, in whichever process.
      await one.take(key, bucket, -50);
      expect((await one.take(key, bucket, 10)).available).toBeCloseTo(40, 1);
      expect((await two.take(key, bucket, 10)).available).toBeCloseTo(30, 1);
    });
  });

  it("leases points to each process without letting the processes together take more than the bucket", async () => {
    await withTwoProcesses(async (one, two) => {
      const key = `test-${randomUUID()}`;
      // 1,000 points refilling 1,000 a second: each process leases 20 at a time.
      const bucket = { size: 1000, restorePerSecond: 1000 };
      const started = Date.now();
      const takes = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? one : two).take(key, bucket, 10)));
      const refilled = ((Date.now() - started) * bucket.restorePerSecond) / 1000;
      const ok = takes.filter((s) => s.ok).length;
      // Never more than the bucket and its refill; never less by more than a lease per process.
      expect(ok * 10).toBeLessThanOrEqual(1000 + refilled);
      expect(ok * 10).toBeGreaterThanOrEqual(1000 - 2 * 20);
    });
  });

  describe("two API processes", () => {
    let a: TestApp;
    let b: SecondProcess;

    beforeAll(async () => {
      a = await startTestApp({ redisUrl: REDIS_URL, env: { RATE_LIMIT_STOREFRONT: "200:1" } });
      b = await startSecondProcess(a);
    });
    afterAll(async () => {
      await b.stop();
      await a.stop();
    });

    it("draw one credential's requests from one bucket, whichever process serves them", async () => {
      const program = await griffinProgram(a);
      const key = await createKey(a, program, "STOREFRONT");
      const post = (url: string) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: JSON.stringify({ query: `{ __typename }` }),
        });
      // 200 points, 1 a request: spent half on each process.
      let served = 0;
      const started = Date.now();
      let throttledOn: string | null = null;
      for (let i = 0; i < 260 && !throttledOn; i++) {
        const url = i % 2 ? b.server.url : a.server.url;
        const res = await post(url);
        await res.text();
        if (res.status === 429) throttledOn = url;
        else served++;
      }
      expect(throttledOn).not.toBeNull();
      expect(served).toBeGreaterThanOrEqual(199);
      // Plus the point a second it refilled meanwhile, and the read before parsing goes by the last
      // state Redis gave this process: a request or two more.
      expect(served).toBeLessThanOrEqual(200 + Math.ceil((Date.now() - started) / 1000) + 2);
    });
  });
});

describe("production defaults", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: "production" } });
  });
  afterAll(() => t.stop());

  it("turns off introspection, GraphiQL and field suggestions under NODE_ENV=production", async () => {
    const introspection = await t.gql(`{ __schema { queryType { name } } }`);
    expect(introspection.status).toBe(400);
    expect(introspection.errors?.[0].message).toMatch(/introspection/i);
    const page = await fetch(t.server.url, { headers: { accept: "text/html" } });
    expect(page.status).not.toBe(200);
    await page.text();
    const typo = await t.gql(/* invalid on purpose */ `{ programz { id } }`);
    expect(typo.errors?.[0].message).toMatch(/Cannot query field "programz"/);
    expect(typo.errors?.[0].message).not.toMatch(/Did you mean/);
  });
});
