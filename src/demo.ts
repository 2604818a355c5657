/**
 * The demo program seeded on first start (when there is no program yet): a coffee shop on the
 * griffin-7 ladder with silver/gold tiers, points that expire at the end of the year, two rewards,
 * a few customers at different rungs, and an ADMIN and a PARTNER key, printed once. The tables it
 * wrote are then ANALYZEd: a first start otherwise plans on tables never analyzed (src/db/statistics.ts).
 */
import { App } from "./app";
import { createContext } from "./context";
import { analyzeTables, WRITE_PATH_TABLES } from "./db/statistics";
import { Role } from "./modules/auth/actor";
import { TouchpointType } from "./modules/program/earning";
import { CreateProgramInput } from "./modules/program/program.inputs";
import { ExpiryPolicy, OverdraftPolicy } from "./modules/points/points.policy";
import { CreateRewardInput } from "./modules/rewards/reward.inputs";
import { TiersInput } from "./modules/tiers/tier.types";

const DAY = 86_400_000;

/** What the seed writes: the program's configuration, its keys, and the write path's tables. */
const SEEDED_TABLES = ["programs", "stages", "earning_rules", "tiers", "rewards", "api_keys", ...WRITE_PATH_TABLES];

export async function seedDemo(app: App): Promise<{ programId: string; adminKey: string; partnerKey: string } | null> {
  const [{ n }] = await app.db.query(`SELECT count(*)::int AS n FROM programs`);
  if (n > 0) return null;
  const ctx = createContext(app, { kind: "root" }, "seed-demo");
  const program = await app.programs.create(
    ctx,
    Object.assign(new CreateProgramInput(), {
      name: "Demo Coffee",
      pointsName: "beans",
      timeZone: "UTC",
      ladder: { preset: "griffin-7" },
      earningRules: [
        { touchpointType: TouchpointType.PURCHASE, pointsPerUnit: 1, name: "1 bean per euro", priority: 0 },
        { touchpointType: TouchpointType.REVIEW, fixedPoints: 50, name: "Review bonus", priority: 0 },
        { touchpointType: TouchpointType.REFERRAL, fixedPoints: 100, name: "Referral bonus", priority: 0 },
        { touchpointType: TouchpointType.PURCHASE, multiplier: 2, tiers: ["gold"], name: "Gold members earn double", priority: -1 },
      ],
      points: { pendingDays: 0, expiry: ExpiryPolicy.END_OF_YEAR, overdraft: OverdraftPolicy.ALLOW_NEGATIVE },
      tiers: Object.assign(new TiersInput(), {
        levels: [
          { key: "silver", name: "Silver", threshold: 50 },
          { key: "gold", name: "Gold", threshold: 200 },
        ],
        basis: "POINTS_EARNED",
        window: "ROLLING_DAYS",
        windowDays: 365,
        graceDays: 30,
        downgrade: "ONE_TIER",
      }),
    }),
  );
  for (const reward of [
    { name: "Free espresso", description: "Any espresso drink, any size", pointsCost: 40, couponValidDays: 30 },
    { name: "Demo Coffee tote bag", description: "While stocks last", pointsCost: 150, stock: 20, perCustomerLimit: 1 },
  ]) {
    await app.rewards.create(ctx, program.id, Object.assign(new CreateRewardInput(), { programId: program.id, couponSource: "GENERATED", ...reward }));
  }
  const config = await app.programs.config(program.id);
  const now = app.clock().getTime();
  const people: Array<{ id: string; name: string; purchases: number; extras?: TouchpointType[] }> = [
    { id: "demo-ana", name: "Ana", purchases: 0, extras: [TouchpointType.VISIT] },
    { id: "demo-ben", name: "Ben", purchases: 1 },
    { id: "demo-chloe", name: "Chloé", purchases: 2 },
    { id: "demo-dev", name: "Dev", purchases: 5 },
    { id: "demo-emma", name: "Emma", purchases: 6, extras: [TouchpointType.REFERRAL] },
  ];
  for (const person of people) {
    await app.customers.upsert(ctx, config, { programId: program.id, externalId: person.id, name: person.name, email: `${person.id}@example.com` });
    for (let i = 0; i < person.purchases; i++) {
      const occurredAt = new Date(now - (person.purchases - i) * 20 * DAY);
      await app.touchpoints.record(ctx, config, {
        programId: program.id,
        customerExternalId: person.id,
        type: TouchpointType.PURCHASE,
        externalId: `${person.id}-order-${i + 1}`,
        keyField: "orderId",
        occurredAt,
        amount: 12.5 + i * 3,
        currency: "EUR",
        channel: "pos",
        hashed: { seed: person.id, i },
      });
    }
    for (const type of person.extras ?? []) {
      await app.touchpoints.record(ctx, config, {
        programId: program.id,
        customerExternalId: person.id,
        type,
        externalId: `${person.id}-${type.toLowerCase()}`,
        keyField: "externalId",
        occurredAt: new Date(now - DAY),
        amount: null,
        channel: "web",
        hashed: { seed: person.id, type },
      });
    }
  }
  const admin = await app.auth.createApiKey(program.id, Role.ADMIN, "demo admin");
  const partner = await app.auth.createApiKey(program.id, Role.PARTNER, "demo partner (POS)");
  await analyzeTables(app.db, SEEDED_TABLES);
  return { programId: program.id, adminKey: admin.secret, partnerKey: partner.secret };
}
