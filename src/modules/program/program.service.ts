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
import { CreateProgramInput, EarningRuleInput, LadderInput } from "./program.inputs";
import { Program } from "./program.types";

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

function validateRules(rules: EarningRuleInput[]): void {
  rules.forEach((r, i) => {
    if ((r.pointsPerUnit === null || r.pointsPerUnit === undefined) && (r.fixedPoints === null || r.fixedPoints === undefined)) {
      throw new BadInput(`earningRules[${i}]`, "an earning rule needs pointsPerUnit or fixedPoints");
    }
  });
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
    validateRules(input.earningRules ?? []);
    if (!validTimeZone(input.timeZone)) throw new BadInput("timeZone", `unknown time zone "${input.timeZone}"`);
    const program = await this.db.transaction(async (tx) => {
      const [row] = await tx.query(
        `INSERT INTO programs (name, points_name, time_zone, ladder_preset, token_secret) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
        [input.name, input.pointsName, input.timeZone, preset, randomBytes(32).toString("base64url")],
      );
      await this.writeLadder(tx, row.id, ladder);
      for (const rule of input.earningRules ?? []) {
        await tx.query(
          `INSERT INTO earning_rules (program_id, name, touchpoint_type, points_per_unit, fixed_points, priority) VALUES ($1, $2, $3, $4, $5, $6)`,
          [row.id, rule.name ?? null, rule.touchpointType, rule.pointsPerUnit ?? null, rule.fixedPoints ?? null, rule.priority ?? 0],
        );
      }
      return programFromRow(row);
    });
    ctx.log.info({ programId: program.id, preset }, "program created");
    return program;
  }

  /** Replaces a program's stages. Customers on a stage that no longer exists are re-placed by the caller's recompute. */
  async writeLadder(tx: Tx, programId: string, ladder: Ladder): Promise<void> {
    await tx.query(`DELETE FROM stages WHERE program_id = $1`, [programId]);
    await tx.query(
      `INSERT INTO stages (program_id, key, rank, name, description, side, paths)
       SELECT $1, s.key, s.rank, s.name, s.description, s.side, s.paths
         FROM jsonb_to_recordset($2::jsonb) AS s(key text, rank int, name text, description text, side boolean, paths jsonb)`,
      [programId, JSON.stringify(ladder.stages.map((s, rank) => ({ ...s, rank })))],
    );
    await tx.query(`UPDATE programs SET updated_at = now() WHERE id = $1`, [programId]);
  }
}
