/**
 * Credentials: API keys (one program, one role; stored as a SHA-256 hash, shown once), the
 * LOYALTY_ADMIN_KEY bootstrap credential, and customer tokens (HMAC-signed, short-lived).
 *
 * An API key reads `lk_<program id, 32 hex>_<secret>`: the program id lets the lookup use the
 * (program_id, key_hash) key, as every lookup does. Keys are high-entropy, so a fast hash is safe.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Db } from "../../db/db";
import { Unauthenticated } from "../../api/errors";
import { isUuid } from "../../api/ids";
import { Actor, Role } from "./actor";
import { ProgramConfigCache } from "../program/program.config";

const KEY_FORMAT = /^lk_([0-9a-f]{32})_([A-Za-z0-9_-]{20,100})$/;
const TOKEN_FORMAT = /^ct_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
export const KEY_CACHE_MS = 30_000;
/**
 * How long a customer token's customer is taken as still there and not erased without asking the
 * database. An erasure drops it at once (forgetCustomer), in every process the event bus reaches; a
 * process it does not reach (Redis down) accepts the token at most this long after.
 */
export const CUSTOMER_CACHE_MS = 5_000;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const uuidFromHex = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export class AuthService {
  /**
   * Verified keys, for a short while, so a request does not cost a key lookup. A revocation drops
   * its key at once, in every process (forgetKey, through the event bus); a lost message is healed
   * within KEY_CACHE_MS.
   */
  private readonly keyCache = new Map<string, { actor: Actor | null; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly programs: ProgramConfigCache,
    private readonly options: { adminKey?: string; tokenSecret?: string; tokenTtlSeconds: number; clock: () => Date },
  ) {}

  /**
   * The actor behind an `Authorization` value ("Bearer x" or just "x"); UNAUTHENTICATED when it
   * names no one. The one answer to "is this credential good now": an unknown, forged or revoked
   * key, an expired token and the token of an erased (or unknown) customer are refused alike, so a
   * long-lived connection can ask again before each operation.
   */
  async authenticate(authorization: string | undefined | null): Promise<Actor> {
    if (!authorization) return { kind: "anonymous" };
    const credential = authorization.replace(/^Bearer\s+/i, "").trim();
    if (!credential) return { kind: "anonymous" };
    if (this.options.adminKey && safeEqual(credential, this.options.adminKey)) return { kind: "root" };
    if (credential.startsWith("lk_")) {
      const actor = await this.apiKeyActor(credential);
      if (actor) return actor;
    } else if (credential.startsWith("ct_")) {
      const actor = await this.customerTokenActor(credential);
      if (actor) return actor;
    }
    throw new Unauthenticated("Unknown, revoked or expired credential");
  }

  private async apiKeyActor(key: string): Promise<Actor | null> {
    const match = KEY_FORMAT.exec(key);
    if (!match) return null;
    const hash = sha256(key);
    const cached = this.keyCache.get(hash);
    if (cached && cached.until > Date.now()) return cached.actor;
    const revocationsBefore = this.revocations;
    const [row] = await this.db.query(`SELECT id, program_id, role FROM api_keys WHERE program_id = $1 AND key_hash = $2 AND revoked_at IS NULL`, [
      uuidFromHex(match[1]),
      hash,
    ]);
    const actor: Actor | null = row ? { kind: "key", programId: row.program_id, role: row.role as Role, keyId: row.id } : null;
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    // A key revoked while this lookup ran may be the one it read as valid: then it is not cached.
    if (this.revocations === revocationsBefore) this.keyCache.set(hash, { actor, until: Date.now() + KEY_CACHE_MS });
    return actor;
  }

  /** Called with the id of each key revoked, here or in another process (the server closes its WebSockets). */
  readonly revokedListeners = new Set<(keyId: string) => void>();
  /** Revocations heard so far: a key lookup that overlapped one does not cache what it read. */
  private revocations = 0;

  /** How many revocations this process has heard: compare before and after a use of a key that must not outlive its revocation. */
  get revocationCount(): number {
    return this.revocations;
  }

  /** Of these keys, the ids of those revoked, from the database (not the cache). */
  async revokedAmong(keys: Array<{ programId: string; keyId: string }>): Promise<string[]> {
    if (keys.length === 0) return [];
    const rows = await this.db.query(
      `SELECT k.id FROM api_keys k JOIN unnest($1::uuid[], $2::uuid[]) AS x(program_id, id) ON k.program_id = x.program_id AND k.id = x.id
        WHERE k.revoked_at IS NOT NULL`,
      [keys.map((k) => k.programId), keys.map((k) => k.keyId)],
    );
    return rows.map((r) => r.id);
  }

  /** Whether an API key still works, from the database (not the cache). */
  async isKeyActive(programId: string, keyId: string): Promise<boolean> {
    const [row] = await this.db.query(`SELECT 1 FROM api_keys WHERE program_id = $1 AND id = $2 AND revoked_at IS NULL`, [programId, keyId]);
    return !!row;
  }

  /** The program's keys, newest first (never their hashes). */
  listApiKeys(programId: string): Promise<any[]> {
    return this.db.query(`SELECT id, program_id, name, role, created_at, revoked_at FROM api_keys WHERE program_id = $1 ORDER BY created_at DESC, id`, [
      programId,
    ]);
  }

  /** Revokes a key (once: revoking it again changes nothing); null when the program has no such key. The caller then tells every process (App.apiKeyRevoked). */
  async revokeApiKey(programId: string, keyId: string): Promise<any | null> {
    const [row] = await this.db.query(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE program_id = $1 AND id = $2
       RETURNING id, program_id, name, role, created_at, revoked_at`,
      [programId, keyId],
    );
    return row ?? null;
  }

  /** A key was revoked: this process stops accepting it now (not KEY_CACHE_MS later), and says so. */
  forgetKey(keyId: string): void {
    this.revocations++;
    for (const [hash, entry] of this.keyCache) if (entry.actor?.kind === "key" && entry.actor.keyId === keyId) this.keyCache.delete(hash);
    for (const listener of this.revokedListeners) listener(keyId);
  }

  async createApiKey(programId: string, role: Role, name: string): Promise<{ row: any; secret: string }> {
    const secret = `lk_${programId.replace(/-/g, "")}_${randomBytes(24).toString("base64url")}`;
    const [row] = await this.db.query(
      `INSERT INTO api_keys (program_id, name, role, key_hash) VALUES ($1, $2, $3, $4) RETURNING id, program_id, name, role, created_at`,
      [programId, name, role, sha256(secret)],
    );
    return { row, secret };
  }

  private async secretOf(programId: string): Promise<string | null> {
    if (this.options.tokenSecret) return this.options.tokenSecret;
    const config = await this.programs.get(programId);
    return config?.tokenSecret ?? null;
  }

  async issueCustomerToken(programId: string, customerId: string): Promise<IssuedToken> {
    const expiresAt = new Date(this.options.clock().getTime() + this.options.tokenTtlSeconds * 1000);
    const body = Buffer.from(JSON.stringify({ p: programId, c: customerId, e: Math.floor(expiresAt.getTime() / 1000) })).toString("base64url");
    const secret = await this.secretOf(programId);
    if (!secret) throw new Error(`program ${programId} has no token secret`);
    return { token: `ct_${body}.${sign(secret, body)}`, expiresAt };
  }

  private async customerTokenActor(token: string): Promise<Actor | null> {
    const match = TOKEN_FORMAT.exec(token);
    if (!match) return null;
    let claims: { p?: unknown; c?: unknown; e?: unknown };
    try {
      claims = JSON.parse(Buffer.from(match[1], "base64url").toString());
    } catch {
      return null;
    }
    // A forged token's claims may be any JSON: null, a number, an array.
    if (!claims || typeof claims !== "object") return null;
    if (typeof claims.p !== "string" || typeof claims.c !== "string" || typeof claims.e !== "number") return null;
    if (!isUuid(claims.p) || !isUuid(claims.c)) return null;
    const secret = await this.secretOf(claims.p);
    if (!secret || !safeEqual(sign(secret, match[1]), match[2])) return null;
    if (claims.e * 1000 <= this.options.clock().getTime()) return null;
    if (!(await this.customerActive(claims.p, claims.c))) return null;
    return { kind: "customer", programId: claims.p, customerId: claims.c, expiresAt: claims.e * 1000 };
  }

  /** Customers of tokens seen lately: whether each is there and not erased, until when. */
  private readonly customerCache = new Map<string, { active: boolean; until: number }>();
  /** Erasures heard so far: a lookup that overlapped one does not cache what it read. */
  private erasures = 0;

  private async customerActive(programId: string, customerId: string): Promise<boolean> {
    const key = `${programId}:${customerId}`;
    const cached = this.customerCache.get(key);
    if (cached && cached.until > Date.now()) return cached.active;
    const erasuresBefore = this.erasures;
    const [row] = await this.db.query(`SELECT erased_at FROM customers WHERE program_id = $1 AND id = $2`, [programId, customerId]);
    const active = !!row && !row.erased_at;
    if (this.customerCache.size > 10_000) this.customerCache.clear();
    if (this.erasures === erasuresBefore) this.customerCache.set(key, { active, until: Date.now() + CUSTOMER_CACHE_MS });
    return active;
  }

  /** A customer was erased (committed): its tokens stop working in this process now, not CUSTOMER_CACHE_MS later. */
  forgetCustomer(programId: string, customerId: string): void {
    this.erasures++;
    this.customerCache.delete(`${programId}:${customerId}`);
    for (const listener of this.erasedListeners) listener(customerId);
  }

  /**
   * Forgets every cached key and customer: after the bus was down, a revocation or an erasure may
   * not have been heard. The next request of each reads the database again.
   */
  forgetAll(): void {
    this.revocations++;
    this.erasures++;
    this.keyCache.clear();
    this.customerCache.clear();
  }

  /** Called with the id of each customer erased, here or in another process (the server closes its WebSockets). */
  readonly erasedListeners = new Set<(customerId: string) => void>();
}

function sign(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
