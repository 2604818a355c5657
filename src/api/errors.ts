/**
 * The errors the API throws on purpose. Each carries `extensions.code`, and input errors the
 * `field` they concern, so clients can point at the right box. Anything else is masked to
 * INTERNAL_SERVER_ERROR with a request id (see error-masking.ts).
 */
import { GraphQLError } from "graphql";

export class BadInput extends GraphQLError {
  constructor(field: string, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code: "BAD_USER_INPUT", field, ...extra } });
  }
}

export class Unauthenticated extends GraphQLError {
  constructor(message = "A valid credential is required (Authorization: Bearer <key or token>)", extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code: "UNAUTHENTICATED", ...extra } });
  }
}

export class Forbidden extends GraphQLError {
  constructor(message = "This credential may not do that") {
    super(message, { extensions: { code: "FORBIDDEN" } });
  }
}

export class NotFound extends GraphQLError {
  constructor(what: string, field: string) {
    super(`${what} not found`, { extensions: { code: "NOT_FOUND", field } });
  }
}

/** The idempotency key was used before for a different request: the retry is not a retry. */
export class IdempotencyKeyReused extends GraphQLError {
  constructor(field: string, key: string) {
    super(`${field} "${key}" was already used for a different request; use a new key for a new request`, {
      extensions: { code: "IDEMPOTENCY_KEY_REUSED", field },
    });
  }
}

export function badInputs(problems: Array<{ field: string; message: string }>): BadInput {
  const [first] = problems;
  return new BadInput(first.field, problems.map((p) => `${p.field}: ${p.message}`).join("; "), {
    fields: problems,
  });
}
