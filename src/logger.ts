import pino, { Logger } from "pino";

/** Structured JSON logs on stdout; every request's lines carry its requestId. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "loyalty-ladder" }, redact: ["req.headers.authorization", "secret"] });
}
