/**
 * Who is calling. Built once per operation from the credential and carried in the request context;
 * what each kind may do is declared in policies.ts and enforced by authorize.ts.
 */

export enum Role {
  ADMIN = "ADMIN",
  PARTNER = "PARTNER",
  STOREFRONT = "STOREFRONT",
}

export type Actor =
  /** LOYALTY_ADMIN_KEY: ADMIN over every program. */
  | { kind: "root" }
  /** An API key: one role in one program. */
  | { kind: "key"; programId: string; role: Role; keyId: string }
  /** A customer token: acts as a storefront for one customer of one program. */
  | { kind: "customer"; programId: string; customerId: string; /** ms since epoch */ expiresAt: number }
  | { kind: "anonymous" };

/** The one program an actor is bound to, if any (every credential but the root key is). */
export function boundProgram(actor: Actor): string | undefined {
  return actor.kind === "key" || actor.kind === "customer" ? actor.programId : undefined;
}
