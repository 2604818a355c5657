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
}

export function createContext(app: App, actor: Actor, requestId: string, sql = new CountingQueryable(app.db)): RequestContext {
  const now = app.clock();
  // The logger and the loaders are made on first use: most operations (a purchase) use neither.
  let log: Logger | undefined;
  let loaders: Loaders | undefined;
  return {
    app,
    actor,
    requestId,
    get log() {
      return (log ??= app.log.child({ requestId }));
    },
    get loaders() {
      return (loaders ??= createLoaders(sql, app.programConfigs, now));
    },
    now,
    sql,
  };
}
