/**
 * The request context makes its logger and loaders on first use. Apollo clones the context for
 * each operation (Object.assign onto an object of the same prototype): the clone must not make
 * them either, and must make each once when used.
 */
import type { App } from "../../src/app";
import { createContext } from "../../src/context";
import { CountingQueryable } from "../../src/db/db";

/** What Apollo Server 5 does to the context value of each operation (ApolloServer.js, cloneObject). */
const cloneAsApollo = <T extends object>(value: T): T => Object.assign(Object.create(Object.getPrototypeOf(value)), value);

describe("request context", () => {
  it("makes the logger and the loaders only when an operation uses them, also once cloned", () => {
    const child = jest.fn(() => ({ child: "logger" }));
    const app = { clock: () => new Date("2026-11-22T12:00:00Z"), log: { child }, db: {}, programConfigs: {} } as unknown as App;
    const context = createContext(app, { kind: "root" }, "req-1", new CountingQueryable(app.db));
    const clone = cloneAsApollo(context);
    expect(child).not.toHaveBeenCalled();

    expect(clone.requestId).toBe("req-1");
    expect(clone.now.toISOString()).toBe("2026-11-22T12:00:00.000Z");
    expect(clone.log).toBe(clone.log);
    expect(child).toHaveBeenCalledTimes(1);
    expect(child).toHaveBeenCalledWith({ requestId: "req-1" });
    const loaders = clone.loaders;
    expect(clone.loaders).toBe(loaders);
    expect(typeof loaders.customer.load).toBe("function");
  });
});
