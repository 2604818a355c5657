/**
 * Leaky buckets of cost, one per credential (Shopify's model): a bucket holds up to `size` points
 * and refills `restorePerSecond` a second; a request takes its estimated cost up front and gets
 * back what it did not use. With REDIS_URL every API process shares the buckets: one Lua script
 * refills, takes and stores in one atomic step, on Redis's clock. Without it, or while Redis does
 * not answer, each process keeps its own (a process still bounds what one credential takes of it).
 *
 * Why not rate-limiter-flexible: its limiters count points in fixed windows; a bucket that
 * refills continuously, reports what is available and takes refunds is this one small script.
 */
import { Redis } from "ioredis";
import type { BucketConfig } from "../../config";

export interface BucketState {
  /** Whether the cost was taken. */
  ok: boolean;
  /** Points in the bucket after the call (fractional: the bucket refills continuously). */
  available: number;
}

export interface CostBuckets {
  /** Takes `cost` if the bucket holds it; 0 only reads; a negative cost gives points back. */
  take(key: string, bucket: BucketConfig, cost: number): Promise<BucketState>;
  /** Resolves when the store answers, or after `ms`. */
  ready(ms: number): Promise<void>;
  close(): Promise<void>;
}

export class MemoryBuckets implements CostBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number; bucket: BucketConfig }>();

  constructor(private readonly now: () => number = () => performance.timeOrigin + performance.now()) {}

  async take(key: string, bucket: BucketConfig, cost: number): Promise<BucketState> {
    return this.takeNow(key, bucket, cost);
  }

  takeNow(key: string, bucket: BucketConfig, cost: number): BucketState {
    const now = this.now();
    const state = this.buckets.get(key);
    let tokens = state ? Math.min(bucket.size, state.tokens + (Math.max(0, now - state.at) * bucket.restorePerSecond) / 1000) : bucket.size;
    const ok = cost <= tokens;
    if (ok) tokens = Math.min(bucket.size, tokens - cost);
    if (!state && this.buckets.size >= 100_000) this.forgetFull(now);
    this.buckets.set(key, { tokens, at: now, bucket });
    return { ok, available: tokens };
  }

  /**
   * Full buckets hold nothing worth keeping: a key seen again starts full anyway (each judged by
   * its own size and refill). Past that, the least recently created go: never all at once, which
   * would refill every drained credential.
   */
  private forgetFull(now: number): void {
    for (const [key, state] of this.buckets) {
      if (state.tokens + ((now - state.at) * state.bucket.restorePerSecond) / 1000 >= state.bucket.size) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < 90_000) break;
      this.buckets.delete(key);
    }
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * KEYS[1] the bucket; ARGV size, restore per second, need, extra, refund. Gives the refund back;
 * then, if the bucket holds `need`, takes it and up to `extra` more (the process's lease).
 * Returns {ok, granted, tokens left as text}.
 */
const TAKE_SCRIPT = `
local size = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local extra = tonumber(ARGV[4])
local refund = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1])
if tokens == nil then
  tokens = size
else
  tokens = math.min(size, tokens + math.max(0, now - tonumber(v[2])) * rate / 1000)
end
tokens = math.min(size, tokens + refund)
local ok = 0
local granted = 0
if need <= tokens then
  granted = need + math.max(0, math.min(extra, tokens - need))
  tokens = tokens - granted
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((size - tokens) * 1000 / rate) + 1000)
return {ok, tostring(granted), tostring(tokens)}
`;

type RedisWithTake = Redis & {
  takeCost(key: string, size: number, rate: number, need: number, extra: number, refund: number): Promise<[number, string, string]>;
};

/**
 * A Redis round trip costs this process more CPU than the rest of the limits together (about
 * 60 µs against 30 µs a purchase). So each process leases points: a take that the process's
 * lease does not cover asks Redis for what it lacks plus a lease of LEASE_SHARE of the bucket
 * (at most a twentieth of a second's refill), and the next requests spend the lease locally. A
 * refund goes back into the lease (past twice a lease, to Redis). A lease unused for
 * LEASE_IDLE_MS goes back to Redis. So a key
 * posting purchases asks Redis about once per eighty, and what one process holds of a bucket that
 * others could have used is at most a lease. A read before parsing (cost 0) goes by the last
 * state Redis gave plus the lease. Commands are auto-pipelined.
 */
const LEASE_SHARE = 0.02;
const LEASE_IDLE_MS = 1000;

export class RedisBuckets implements CostBuckets {
  private readonly redis: RedisWithTake;
  private readonly fallback = new MemoryBuckets();
  /** Per key: points this process holds, what Redis had left when last asked, and when used. */
  private readonly leases = new Map<
    string,
    { bucket: BucketConfig; lease: number; shared: number; sharedAt: number; usedAt: number; asking?: Promise<void> }
  >();
  private readonly returner: NodeJS.Timeout;
  private warnedAt = 0;

  constructor(
    url: string,
    private readonly warn: (err: unknown) => void,
  ) {
    // A request must not wait for a Redis that is away: fail fast, use this process's buckets.
    this.redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, enableAutoPipelining: true }) as RedisWithTake;
    this.redis.on("error", () => undefined);
    this.redis.defineCommand("takeCost", { numberOfKeys: 1, lua: TAKE_SCRIPT });
    this.returner = setInterval(() => void this.returnIdle(Date.now() - LEASE_IDLE_MS), LEASE_IDLE_MS);
    this.returner.unref();
  }

  async take(key: string, bucket: BucketConfig, cost: number): Promise<BucketState> {
    const now = Date.now();
    let state = this.leases.get(key);
    if (!state) this.leases.set(key, (state = { bucket, lease: 0, shared: bucket.size, sharedAt: now, usedAt: now }));
    state.usedAt = now;
    // One question to Redis at a time per key: requests arriving meanwhile wait for its lease
    // instead of each leasing more than the process will use.
    while (state.asking && cost > state.lease) await state.asking;
    // What the shared bucket holds by now, as far as this process knows: its last answer, refilled.
    const shared = () => Math.min(bucket.size, state!.shared + ((now - state!.sharedAt) * bucket.restorePerSecond) / 1000);
    const extra = Math.floor(Math.min(bucket.size * LEASE_SHARE, bucket.restorePerSecond / 20));
    if (cost <= state.lease) {
      state.lease -= cost;
      // A refund past twice a lease goes back to the shared bucket now: others may need it.
      if (cost < 0 && state.lease > 2 * extra) {
        const excess = state.lease - extra;
        state.lease = extra;
        await this.redis.takeCost(`loyalty:bucket:${key}`, bucket.size, bucket.restorePerSecond, 0, 0, excess).then(
          ([, , tokens]) => ((state!.shared = Number(tokens)), (state!.sharedAt = Date.now())),
          () => this.fallback.takeNow(key, bucket, -excess),
        );
      }
      return { ok: true, available: Math.min(bucket.size, shared() + state.lease) };
    }
    const asked = this.redis.takeCost(`loyalty:bucket:${key}`, bucket.size, bucket.restorePerSecond, cost - state.lease, extra, 0);
    state.asking = asked.then(
      () => undefined,
      () => undefined,
    );
    try {
      const [ok, granted, tokens] = await asked;
      state.shared = Number(tokens);
      state.sharedAt = Date.now();
      if (ok === 1) state.lease = state.lease + Number(granted) - cost;
      return { ok: ok === 1, available: state.shared + state.lease };
    } catch (err) {
      if (Date.now() - this.warnedAt > 10_000) {
        this.warnedAt = Date.now();
        this.warn(err);
      }
      return this.fallback.takeNow(key, bucket, cost);
    } finally {
      state.asking = undefined;
    }
  }

  /** Leases not used since `before` go back to Redis (and every lease, at close). */
  private async returnIdle(before: number): Promise<void> {
    const idle = [...this.leases].filter(([, s]) => s.usedAt <= before);
    for (const [key] of idle) this.leases.delete(key);
    await Promise.all(
      idle
        .filter(([, s]) => s.lease > 0)
        .map(([key, s]) => this.redis.takeCost(`loyalty:bucket:${key}`, s.bucket.size, s.bucket.restorePerSecond, 0, 0, s.lease).catch(() => undefined)),
    );
  }

  async ready(ms: number): Promise<void> {
    if (this.redis.status === "ready") return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => this.redis.once("ready", r)), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    clearInterval(this.returner);
    await this.returnIdle(Infinity);
    this.redis.disconnect();
  }
}
