/** Programs: creation with a ladder and earning rules, ladder replacement, and the config cache. */
import { randomBytes } from "node:crypto";
import { RequestContext } from "../../context";
import { Db } from "../../db/db";
import { badInputs, BadInput, NotFound } from "../../api/errors";
import { presetLadder } from "../../domain/ladder/ladder.presets";
import { Ladder } from "../../domain/ladder/ladder.types";
import { validateLadder } from "../../domain/ladder/ladder.validate";
import { Tx } from "../../db/db";
import { ProgramConfig, ProgramConfigCache, programFromRow } from "./program.config";
import { CreateProgramInput, EarningRuleInput, LadderInput, PointsPolicyInput } from "./program.inputs";
import { ExpiryPolicy, OverdraftPolicy } from "../points/points.policy";
import { replaceTiers, validateTiers } from "../tiers/tier.write";
import { Program } from "./program.types";
import { lockProgramConfig } from "./config-lock";

export function ladderFromInput(input: LadderInput, field = "ladder"): { ladder: Ladder; preset: string | null } {
  const hasPreset = !!input.preset;
  const hasStages = !!input.stages && input.stages.length > 0;
  if (hasPreset === hasStages) throw new BadInput(field, "give exactly one of ladder.preset and ladder.stages");
  if (hasPreset) {
    const ladder = presetLadder(input.preset!);
    if (!ladder) throw new BadInput(`${field}.preset`, `unknown preset "${input.preset}"`);
    return { ladder, preset: input.preset! };
  }
  const ladder: Ladder = {
    stages: input.stages!.map((s) => ({
      key: s.key,
      name: s.name,
      description: s.description ?? null,
      side: s.side ?? false,
      paths: (s.paths ?? []).map((path) => path.map((c) => ({ metric: c.metric, op: c.op, value: c.value, windowDays: c.windowDays ?? null }))),
    })),
  };
  const problems = validateLadder(ladder, `${field}.stages`);
  if (problems.length > 0) throw badInputs(problems);
  return { ladder, preset: null };
}

function validateRules(rules: EarningRuleInput[], ladder: Ladder, tiers: Array<{ key: string }>, field = "earningRules"): void {
  const stageKeys = new Set(ladder.stages.map((s) => s.key));
  const tierKeys = new Set(tiers.map((t) => t.key));
  const ids = new Set<string>();
  if (rules.length > 100) throw new BadInput(field, "at most 100 earning rules");
  rules.forEach((r, i) => {
    if (r.pointsPerUnit == null && r.fixedPoints == null && r.multiplier == null) {
      throw new BadInput(`${field}[${i}]`, "an earning rule needs pointsPerUnit, fixedPoints or multiplier");
    }
    if (r.multiplier != null && r.pointsPerUnit == null && r.fixedPoints == null && r.multiplier < 1) {
      throw new BadInput(`${field}[${i}].multiplier`, "a rule with only a multiplier multiplies what earlier rules gave: at least 1");
    }
    if ((r.capPoints == null) !== (r.capPeriod == null)) throw new BadInput(`${field}[${i}].capPeriod`, "capPoints and capPeriod go together");
    if (r.activeFrom && r.activeTo && r.activeFrom >= r.activeTo) throw new BadInput(`${field}[${i}].activeTo`, "activeTo must be after activeFrom");
    if (r.referralTrigger || r.beneficiary) {
      if (!r.referralTrigger || !r.beneficiary) throw new BadInput(`${field}[${i}].beneficiary`, "a referral rule needs referralTrigger and beneficiary");
      if (!r.fixedPoints || r.pointsPerUnit != null || r.multiplier != null)
        throw new BadInput(`${field}[${i}].fixedPoints`, "a referral rule gives fixedPoints only");
      const type = r.referralTrigger === "SIGNUP" ? "REFERRAL" : "PURCHASE";
      if (r.touchpointType !== type) throw new BadInput(`${field}[${i}].touchpointType`, `a ${r.referralTrigger} referral rule is on ${type}`);
    }
    const unknown = (r.stages ?? []).findIndex((k) => !stageKeys.has(k));
    if (unknown >= 0) throw new BadInput(`${field}[${i}].stages`, `the ladder has no stage "${r.stages![unknown]}"`);
    const unknownTier = (r.tiers ?? []).findIndex((k) => !tierKeys.has(k));
    if (unknownTier >= 0) throw new BadInput(`${field}[${i}].tiers`, `the program has no tier "${r.tiers![unknownTier]}"`);
    if (r.id && ids.has(r.id)) throw new BadInput(`${field}[${i}].id`, "a rule is listed twice");
    if (r.id) ids.add(r.id);
  });
}

