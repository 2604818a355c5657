/**
 * The DataSource for TypeORM's own CLI (`npx typeorm-ts-node-commonjs migration:generate
 * migrations/<Name> -d ormconfig.ts`; plain `npx typeorm` cannot load TypeScript), on the
 * PostgreSQL of DATABASE_URL. The embedded database exists only inside a running process, so for it
 * use `npm run migrate`, which starts it first.
 */
import { createDataSource } from "./src/db/data-source";

const url = process.env.DATABASE_URL;
if (!url) throw new Error("ormconfig.ts needs DATABASE_URL; for the embedded database use `npm run migrate`");

export default createDataSource(url, Number(process.env.DB_POOL_SIZE ?? 4));
