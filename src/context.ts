/** The per-operation context: who is calling, the request's loaders and id, and the application. */
import type { Logger } from "pino";
import type { App } from "./app";
import type { Actor } from "./modules/auth/actor";
import { createLoaders, Loaders } from "./api/loaders";
import { CountingQueryable } from "./db/db";

export interface RequestContext {
  app: App;
  actor: Actor;
  requestId: string;
  log: Logger;
  loaders: Loaders;
  /** The request's "now": windows and day counts in one response agree with each other. */
  now: Date;
  /** Reads of this request go through here, so their statements are counted. */
  sql: CountingQueryable;
  /** The peer's address: anonymous callers are rate-limited by it. */
  clientAddress: string;
}

/**
 * The logger and the loaders are made on first use: most operations (a purchase) use neither.
 * Their getters live on the prototype: Apollo clones the context for each operation with
 * Object.assign, which would call getters that were own properties (and make both every time).
 */
class LazyRequestContext implements RequestContext {
  readonly now: Date;
  private madeLog?: Logger;
  private madeLoaders?: Loaders;

  constructor(
    readonly app: App,
    readonly actor: Actor,
    readonly requestId: string,
    readonly sql: CountingQueryable,
    readonly clientAddress: string,
  ) {
    this.now = app.clock();
  }

  get log(): Logger {
    return (this.madeLog ??= this.app.log.child({ requestId: this.requestId }));
  }

  get loaders(): Loaders {
    return (this.madeLoaders ??= createLoaders(this.sql, this.app.programConfigs, this.now));
  }
}

export function createContext(app: App, actor: Actor, requestId: string, sql = new CountingQueryable(app.db), clientAddress = ""): RequestContext {
  return new LazyRequestContext(app, actor, requestId, sql, clientAddress);
}
