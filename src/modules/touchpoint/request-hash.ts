import { createHash } from "node:crypto";

/** A stable hash of a request as the client sent it: keys sorted, absent fields dropped. */
export function requestHash(input: unknown): string {
  const canonical = (value: any): any => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value instanceof Date) return value.toISOString();
    if (value && typeof value === "object") {
      return Object.fromEntries(
        Object.keys(value)
          .filter((k) => value[k] !== undefined && value[k] !== null)
          .sort()
          .map((k) => [k, canonical(value[k])]),
      );
    }
    return value;
  };
  return createHash("sha256").update(JSON.stringify(canonical(input))).digest("hex");
}
