import pino, { DestinationStream, Logger } from "pino";

/**
 * Fields never written to the log, at the top level and one level down (`{ err: { config: … } }`
 * is two): credentials in headers and connection params, secrets, tokens, keys. No log call of
 * ours passes one; this is the belt for one that would.
 */
export const REDACTED_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
  "connectionParams.authorization",
  "*.connectionParams.authorization",
  "secret",
  "*.secret",
  "token",
  "*.token",
  "tokenSecret",
  "*.tokenSecret",
  "token_secret",
  "*.token_secret",
  "adminKey",
  "*.adminKey",
  "partnerKey",
  "*.partnerKey",
  "apiKey",
  "password",
  "*.password",
];

/** Structured JSON logs on stdout (or `destination`, for tests); every request's lines carry its requestId. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: "loyalty-ladder" }, redact: REDACTED_PATHS }, destination);
}
