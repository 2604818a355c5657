/**
 * Expected errors reach the client as they are (typed code, field); a transient failure (the
 * database or bus unavailable, a lost commit) is UNAVAILABLE and retryable (unavailable.ts);
 * anything else is a bug and is masked: the client sees INTERNAL_SERVER_ERROR and the request id,
 * the log gets the details.
 */
import type { GraphQLFormattedError } from "graphql";
import { GraphQLError } from "graphql";
import { transientKind, Unavailable, UNAVAILABLE } from "./unavailable";

const EXPOSED_CODES = new Set([
  "BAD_USER_INPUT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "IDEMPOTENCY_KEY_REUSED",
  "EVENTS_EXPIRED",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
  "QUERY_LIMIT_EXCEEDED",
  "THROTTLED",
  UNAVAILABLE,
]);

/**
 * Errors Apollo Server raises before execution with no code (it fills in INTERNAL_SERVER_ERROR),
 * each the client's doing: an APQ hash that is not the query's, or a persisted-query version it
 * does not speak. Apollo answers them with HTTP 400; they are BAD_REQUEST, and not logged as bugs.
 * (PERSISTED_QUERY_NOT_FOUND and _NOT_SUPPORTED come with their codes, and HTTP 200 by the APQ
 * protocol, so a client sends the query text next.)
 */
const APOLLO_REQUEST_ERRORS = new Map([
  ["provided sha does not match query", "BAD_REQUEST"],
  ["Unsupported persisted query version", "BAD_REQUEST"],
]);

/** The code of one of Apollo's uncoded request errors, matched exactly (not one of ours or a resolver's). */
function apolloRequestErrorCode(error: unknown): string | undefined {
  if (!(error instanceof GraphQLError) || error.extensions?.code !== undefined || error.originalError || error.path) return undefined;
  return APOLLO_REQUEST_ERRORS.get(error.message);
}

/** SQLSTATEs that mean "this value cannot be stored", not "the server is broken". */
const CLIENT_DATA_ERRORS = new Set(["22003", "22P02", "22P05", "22021", "22001", "22007", "22008", "22009"]);

/** Tags an unexpected error with the request it happened in, so the masked message can name it. */
export const REQUEST_ID = Symbol("requestId");

interface ValidationErrorLike {
  property: string;
  constraints?: Record<string, string>;
  children?: ValidationErrorLike[];
}

/** class-validator's nested errors → [{ field: "input.lines[0].quantity", message }]. */
export function flattenValidationErrors(errors: ValidationErrorLike[], prefix = ""): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  for (const e of errors) {
    const field = /^\d+$/.test(e.property) ? `${prefix}[${e.property}]` : prefix ? `${prefix}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) out.push({ field, message });
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

export function isExposed(error: unknown): boolean {
  const code = (error as GraphQLError | undefined)?.extensions?.code;
  return (typeof code === "string" && EXPOSED_CODES.has(code)) || apolloRequestErrorCode(error) !== undefined;
}

/**
 * Apollo reports every validation error as GRAPHQL_VALIDATION_FAILED and the parser's token limit
 * as GRAPHQL_PARSE_FAILED: a refused limit keeps its own code (api/limits), so a client can tell
 * "too big" from "wrong".
 */
function limitCode(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const extensions = formatted.extensions ?? {};
  if (typeof extensions.limit === "string" && extensions.code === "GRAPHQL_VALIDATION_FAILED") {
    return { ...formatted, extensions: { ...extensions, code: "QUERY_LIMIT_EXCEEDED" } };
  }
  const tokens = extensions.code === "GRAPHQL_PARSE_FAILED" ? /Document contains more tha[nt] (\d+) tokens/.exec(formatted.message) : null;
  if (tokens) {
    return {
      message: `The document has more than ${tokens[1]} tokens; parsing stopped there`,
      extensions: { code: "QUERY_LIMIT_EXCEEDED", limit: "tokens", max: Number(tokens[1]) },
    };
  }
  return formatted;
}

export function formatError(given: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const formatted = limitCode(given);
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  const validationErrors = (original as any)?.extensions?.validationErrors as ValidationErrorLike[] | undefined;
  if (validationErrors) {
    const fields = flattenValidationErrors(validationErrors);
    return {
      message: fields.map((f) => `${f.field}: ${f.message}`).join("; ") || "invalid input",
      path: formatted.path,
      extensions: { code: "BAD_USER_INPUT", field: fields[0]?.field, fields },
    };
  }
  const requestCode = apolloRequestErrorCode(error);
  if (requestCode) return { message: formatted.message, extensions: { code: requestCode } };
  const code = formatted.extensions?.code;
  if (typeof code === "string" && EXPOSED_CODES.has(code)) {
    // `http` (a status and headers for the HTTP answer) is Apollo's, not the client's.
    const { stacktrace: _stack, http: _http, ...extensions } = formatted.extensions ?? {};
    if (code === "BAD_USER_INPUT" && !extensions.field) {
      // GraphQL's own coercion errors name the place in prose: 'got invalid value 5 at "input.rating"'.
      const at =
        /at "(?:[\w$]+\.)?([^"]+)"/.exec(formatted.message) ??
        // A required field left out, or one the input type does not have.
        /Field "([^"]+)" (?:of required type|is not defined by type)/.exec(formatted.message) ??
        /Variable "\$(\w+)"/.exec(formatted.message);
      if (at) extensions.field = at[1];
    }
    return { ...formatted, extensions };
  }
  // PostgreSQL refusing a value (out of range, not valid text) is still the client's input.
  const sqlState = (original as { code?: unknown } | undefined)?.code;
  if (typeof sqlState === "string" && CLIENT_DATA_ERRORS.has(sqlState)) {
    return { message: "A value is out of range or is not valid text", path: formatted.path, extensions: { code: "BAD_USER_INPUT" } };
  }
  // The database or bus failed, not the request: the client may send it again as it is.
  const transient = transientKind(error);
  if (transient) {
    const unavailable = new Unavailable(transient);
    return { message: unavailable.message, path: formatted.path, extensions: { ...unavailable.extensions } };
  }
  const requestId = (original as any)?.[REQUEST_ID] ?? (error as any)?.[REQUEST_ID];
  return {
    message: `Internal server error${requestId ? ` (request ${requestId})` : ""}`,
    path: formatted.path,
    extensions: { code: "INTERNAL_SERVER_ERROR", ...(requestId ? { requestId } : {}) },
  };
}
