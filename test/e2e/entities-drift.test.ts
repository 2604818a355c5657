/**
 * The entities are the data model and the migrations build it (docs/architecture.md, "Data
 * model"): after every migration on a fresh database, TypeORM's schema builder must find nothing to
 * change. A column, key, check or index added by a migration and not to its entity (or the reverse)
 * shows here as the statement the builder would run.
 *
 * The builder compares an index by name, uniqueness and its set of columns only, and skips the
 * partial ones the entities leave to the migrations (src/db/partial-index.ts), so a second test
 * compares every index exactly: columns in order, uniqueness and predicate.
 *
 * Runs on PGlite as well: the builder only reads the catalogs, which PGlite has as PostgreSQL does.
 */
import { DataSource } from "typeorm";
import { EntityMetadata } from "typeorm/metadata/EntityMetadata";
import { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import { createDataSource } from "../../src/db/data-source";
import { EmbeddedDatabase, startEmbeddedDatabase } from "../../src/db/embedded";
import { createScratchDatabase, ScratchDatabase } from "../../src/db/scratch-database";

let dataSource: DataSource;
let scratch: ScratchDatabase | undefined;
let embedded: EmbeddedDatabase | undefined;

beforeAll(async () => {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) scratch = await createScratchDatabase(serverUrl, "loyalty_drift");
  else embedded = await startEmbeddedDatabase("memory://", 3);
  dataSource = createDataSource(scratch?.url ?? (embedded as EmbeddedDatabase).url, 1);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: "each" });
});

afterAll(async () => {
  await dataSource?.destroy();
  await scratch?.drop();
  await embedded?.stop();
});

it("the schema builder has nothing to change after all migrations", async () => {
  const plan = await dataSource.driver.createSchemaBuilder().log();
  // The statements themselves, so a failure says which entity or migration to fix.
  expect(plan.upQueries.map((q) => q.query)).toEqual([]);
});

interface IndexShape {
  table: string;
  name: string;
  columns: string[];
  unique: boolean;
  /** The WHERE clause of a partial index, without PostgreSQL's parentheses and casts. */
  where: string | null;
}

/** `((status = 'ACTIVE'::text) AND (remaining > 0))` and `status = 'ACTIVE' AND remaining > 0` compare equal. */
function normalizePredicate(sql: string | null | undefined): string | null {
  if (!sql) return null;
  return sql
    .replace(/::[a-z ]+(\[\])?/g, "")
    .replace(/[()]/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * TypeORM resolves the columns of an index it synchronizes; for one it leaves alone it keeps the
 * property names as given, so they are resolved here.
 */
function declaredColumns(entity: EntityMetadata, index: IndexMetadata): string[] {
  if (index.synchronize) return index.columns.map((column) => column.databaseName);
  const given = index.givenColumnNames;
  if (!Array.isArray(given)) throw new Error(`index ${index.name}: give its columns as a list of properties`);
  return given.map((property: string) => {
    const column = entity.findColumnWithPropertyName(property);
    if (!column) throw new Error(`index ${index.name}: ${entity.name} has no property ${property}`);
    return column.databaseName;
  });
}

function byName(a: IndexShape, b: IndexShape): number {
  return a.name.localeCompare(b.name);
}

it("every index is as its entity declares it: columns in order, uniqueness, predicate", async () => {
  const declared: IndexShape[] = dataSource.entityMetadatas.flatMap((entity) =>
    entity.indices.map((index) => ({
      table: entity.tableName,
      name: index.name,
      columns: declaredColumns(entity, index),
      unique: index.isUnique,
      where: normalizePredicate(index.where),
    })),
  );
  // Indexes of their own only: those behind primary keys and unique constraints are the builder's to compare.
  const rows: Array<{ table: string; name: string; columns: string[]; unique: boolean; predicate: string | null }> = await dataSource.query(
    `
    SELECT t.relname AS table, x.relname AS name, i.indisunique AS unique, pg_get_expr(i.indpred, i.indrelid) AS predicate,
           array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS columns
      FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
     WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($1)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
    [dataSource.entityMetadatas.map((entity) => entity.tableName)],
  );
  const built = rows.map((row) => ({ table: row.table, name: row.name, columns: row.columns, unique: row.unique, where: normalizePredicate(row.predicate) }));
  expect(built.sort(byName)).toEqual(declared.sort(byName));
});
