/**
 * A program's configuration as the write path needs it: ladder, stages by key, earning rules.
 * Cached per program in memory and dropped when the program changes, so recording a purchase
 * does not read configuration from the database.
 */
import { ValuePolicy } from "../../domain/value/customer-value";
import { Ladder, StageDefinition } from "../../domain/ladder/ladder.types";
import { windowsUsed } from "../../domain/ladder/ladder.engine";
import { Queryable } from "../../db/db";
import { EarningRule, TouchpointType } from "./earning";
import { ExpiryPolicy, OverdraftPolicy, PointsPolicy } from "../points/points.policy";
import { TierBasis, TierDowngrade, TierLevel, TierPolicy, TierWindow } from "../../domain/points/tiers";
import { Program, Stage } from "./program.types";

export interface ProgramConfig {
  program: Program;
  /** The program row's updated_at as text: a write batch checks it to never apply an outdated ladder. */
  version: string;
  tokenSecret: string;
  ladder: Ladder;
  /** Stages in ladder order with their rank. */
  stages: Stage[];
  stageByKey: Map<string, Stage>;
  bottom: Stage;
  rules: EarningRule[];
  points: PointsPolicy;
  /** Tiers by rank, lowest first (empty: the program has none). */
  tiers: TierLevel[];
  tierPolicy: TierPolicy;
  /** Active triggered rewards (a touchpoint pattern in a window issues a reward). */
  triggers: Array<{ id: string; touchpointType: string }>;
  /** Active stage rewards (entering the stage issues a reward). */
  stageRewards: Array<{ id: string; stageKey: string }>;
  /** How customers' value is read over time: CLV's horizon, when a customer is gone. */
  valuePolicy: ValuePolicy;
  /** The (metric, window) pairs the ladder reads: what must be aggregated to evaluate it. */
  windows: ReturnType<typeof windowsUsed>;
}

export function toStage(def: StageDefinition, rank: number): Stage {
  return Object.assign(new Stage(), {
    key: def.key,
    name: def.name,
    rank,
    description: def.description ?? null,
    side: def.side,
    paths: def.paths.map((path) => path.map((c) => ({ ...c, windowDays: c.windowDays ?? null }))),
  });
}

/**
 * The stage of a key, also for a key the ladder no longer has (history from before a ladder
 * change): then a placeholder that says so, ranked -1.
 */
export function stageOf(config: ProgramConfig, key: string): Stage {
  return config.stageByKey.get(key) ?? Object.assign(new Stage(), { key, name: key, rank: -1, side: false, description: "no longer in the ladder", paths: [] });
}

export function programFromRow(row: any): Program {
  return Object.assign(new Program(), {
    id: row.id,
    name: row.name,
    pointsName: row.points_name,
    timeZone: row.time_zone,
    ladderPreset: row.ladder_preset,
    createdAt: row.created_at,
  });
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const date = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));

/** A rule as stored (a row, or the same row through jsonb_agg). */
export function earningRuleFromRow(r: any): EarningRule {
  return {
    id: r.id,
    name: r.name,
    touchpointType: r.touchpoint_type as TouchpointType,
    pointsPerUnit: num(r.points_per_unit),
    fixedPoints: r.fixed_points,
    priority: r.priority,
    position: r.position,
    multiplier: num(r.multiplier),
    skus: r.skus,
    categories: r.categories,
    stages: r.stages,
    tiers: r.tiers,
    activeFrom: date(r.active_from),
    activeTo: date(r.active_to),
    daysOfWeek: r.days_of_week,
    capPoints: r.cap_points,
    capPeriod: r.cap_period,
    totalCap: num(r.total_cap),
    stopFurtherRules: r.stop_further_rules,
    referralTrigger: r.referral_trigger ?? null,
    beneficiary: r.beneficiary ?? null,
  };
}

export function pointsPolicyFromRow(row: any): PointsPolicy {
  return {
    pendingDays: row.pending_days,
    expiry: row.expiry_policy as ExpiryPolicy,
    expiryDays: row.expiry_days,
    overdraft: row.overdraft_policy as OverdraftPolicy,
  };
}

export async function loadProgramConfig(db: Queryable, programId: string): Promise<ProgramConfig | null> {
  const [row] = await db.query(
    `SELECT p.*, p.updated_at::text AS version,
       (SELECT coalesce(jsonb_agg(s ORDER BY s.rank), '[]') FROM stages s WHERE s.program_id = p.id) AS stages,
       (SELECT coalesce(jsonb_agg(r), '[]') FROM earning_rules r WHERE r.program_id = p.id) AS rules,
       (SELECT coalesce(jsonb_agg(t ORDER BY t.rank), '[]') FROM tiers t WHERE t.program_id = p.id) AS tiers,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'touchpointType', g.touchpoint_type)), '[]')
          FROM reward_triggers g WHERE g.program_id = p.id AND g.active) AS triggers,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'stageKey', r.stage_key)), '[]')
          FROM stage_rewards r WHERE r.program_id = p.id AND r.active) AS stage_rewards
     FROM programs p WHERE p.id = $1`,
    [programId],
  );
  if (!row) return null;
  const ladder: Ladder = {
    stages: row.stages.map((s: any) => ({ key: s.key, name: s.name, description: s.description, side: s.side, paths: s.paths })),
  };
  const stages = ladder.stages.map((def, rank) => toStage(def, rank));
  const rules: EarningRule[] = row.rules.map(earningRuleFromRow);
  return {
    program: programFromRow(row),
    version: row.version,
    tokenSecret: row.token_secret,
    ladder,
    stages,
    stageByKey: new Map(stages.map((s) => [s.key, s])),
    bottom: stages.find((s) => !s.side)!,
    rules,
    points: pointsPolicyFromRow(row),
    tiers: row.tiers.map((t: any) => ({ key: t.key, name: t.name, rank: t.rank, threshold: Number(t.threshold) })),
    triggers: row.triggers,
    stageRewards: row.stage_rewards,
    valuePolicy: { activeDays: row.value_active_days, horizonYears: row.value_horizon_years, firstRepeatDays: row.value_first_repeat_days },
    tierPolicy: {
      basis: row.tier_basis as TierBasis,
      window: row.tier_window as TierWindow,
      windowDays: row.tier_window_days,
      graceDays: row.tier_grace_days,
      downgrade: row.tier_downgrade as TierDowngrade,
    },
    windows: windowsUsed(ladder),
  };
}

/**
 * Per-process cache; `invalidate` on every change, here and (through the event bus) in every other
 * process. Entries also expire after `ttlMs`, so a lost invalidation heals by itself.
 */
export class ProgramConfigCache {
  private readonly entries = new Map<string, { config: Promise<ProgramConfig | null>; until: number }>();

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = 60_000,
  ) {}

  get(programId: string): Promise<ProgramConfig | null> {
    const entry = this.entries.get(programId);
    if (entry && entry.until > Date.now()) return entry.config;
    const config = loadProgramConfig(this.db, programId);
    this.entries.set(programId, { config, until: Date.now() + this.ttlMs });
    // Do not cache a miss or a failure: the program may be created a moment later.
    const forget = () => this.entries.get(programId)?.config === config && this.entries.delete(programId);
    config.then((c) => c ?? forget(), forget);
    return config;
  }

  invalidate(programId: string): void {
    this.entries.delete(programId);
  }

  /** Every program: after the bus was down, an invalidation may have been lost. */
  invalidateAll(): void {
    this.entries.clear();
  }
}
