import { BadInput } from "./errors";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** IDs arrive as strings; a malformed one is the client's mistake, not a database error. */
export function uuidArg(value: string, field: string): string {
  if (!UUID.test(value)) throw new BadInput(field, `${field} is not a valid id`);
  return value.toLowerCase();
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
