/**
 * The bench's two layer scenarios, which split the API's cost per purchase into its parts. Both
 * run inside the bench process, on an App of their own over the bench database:
 *   - "layer write path": the write path without HTTP or GraphQL. Each client calls
 *     TouchpointService.record directly: the same group commit, write worker, statements and
 *     events as a recordPurchase, minus the request around it.
 *   - "layer graphql": HTTP and GraphQL without the write path. recordPurchase over HTTP to a
 *     server in this process, whose write path answers with a result stored once (no SQL). Its
 *     CPU per purchase is server and client together, as they share this process.
 * Next to the API's own figures and the `{ __typename }` floor, they tell what a purchase costs in
 * each layer, which is what decides how far the API can get from the raw-SQL baselines on a
 * machine whose cores the load generator shares.
 */
import { Pool } from "undici";
import { App } from "../app";
import { RequestContext } from "../context";
import { loadConfig } from "../config";
import { openDatabase, OpenDatabase } from "../db/open";
import { createLogger } from "../logger";
import { RecordResult, TouchpointRecord } from "../modules/touchpoint/touchpoint.model";
import { TouchpointType } from "../modules/program/earning";
import { createServer, RunningServer } from "../server";

export interface Layers {
  /** One purchase through the write path alone. */
  writePath(programId: string, customerExternalId: string, orderId: string): Promise<void>;
  /** One recordPurchase over HTTP with the write path answering a stored result. */
  graphql(programId: string, customerExternalId: string, orderId: string, query: string): Promise<void>;
  /** Turns the stored answer on for `graphql` (and off for `writePath`): one at a time. */
  useStoredAnswer(on: boolean): void;
  close(): Promise<void>;
}

export async function startLayers(databaseUrl: string, adminKey: string, poolSize: number, concurrency: number): Promise<Layers> {
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl,
    LOYALTY_ADMIN_KEY: adminKey,
    LOYALTY_SEED_DEMO: "false",
    LOG_LEVEL: "warn",
    DB_POOL_SIZE: String(poolSize),
    API_PROCESSES: "1",
  });
  const log = createLogger("warn");
  const database: OpenDatabase = await openDatabase(config, log, { migrate: false });
  // Not app.start(): its relay and pollers would sweep the bench's outbox from this process too,
  // work the measured scenarios would pay for. The write path marks its own events (outbox flush).
  const app = new App({ config, db: database.db, log });
  let server: RunningServer | undefined;
  let client: Pool | undefined;
  /** Ends whatever was started, each part even when another fails. */
  const close = async () => {
    const steps = [() => client?.close(), () => server?.stop(), () => app.stop(), () => database.close()];
    for (const step of steps)
      await Promise.resolve()
        .then(step)
        .catch((err) => console.error("layers: closing:", err));
  };
  try {
    server = await createServer(app, { port: 0, host: "127.0.0.1" });
    client = new Pool(new URL(server.url).origin, { connections: concurrency });
  } catch (err) {
    await close();
    throw err;
  }
  const http = client;
  const touchpoints = app.touchpoints;
  const record = touchpoints.record.bind(touchpoints);
  let stored: RecordResult | undefined;
  const purchase = (programId: string, customerExternalId: string, orderId: string): TouchpointRecord => {
    const input = { programId, customerExternalId, orderId, amount: 25, currency: "EUR" };
    return {
      programId,
      customerExternalId,
      type: TouchpointType.PURCHASE,
      externalId: orderId,
      keyField: "orderId",
      occurredAt: new Date(),
      amount: 25,
      currency: "EUR",
      hashed: input,
    };
  };
  return {
    async writePath(programId, customerExternalId, orderId) {
      const config = await app.programs.config(programId);
      // A purchase's write path takes nothing from the request but the App (a refund's would).
      const result = await touchpoints.record({ app } as unknown as RequestContext, config, purchase(programId, customerExternalId, orderId));
      if (result.pointsEarned !== 25) throw new Error("unexpected points");
    },
    async graphql(programId, customerExternalId, orderId, query) {
      const res = await http.request({
        path: "/graphql",
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
        body: JSON.stringify({ query, variables: { input: { programId, customerExternalId, orderId, amount: 25, currency: "EUR" } } }),
      });
      const body: any = await res.body.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      if (body.data.recordPurchase.pointsEarned !== 25) throw new Error("unexpected points");
    },
    useStoredAnswer(on) {
      touchpoints.record = on
        ? async (ctx, config, r) => {
            // The first purchase is written for real; every later one gets a copy of its answer.
            stored ??= await record(ctx, config, r);
            return { ...stored, customer: Object.assign(Object.create(Object.getPrototypeOf(stored.customer)), stored.customer) };
          }
        : record;
    },
    close,
  };
}
