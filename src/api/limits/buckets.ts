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
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

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
    if (!state && this.buckets.size >= 100_000) this.forgetFull(now, bucket);
    this.buckets.set(key, { tokens, at: now });
    return { ok, available: tokens };
  }

  /** Records what another store said a key's bucket holds now. */
  set(key: string, tokens: number): void {
    this.buckets.set(key, { tokens, at: this.now() });
  }

  /** Full buckets hold nothing worth keeping: a key seen again starts full anyway. */
  private forgetFull(now: number, bucket: BucketConfig): void {
    for (const [key, state] of this.buckets) {
      if (state.tokens + ((now - state.at) * bucket.restorePerSecond) / 1000 >= bucket.size) this.buckets.delete(key);
    }
    if (this.buckets.size >= 100_000) this.buckets.clear();
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * KEYS[1] the bucket; ARGV size, restore per second, cost, refund. Gives the refund back, then
 * takes the cost if the bucket holds it. Returns {ok, tokens as text}.
 */
const TAKE_SCRIPT = `
local size = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
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
if cost <= tokens then
  tokens = tokens - cost
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((size - tokens) * 1000 / rate) + 1000)
return {ok, tostring(tokens)}
`;

type RedisWithTake = Redis & { takeCost(key: string, size: number, rate: number, cost: number, refund: number): Promise<[number, string]> };

/**
 * Redis buckets cost a round trip per request, not three: a read before parsing (cost 0) is
 * answered from the last state Redis gave for the key, refilled locally; a refund waits to ride
 * on the key's next take (or a flush within REFUND_FLUSH_MS). Commands are auto-pipelined.
 */
const REFUND_FLUSH_MS = 200;

export class RedisBuckets implements CostBuckets {
  private readonly redis: RedisWithTake;
  private readonly fallback = new MemoryBuckets();
  /** The last state Redis answered per key: what a read before parsing goes by. */
  private readonly seen = new MemoryBuckets();
  private readonly refunds = new Map<string, { bucket: BucketConfig; amount: number }>();
  private readonly flusher: NodeJS.Timeout;
  private warnedAt = 0;

  constructor(
    url: string,
    private readonly warn: (err: unknown) => void,
  ) {
    // A request must not wait for a Redis that is away: fail fast, use this process's buckets.
    this.redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, enableAutoPipelining: true }) as RedisWithTake;
    this.redis.on("error", () => undefined);
    this.redis.defineCommand("takeCost", { numberOfKeys: 1, lua: TAKE_SCRIPT });
    this.flusher = setInterval(() => void this.flushRefunds(), REFUND_FLUSH_MS);
    this.flusher.unref();
  }

  async take(key: string, bucket: BucketConfig, cost: number): Promise<BucketState> {
    if (cost === 0) return this.seen.takeNow(key, bucket, 0);
    if (cost < 0) {
      const pending = this.refunds.get(key);
      this.refunds.set(key, { bucket, amount: (pending?.amount ?? 0) - cost });
      return this.seen.takeNow(key, bucket, cost);
    }
    const refund = this.refunds.get(key)?.amount ?? 0;
    this.refunds.delete(key);
    return this.send(key, bucket, cost, refund);
  }

  private async send(key: string, bucket: BucketConfig, cost: number, refund: number): Promise<BucketState> {
    try {
      const [ok, tokens] = await this.redis.takeCost(`loyalty:bucket:${key}`, bucket.size, bucket.restorePerSecond, cost, refund);
      const state = { ok: ok === 1, available: Number(tokens) };
      this.seen.set(key, state.available);
      return state;
    } catch (err) {
      if (Date.now() - this.warnedAt > 10_000) {
        this.warnedAt = Date.now();
        this.warn(err);
      }
      if (refund > 0) this.fallback.takeNow(key, bucket, -refund);
      return this.fallback.takeNow(key, bucket, cost);
    }
  }

  private async flushRefunds(): Promise<void> {
    const due = [...this.refunds];
    this.refunds.clear();
    await Promise.all(due.map(([key, { bucket, amount }]) => this.send(key, bucket, 0, amount)));
  }

  async ready(ms: number): Promise<void> {
    if (this.redis.status === "ready") return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => this.redis.once("ready", r)), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    clearInterval(this.flusher);
    await this.flushRefunds();
    this.redis.disconnect();
  }
}
