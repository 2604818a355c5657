/**
 * Who is calling. Built once per operation from the credential, carried in the request context,
 * and checked by every resolver against the program it touches.
 */
import { Forbidden, NotFound, Unauthenticated } from "../../api/errors";

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

/** The role an actor holds in a program, or null when it holds none there. */
export function roleIn(actor: Actor, programId: string): Role | null {
  switch (actor.kind) {
    case "root":
      return Role.ADMIN;
    case "key":
      return actor.programId === programId ? actor.role : null;
    case "customer":
      return actor.programId === programId ? Role.STOREFRONT : null;
    case "anonymous":
      return null;
  }
}

/** Throws UNAUTHENTICATED without a credential, FORBIDDEN without one of `roles` in `programId`. */
export function requireRole(actor: Actor, programId: string, roles: Role[]): Role {
  if (actor.kind === "anonymous") throw new Unauthenticated();
  const role = roleIn(actor, programId);
  if (!role) throw new Forbidden("This credential has no access to that program");
  if (!roles.includes(role)) throw new Forbidden(`This operation needs the role ${roles.join(" or ")}`);
  if (actor.kind === "customer" && !roles.includes(Role.STOREFRONT)) throw new Forbidden();
  return role;
}

/**
 * For an operation on a row found by its id alone (a reward, a redemption, a customer): no
 * credential is UNAUTHENTICATED before anything is looked up; `requireRowRole` then answers
 * NOT_FOUND when the credential has no role in the row's program, as for a row that does not exist,
 * so a key of another program cannot probe for ids.
 */
export function requireCredential(actor: Actor): void {
  if (actor.kind === "anonymous") throw new Unauthenticated();
}

export function requireRowRole(actor: Actor, programId: string, roles: Role[], what: string, field: string): Role {
  requireCredential(actor);
  if (!roleIn(actor, programId)) throw new NotFound(what, field);
  return requireRole(actor, programId, roles);
}

/** Reading one customer: ADMIN and PARTNER of its program, or that customer's own token. */
export function requireCustomerAccess(actor: Actor, programId: string, customerId: string): void {
  if (actor.kind === "customer") {
    if (actor.programId !== programId || actor.customerId !== customerId) {
      throw new Forbidden("A customer token reads only its own customer");
    }
    return;
  }
  requireRole(actor, programId, [Role.ADMIN, Role.PARTNER]);
}

/** The one program an actor is bound to, if any (every credential but the root key is). */
export function boundProgram(actor: Actor): string | undefined {
  return actor.kind === "key" || actor.kind === "customer" ? actor.programId : undefined;
}