/** The settable columns of earning_rules, as the JSON input of the statements below carries them. */
const RULE_COLUMNS = `name, touchpoint_type, points_per_unit, fixed_points, priority, multiplier, skus, categories, stages, tiers,
  active_from, active_to, days_of_week, cap_points, cap_period, total_cap, stop_further_rules, position, referral_trigger, beneficiary`;
const RULE_RECORD = `r(id uuid, name text, touchpoint_type text, points_per_unit numeric, fixed_points int, priority int,
  multiplier numeric, skus text[], categories text[], stages text[], tiers text[], active_from timestamptz, active_to timestamptz,
  days_of_week smallint[], cap_points int, cap_period text, total_cap bigint, stop_further_rules boolean, position int, referral_trigger text, beneficiary text)`;

function ruleRows(rules: EarningRuleInput[]): string {
  return JSON.stringify(
    rules.map((r, position) => ({
      id: r.id ?? null,
      position,
      name: r.name ?? null,
      touchpoint_type: r.touchpointType,
      points_per_unit: r.pointsPerUnit ?? null,
      fixed_points: r.fixedPoints ?? null,
      priority: r.priority ?? 0,
      multiplier: r.multiplier ?? null,
      skus: r.skus?.length ? r.skus : null,
      categories: r.categories?.length ? r.categories : null,
      stages: r.stages?.length ? r.stages : null,
      tiers: r.tiers?.length ? r.tiers : null,
      active_from: r.activeFrom ?? null,
      active_to: r.activeTo ?? null,
      days_of_week: r.daysOfWeek?.length ? r.daysOfWeek : null,
      cap_points: r.capPoints ?? null,
      cap_period: r.capPeriod ?? null,
      total_cap: r.totalCap ?? null,
      stop_further_rules: r.stopFurtherRules ?? false,
      referral_trigger: r.referralTrigger ?? null,
      beneficiary: r.beneficiary ?? null,
    })),
  );
}

/** Inserts a new program's earning rules (all columns, one statement). */
export async function insertRules(tx: Tx, programId: string, rules: EarningRuleInput[]): Promise<void> {
  if (rules.length === 0) return;
  await tx.query(`INSERT INTO earning_rules (program_id, ${RULE_COLUMNS}) SELECT $1, ${RULE_COLUMNS} FROM jsonb_to_recordset($2::jsonb) AS ${RULE_RECORD}`, [
    programId,
    ruleRows(rules),
  ]);
}

/**
 * Replaces a program's rules by the list: a rule given with its `id` is updated in place, so it
 * keeps what it already gave (caps per customer and in total go on counting); a rule without an id
 * is new; a rule left out is removed.
 */
export async function replaceRules(tx: Tx, programId: string, rules: EarningRuleInput[]): Promise<void> {
  const sets = RULE_COLUMNS.split(",")
    .map((c) => `${c.trim()} = r.${c.trim()}`)
    .join(", ");
  const [row] = await tx.query(
    `WITH input AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS ${RULE_RECORD}),
     removed AS (DELETE FROM earning_rules e WHERE e.program_id = $1 AND e.id NOT IN (SELECT id FROM input WHERE id IS NOT NULL)),
     updated AS (UPDATE earning_rules e SET ${sets} FROM input r WHERE e.program_id = $1 AND e.id = r.id RETURNING e.id),
     added AS (INSERT INTO earning_rules (program_id, ${RULE_COLUMNS}) SELECT $1, ${RULE_COLUMNS} FROM input r WHERE r.id IS NULL)
     SELECT array(SELECT id FROM updated) AS updated`,
    [programId, ruleRows(rules)],
  );
  const found = new Set<string>(row.updated);
  const missing = rules.findIndex((r) => r.id && !found.has(r.id));
  if (missing >= 0) throw new BadInput(`rules[${missing}].id`, `the program has no earning rule ${rules[missing].id}`);
}

