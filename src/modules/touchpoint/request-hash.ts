import * as crypto from "node:crypto";

/**
 * The input in canonical form: keys sorted, absent (undefined or null) fields dropped, dates as
 * ISO strings. Null-prototype objects, so a "__proto__" key in client JSON stays a plain key.
 */
function canonical(value: any): any {
  if (Array.isArray(value)) return value.map(canonical);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === "object") {
    const out = Object.create(null);
    for (const key of Object.keys(value).sort()) {
      const v = value[key];
      if (v !== undefined && v !== null) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

/** One-shot hashing where Node has it (20.12+): no Hash object per request. */
const sha256Hex: (text: string) => string =
  typeof (crypto as any).hash === "function"
    ? (text) => (crypto as any).hash("sha256", text, "hex")
    : (text) => crypto.createHash("sha256").update(text).digest("hex");

/** A stable hash of a request as the client sent it: keys sorted, absent fields dropped. */
export function requestHash(input: unknown): string {
  return sha256Hex(JSON.stringify(canonical(input)));
}
