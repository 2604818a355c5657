/** The cost model covers the whole schema, and the in-process bucket keeps its arithmetic. */
import "reflect-metadata";
import fc from "fast-check";
import { getNamedType, getNullableType, isLeafType, isListType, isObjectType, parse } from "graphql";
import { getSchema } from "../../src/schema";
import { actualCost, FIELD_COSTS, LIST_SIZES, MUTATION_COST, requestedCost } from "../../src/api/limits/cost";
import { MemoryBuckets } from "../../src/api/limits/buckets";
import { InFlightByCost } from "../../src/api/limits/request-limits";

describe("the cost model", () => {
  it("names only fields that exist", async () => {
    const schema = await getSchema();
    for (const key of [...Object.keys(FIELD_COSTS), ...Object.keys(LIST_SIZES)]) {
      const [type, field] = key.split(".");
      const found = schema.getType(type);
      expect({ key, exists: !!found && isObjectType(found) && !!found.getFields()[field] }).toEqual({ key, exists: true });
    }
  });

  it("declares the size of every list of objects that takes no `first` (outside connections)", async () => {
    const schema = await getSchema();
    const undeclared: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith("__") || /Connection$/.test(type.name) || type === schema.getMutationType()) continue;
      for (const field of Object.values(type.getFields())) {
        const list = isListType(getNullableType(field.type));
        const paged = field.args.some((a) => a.name === "first");
        if (list && !paged && !isLeafType(getNamedType(field.type)) && !(`${type.name}.${field.name}` in LIST_SIZES))
          undeclared.push(`${type.name}.${field.name}`);
      }
    }
    // Payloads of writes return what the write produced: a handful of rules or grants.
    expect(undeclared.filter((f) => !/Payload\./.test(f))).toEqual([]);
  });

  it("prices pages by `first`, lists by their declared size, mutations above reads", async () => {
    const schema = await getSchema();
    const cost = (q: string, v: Record<string, unknown> = {}) => requestedCost(schema, parse(q), v);
    expect(cost(`{ customers(programId: "p", first: 50) { nodes { id stage { key } } } }`)).toBe(1 + 50 * 2);
    expect(cost(`query($n: Int!) { customers(programId: "p", first: $n) { nodes { id } } }`, { n: 7 })).toBe(1 + 7);
    // Priced once per document, unless a variable can change the price.
    const paged = parse(`query($n: Int!) { customers(programId: "p", first: $n) { nodes { id } } }`);
    expect(requestedCost(schema, paged, { n: 7 })).toBe(8);
    expect(requestedCost(schema, paged, { n: 9 })).toBe(10);
    const skipped = parse(`query($s: Boolean!) { program(id: "p") { stages @skip(if: $s) { key } } }`);
    expect(requestedCost(schema, skipped, { s: true })).toBe(1);
    expect(requestedCost(schema, skipped, { s: false })).toBe(1 + LIST_SIZES["Program.stages"]);
    expect(cost(`{ program(id: "p") { stages { key } } }`)).toBe(1 + LIST_SIZES["Program.stages"]);
    expect(cost(`{ ladderFunnel(programId: "p") { stages { key } } }`)).toBeGreaterThanOrEqual(FIELD_COSTS["Query.ladderFunnel"]);
    // The write itself (10) includes the object it returns.
    expect(cost(`mutation { revokeApiKey(programId: "p", id: "k") { id } }`)).toBe(MUTATION_COST);
    expect(cost(`{ program(id: "p") { id @skip(if: true) stages @skip(if: true) { key } } }`)).toBe(1);
  });

  it("never counts more for the answer than for the request", async () => {
    const schema = await getSchema();
    const document = parse(`{ programs { id stages { key paths { metric } } } }`);
    const operation = document.definitions[0] as any;
    const requested = requestedCost(schema, document, {});
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.string(),
            stages: fc.array(fc.record({ key: fc.string(), paths: fc.array(fc.record({ metric: fc.string() }), { maxLength: 4 }) }), { maxLength: 8 }),
          }),
          { maxLength: 10 },
        ),
        (programs) => {
          const actual = actualCost(schema, document, operation, { programs });
          const expected = programs.reduce((n, p) => n + 1 + p.stages.reduce((m, s) => m + 1 + s.paths.length, 0), 0);
          expect(actual).toBe(expected);
          expect(actual).toBeLessThanOrEqual(requested);
        },
      ),
    );
  });
});

describe("the in-process bucket", () => {
  it("never holds more than its size nor less than nothing, refills with time and takes refunds", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: -50, max: 200 })), { maxLength: 60 }), (steps) => {
        let now = 0;
        const buckets = new MemoryBuckets(() => now);
        const bucket = { size: 300, restorePerSecond: 50 };
        let model = 300;
        for (const [elapsed, cost] of steps) {
          now += elapsed;
          model = Math.min(300, model + (elapsed * 50) / 1000);
          const state = buckets.takeNow("k", bucket, cost);
          expect(state.ok).toBe(cost <= model);
          if (state.ok) model = Math.min(300, model - cost);
          expect(state.available).toBeCloseTo(model, 6);
          expect(state.available).toBeGreaterThanOrEqual(0);
          expect(state.available).toBeLessThanOrEqual(300);
        }
      }),
    );
  });
});

describe("requests in flight, weighed by cost", () => {
  it("runs a credential's requests while their costs fit, the others in order as room frees, and refuses past the queue", async () => {
    const inFlight = new InFlightByCost(2);
    const order: string[] = [];
    const a = await inFlight.enter("k", 3000, 5000);
    const b = await inFlight.enter("k", 1500, 5000);
    // 4,500 in flight: a third of 1,000 waits, and so does a small one behind it (in order).
    const c = inFlight.enter("k", 1000, 5000).then((leave) => (order.push("c"), leave));
    const d = inFlight.enter("k", 10, 5000).then((leave) => (order.push("d"), leave));
    expect(await inFlight.enter("k", 10, 5000)).toBeNull();
    // Another credential is not held up.
    const other = await inFlight.enter("other", 5000, 5000);
    expect(other).not.toBeNull();
    await Promise.resolve();
    expect(order).toEqual([]);
    a!();
    const [leaveC, leaveD] = await Promise.all([c, d]);
    expect(order).toEqual(["c", "d"]);
    // A request larger than the capacity runs alone.
    const big = inFlight.enter("k", 9000, 5000);
    let ran = false;
    void big.then(() => (ran = true));
    b!();
    leaveC!();
    await Promise.resolve();
    expect(ran).toBe(false);
    leaveD!();
    (await big)!();
    expect(ran).toBe(true);
    other!();
  });
});
