/**
 * PostgreSQL text cannot hold the NUL character: a string with one would fail deep in a statement
 * (and fail a whole write batch). Requests are checked for it up front instead.
 */
export function pathOfNul(value: unknown, path = ""): string | null {
  if (typeof value === "string") return value.includes("\u0000") ? path || "query" : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = pathOfNul(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [key, v] of Object.entries(value)) {
      const found = pathOfNul(v, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return null;
}

/** The field a NUL was found in, as clients name it: `variables.input.orderId` → `input.orderId`. */
export function nulField(body: unknown): string | null {
  const path = pathOfNul(body);
  return path ? path.replace(/^variables\./, "") : null;
}
