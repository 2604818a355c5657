/**
 * Relay connections with opaque cursors over indexed keys (never OFFSET), so page N costs what
 * page 1 costs.
 */
import { ClassType, Field, ObjectType } from "type-graphql";
import { BadInput } from "./errors";

@ObjectType({ description: "Relay page information." })
export class PageInfo {
  @Field()
  hasNextPage: boolean;

  @Field()
  hasPreviousPage: boolean;

  @Field(() => String, { nullable: true })
  startCursor: string | null;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

export interface Connection<T> {
  edges: Array<{ node: T; cursor: string }>;
  nodes: T[];
  pageInfo: PageInfo;
}

export function ConnectionType<T extends object>(node: ClassType<T>, name: string) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => node)
    node: T;

    @Field()
    cursor: string;
  }

  @ObjectType(`${name}Connection`, { description: `A page of ${name} items.` })
  class ConnectionClass {
    @Field(() => [Edge])
    edges: Edge[];

    @Field(() => [node])
    nodes: T[];

    @Field(() => PageInfo)
    pageInfo: PageInfo;
  }
  return ConnectionClass;
}

export function encodeCursor(key: string): string {
  return Buffer.from(`c1:${key}`).toString("base64url");
}

export function decodeCursor(cursor: string | null | undefined, field = "after"): string | null {
  if (cursor === null || cursor === undefined) return null;
  const decoded = Buffer.from(cursor, "base64url").toString();
  if (!decoded.startsWith("c1:") || decoded.length < 4) throw new BadInput(field, "not a cursor from this API");
  return decoded.slice(3);
}

/** Builds a connection from `first + 1` rows fetched in order: the extra row says there is a next page. */
export function toConnection<T>(rows: T[], first: number, keyOf: (node: T) => string, hasPrevious: boolean): Connection<T> {
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({ node, cursor: encodeCursor(keyOf(node)) }));
  return {
    edges,
    nodes,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: hasPrevious,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}

export function checkFirst(first: number, max = 200, field = "first"): number {
  if (!Number.isInteger(first) || first < 0 || first > max) throw new BadInput(field, `${field} must be between 0 and ${max}`);
  return first;
}
