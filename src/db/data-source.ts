import "reflect-metadata";
import { DataSource } from "typeorm";
import { Foundation1763800000000 } from "../../migrations/1763800000000-Foundation";
import { PointsEconomy1763900000000 } from "../../migrations/1763900000000-PointsEconomy";
import { Tiers1764000000000 } from "../../migrations/1764000000000-Tiers";
import { ReferralsAndTriggers1764100000000 } from "../../migrations/1764100000000-ReferralsAndTriggers";
import { OptimisticWriteBatch1764200000000 } from "../../migrations/1764200000000-OptimisticWriteBatch";
import { LeanerWriteChecks1764300000000 } from "../../migrations/1764300000000-LeanerWriteChecks";
import { Surveys1764400000000 } from "../../migrations/1764400000000-Surveys";
import { CustomerErasure1764600000000 } from "../../migrations/1764600000000-CustomerErasure";
import { SegmentGoals1764700000000 } from "../../migrations/1764700000000-SegmentGoals";
import { StageRewards1764800000000 } from "../../migrations/1764800000000-StageRewards";
import { ValuePolicy1764900000000 } from "../../migrations/1764900000000-ValuePolicy";
import { LifecycleEvents1765000000000 } from "../../migrations/1765000000000-LifecycleEvents";
import { RewardLifecycle1765100000000 } from "../../migrations/1765100000000-RewardLifecycle";
import { Webhooks1765200000000 } from "../../migrations/1765200000000-Webhooks";
import { CustomerAttributesSize1765300000000 } from "../../migrations/1765300000000-CustomerAttributesSize";
import { RefundCompletion1764500000000 } from "../../migrations/1764500000000-RefundCompletion";
import { AutovacuumSettings1765420000000 } from "../../migrations/1765420000000-AutovacuumSettings";
import { ENTITIES } from "./entities";
import { PostgresNamingStrategy } from "./naming-strategy";

/** Every migration, in order. New migrations are appended here and in migrations/. */
export const MIGRATIONS = [
  Foundation1763800000000,
  PointsEconomy1763900000000,
  Tiers1764000000000,
  ReferralsAndTriggers1764100000000,
  OptimisticWriteBatch1764200000000,
  LeanerWriteChecks1764300000000,
  Surveys1764400000000,
  RefundCompletion1764500000000,
  CustomerErasure1764600000000,
  SegmentGoals1764700000000,
  StageRewards1764800000000,
  ValuePolicy1764900000000,
  LifecycleEvents1765000000000,
  RewardLifecycle1765100000000,
  Webhooks1765200000000,
  CustomerAttributesSize1765300000000,
  AutovacuumSettings1765420000000,
];

/**
 * The one DataSource shape used by the server, the CLI and ormconfig.ts. `synchronize` is never on:
 * the schema changes only through migrations, and the entities describe what they built (the drift
 * test holds the two together). The SQL the services run goes through `Db` over this DataSource's
 * pool, so there is one pool per process.
 */
export function createDataSource(url: string, poolSize: number): DataSource {
  return new DataSource({
    type: "postgres",
    url,
    uuidExtension: "pgcrypto",
    installExtensions: false,
    synchronize: false,
    migrationsRun: false,
    migrationsTransactionMode: "each",
    entities: ENTITIES,
    namingStrategy: new PostgresNamingStrategy(),
    migrations: MIGRATIONS,
    extra: { max: poolSize, application_name: "loyalty-ladder" },
    logging: false,
  });
}
