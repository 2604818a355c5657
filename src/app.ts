/**
 * The application: its dependencies and services, built once per process from explicit inputs so
 * tests can build one on their own database, with their own clock.
 */
import "reflect-metadata";
import type { Logger } from "pino";
import { Config } from "./config";
import { Db } from "./db/db";
import { StatisticsKeeper } from "./db/statistics";
import { ControlMessage, createEventBus, EventBus } from "./events/event-bus";
import { DEFAULT_LIVE_FEED_TIMINGS, LiveFeeds } from "./events/live-feeds";
import { logBackgroundFailure } from "./api/unavailable";
import { OutboxPublisher } from "./events/outbox";
import { WebhookDispatcher } from "./events/webhook-dispatcher";
import { Metrics } from "./observability/metrics";
import { AuthService } from "./modules/auth/auth.service";
import { CustomerService } from "./modules/customer/customer.service";
import { ProgramConfigCache } from "./modules/program/program.config";
import { ValueBreakpointsCache } from "./modules/customer/value.breakpoints";
import { ProgramService } from "./modules/program/program.service";
import { Jobs } from "./jobs/jobs";
import { GrantService } from "./modules/grants/grant.service";
import { PointsService } from "./modules/points/points.service";
import { RewardService } from "./modules/rewards/reward.service";
import { StageService } from "./modules/stage/stage.service";
import { TouchpointService } from "./modules/touchpoint/touchpoint.service";

export interface AppDeps {
  config: Config;
  db: Db;
  log: Logger;
  /** Defaults to the system clock; tests move it forward to make customers lapse. */
  clock?: () => Date;
  bus?: EventBus;
}

export class App {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly bus: EventBus;
  /** Prometheus metrics of this App (served at /metrics). */
  readonly metrics = new Metrics();
  readonly outbox: OutboxPublisher;
  /** What subscribers read: committed events, once each, also when the bus is down (live-feeds.ts). */
  readonly feeds: LiveFeeds;
  readonly webhooks: WebhookDispatcher;
  readonly programConfigs: ProgramConfigCache;
  readonly programs: ProgramService;
  /** RFM quintile breakpoints per program (scores of the customers' value fields). */
  readonly valueBreakpoints: ValueBreakpointsCache;
  readonly customers = new CustomerService();
  readonly rewards = new RewardService();
  readonly points = new PointsService();
  readonly jobs: Jobs;
  readonly statistics: StatisticsKeeper;
  readonly grants: GrantService;
  readonly touchpoints: TouchpointService;
  readonly stages: StageService;
  readonly auth: AuthService;
  private controlFeed?: AsyncIterator<ControlMessage>;

  constructor(deps: AppDeps) {
    this.config = deps.config;
    this.db = deps.db;
    this.log = deps.log;
    this.clock = deps.clock ?? (() => new Date());
    this.bus = deps.bus ?? createEventBus(this.config.redisUrl, (err) => this.log.warn({ err }, "redis"));
    this.outbox = new OutboxPublisher(this.db, this.bus, (err) => logBackgroundFailure(this.log, err, "outbox"), this.metrics);
    this.webhooks = new WebhookDispatcher(this.db, this.log, this.config.webhooks);
    this.outbox.onDeliveriesQueued = () => this.webhooks.kick();
    this.feeds = new LiveFeeds(this.db, this.bus, this.log, { ...DEFAULT_LIVE_FEED_TIMINGS, reorderMs: this.config.liveEventsReorderMs });
    this.outbox.onPublished = (messages) => this.feeds.deliver(messages);
    // Invalidations sent while the bus was down were lost: forget every cached program and key now
    // rather than when their entries expire.
    this.feeds.onBusRecovered = () => {
      this.programConfigs.invalidateAll();
      this.auth.forgetAll();
    };
    this.programConfigs = new ProgramConfigCache(this.db);
    this.programs = new ProgramService(this.db, this.programConfigs);
    this.valueBreakpoints = new ValueBreakpointsCache(this.db);
    this.stages = new StageService(this);
    this.touchpoints = new TouchpointService(this);
    this.jobs = new Jobs(this);
    this.statistics = new StatisticsKeeper(this.db, this.log, this.config.statsKeeper);
    this.grants = new GrantService(this);
    this.auth = new AuthService(this.db, this.programConfigs, {
      adminKey: this.config.adminKey,
      tokenSecret: this.config.tokenSecret,
      tokenTtlSeconds: this.config.customerTokenTtlSeconds,
      clock: this.clock,
    });
  }

  start(): void {
    this.outbox.startRelay(this.config.outboxRelayIntervalMs, this.config.outboxRetentionDays);
    this.webhooks.start();
    this.feeds.start();
    this.statistics.start();
    void this.listenForConfigChanges();
  }

  /** Another process (or this one) changed a program: drop it from this process's caches. */
  private async listenForConfigChanges(): Promise<void> {
    this.controlFeed = this.bus.control()[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.controlFeed.next();
      if (next.done) return;
      if (next.value.kind === "PROGRAM_CHANGED") this.programConfigs.invalidate(next.value.programId);
      else if (next.value.kind === "API_KEY_REVOKED") this.auth.forgetKey(next.value.keyId);
      else if (next.value.kind === "CUSTOMER_ERASED") this.auth.forgetCustomer(next.value.programId, next.value.customerId);
    }
  }

  /** After a committed configuration change: every process reloads the program. */
  programChanged(programId: string): void {
    this.programConfigs.invalidate(programId);
    this.bus.publishControl({ kind: "PROGRAM_CHANGED", programId });
  }

  /** After a key's revocation committed: every process stops accepting it. */
  apiKeyRevoked(programId: string, keyId: string): void {
    this.auth.forgetKey(keyId);
    this.bus.publishControl({ kind: "API_KEY_REVOKED", programId, keyId });
  }

  /** After an erasure committed: every process stops accepting the customer's tokens and closes its sockets. */
  customerErased(programId: string, customerId: string): void {
    this.auth.forgetCustomer(programId, customerId);
    this.bus.publishControl({ kind: "CUSTOMER_ERASED", programId, customerId });
  }

  /**
   * The work of a graceful drain, once no new request comes in (server.ts drain): the records
   * already submitted are written, the jobs running finish, and every event committed here reaches
   * this process's subscribers. Bounded by `deadline` (a Date.now() value).
   */
  async drain(deadline: number): Promise<Record<string, number>> {
    const left = () => Math.max(0, deadline - Date.now());
    const timings: Record<string, number> = {};
    const step = async (name: string, work: Promise<unknown>) => {
      const from = Date.now();
      await Promise.race([work, new Promise((resolve) => setTimeout(resolve, left()).unref())]);
      timings[name] = (timings[name] ?? 0) + Date.now() - from;
    };
    await step("writesMs", this.touchpoints.batcher.idle());
    await step("jobsMs", this.jobs.stop(left()));
    await step("writesMs", this.touchpoints.batcher.idle());
    await step(
      "marksMs",
      this.outbox.flush().catch((err) => logBackgroundFailure(this.log, err, "drain: outbox marks not written")),
    );
    await step("eventsMs", this.feeds.flushed(deadline));
    return timings;
  }

  async stop(): Promise<void> {
    await this.jobs.stop();
    await this.statistics.stop();
    await this.controlFeed?.return?.();
    await this.touchpoints.worker?.close();
    // Sends first: the outbox's last flush then queues deliveries without starting them (the next start, or another process, sends them).
    await this.webhooks.stop();
    await this.outbox.stop();
    await this.feeds.stop();
    await this.bus.close();
  }
}