/** `prefix`: where the policy sits in the argument ("points." in createProgram's input, "" for setPointsPolicy's own argument). */
function validatePolicy(points: PointsPolicyInput | null | undefined, prefix = "points."): void {
  if (points?.expiry === ExpiryPolicy.AFTER_DAYS && !points.expiryDays) throw new BadInput(`${prefix}expiryDays`, "expiry AFTER_DAYS needs expiryDays");
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export class ProgramService {
  constructor(
    private readonly db: Db,
    readonly cache: ProgramConfigCache,
  ) {}

  /** The cached configuration of a program, or NOT_FOUND. */
  async config(programId: string, field = "programId"): Promise<ProgramConfig> {
    const config = await this.cache.get(programId);
    if (!config) throw new NotFound("Program", field);
    return config;
  }

  async list(programIds?: string[]): Promise<Program[]> {
    const rows = programIds
      ? await this.db.query(`SELECT * FROM programs WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`, [programIds])
      : await this.db.query(`SELECT * FROM programs ORDER BY created_at, id`);
    return rows.map(programFromRow);
  }

  async create(ctx: RequestContext, input: CreateProgramInput): Promise<Program> {
    const { ladder, preset } = ladderFromInput(input.ladder);
    validateRules(input.earningRules ?? [], ladder, input.tiers?.levels ?? []);
    const withId = (input.earningRules ?? []).findIndex((r) => r.id);
    if (withId >= 0) throw new BadInput(`earningRules[${withId}].id`, "a new program's rules have no id yet");
    validatePolicy(input.points);
    if (input.tiers) validateTiers(input.tiers);
    if (!validTimeZone(input.timeZone)) throw new BadInput("timeZone", `unknown time zone "${input.timeZone}"`);
    const program = await this.db.transaction(async (tx) => {
      const points = input.points;
      const [row] = await tx.query(
        `INSERT INTO programs (name, points_name, time_zone, ladder_preset, token_secret, pending_days, expiry_policy, expiry_days, overdraft_policy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
        [
          input.name,
          input.pointsName,
          input.timeZone,
          preset,
          randomBytes(32).toString("base64url"),
          points?.pendingDays ?? 0,
          points?.expiry ?? ExpiryPolicy.NEVER,
          points?.expiryDays ?? null,
          points?.overdraft ?? OverdraftPolicy.ALLOW_NEGATIVE,
        ],
      );
      await this.writeLadder(tx, row.id, ladder);
      await insertRules(tx, row.id, input.earningRules ?? []);
      if (input.tiers) await replaceTiers(tx, row.id, input.tiers);
      return programFromRow(row);
    });
    ctx.log.info({ programId: program.id, preset }, "program created");
    return program;
  }

  /** Replaces a program's earning rules; batches in flight see the new version and are evaluated again. */
  async setEarningRules(programId: string, rules: EarningRuleInput[]): Promise<void> {
    const config = await this.config(programId);
    rules = rules.map((r) => (r.id ? { ...r, id: r.id.toLowerCase() } : r));
    validateRules(rules, config.ladder, config.tiers, "rules");
    await this.db.transaction(async (tx) => {
      // The program row first, as a write batch takes it (FOR SHARE) before any rule row: no lock cycle.
      await lockProgramConfig(tx, programId);
      // The stages and tiers as they are now: a ladder or tiers changed since the cached read
      // (before the lock) may lack one a rule names.
      const [keys] = await tx.query(
        `SELECT array(SELECT key FROM stages WHERE program_id = $1) AS stages, array(SELECT key FROM tiers WHERE program_id = $1) AS tiers`,
        [programId],
      );
      validateRules(
        rules,
        { stages: keys.stages.map((key: string) => ({ key })) } as Ladder,
        keys.tiers.map((key: string) => ({ key })),
        "rules",
      );
      await replaceRules(tx, programId, rules);
    });
  }

  /** Replaces a program's ladder (one change at a time per program); the caller re-places the customers. */
  async updateLadder(programId: string, ladder: Ladder, preset: string | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.writeLadder(tx, programId, ladder);
      await tx.query(`UPDATE programs SET ladder_preset = $2 WHERE id = $1`, [programId, preset]);
    });
  }

  async setPointsPolicy(programId: string, points: PointsPolicyInput): Promise<void> {
    await this.config(programId);
    validatePolicy(points, "");
    await this.db.query(
      `UPDATE programs SET pending_days = $2, expiry_policy = $3, expiry_days = $4, overdraft_policy = $5, updated_at = now() WHERE id = $1`,
      [programId, points.pendingDays, points.expiry, points.expiryDays ?? null, points.overdraft],
    );
  }

  /** Replaces a program's stages. Customers on a stage that no longer exists are re-placed by the caller's recompute. */
  async writeLadder(tx: Tx, programId: string, ladder: Ladder): Promise<void> {
    await lockProgramConfig(tx, programId);
    await tx.query(`DELETE FROM stages WHERE program_id = $1`, [programId]);
    await tx.query(
      `INSERT INTO stages (program_id, key, rank, name, description, side, paths)
       SELECT $1, s.key, s.rank, s.name, s.description, s.side, s.paths
         FROM jsonb_to_recordset($2::jsonb) AS s(key text, rank int, name text, description text, side boolean, paths jsonb)`,
      [programId, JSON.stringify(ladder.stages.map((s, rank) => ({ ...s, rank })))],
    );
  }
}
