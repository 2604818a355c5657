/**
 * Names as PostgreSQL gives them, so the entities describe the schema the migrations wrote by hand.
 *
 * The migrations name no primary, unique or foreign key: PostgreSQL named them (`customers_pkey`,
 * `customers_program_id_external_id_key`, `touchpoints_program_id_customer_id_fkey`). TypeORM
 * compares foreign keys and unique constraints by name, so with its default hashed names
 * (`FK_1f3b…`) the schema builder would drop and recreate every one of them. This strategy gives
 * PostgreSQL's names instead, and snake_case columns for camelCase properties, so an entity needs
 * neither a name per column nor per key, and `migration:generate` writes names in the same style.
 *
 * Checks and indexes are named in the entities: PostgreSQL derives a check's name from the
 * expression's first column, which TypeORM does not pass here. PostgreSQL cuts names at 63 bytes;
 * none of ours is that long, and a longer one would show in the drift test, not pass silently.
 */
import { DefaultNamingStrategy, NamingStrategyInterface, Table } from "typeorm";
import { snakeCase } from "typeorm/util/StringUtils";

export class PostgresNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  columnName(propertyName: string, customName: string | undefined, embeddedPrefixes: string[]): string {
    return customName ?? snakeCase([...embeddedPrefixes, propertyName].join("_"));
  }

  primaryKeyName(tableOrName: Table | string): string {
    return `${bareTableName(tableOrName)}_pkey`;
  }

  uniqueConstraintName(tableOrName: Table | string, columnNames: string[]): string {
    return `${bareTableName(tableOrName)}_${columnNames.join("_")}_key`;
  }

  foreignKeyName(tableOrName: Table | string, columnNames: string[]): string {
    return `${bareTableName(tableOrName)}_${columnNames.join("_")}_fkey`;
  }

  indexName(tableOrName: Table | string, columnNames: string[]): string {
    return `${bareTableName(tableOrName)}_${columnNames.join("_")}_idx`;
  }
}

/** PostgreSQL's names carry the table without its schema. */
function bareTableName(tableOrName: Table | string): string {
  const name = typeof tableOrName === "string" ? tableOrName : tableOrName.name;
  return name.split(".").pop() as string;
}
