/**
 * A partial index (`CREATE INDEX … WHERE …`), declared on its entity but left to the migrations.
 *
 * TypeORM's schema builder compares an index by name, uniqueness and columns, never by its WHERE
 * clause, and PostgreSQL hands the predicate back rewritten (`(status = 'ACTIVE'::text)`), so it
 * could neither check nor safely rebuild one. `synchronize: false` makes the builder leave the index
 * alone; the drift test then checks it exists with these columns and this predicate. TypeORM's
 * typed overloads accept `synchronize` only without columns, but the decorator reads it in every
 * form (typeorm/decorator/Index.js), and the columns are what a reader of the entity needs.
 */
import { Index, IndexOptions } from "typeorm";

export function PartialIndex(name: string, columns: string[], where: string): ClassDecorator {
  return Index(name, columns, { where, synchronize: false } as IndexOptions);
}
