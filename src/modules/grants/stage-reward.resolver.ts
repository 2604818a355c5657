/**
 * Stage rewards (docs/domain.md §4, §7): a reward given when a customer enters a ladder stage, e.g. a
 * welcome gift on first_time_customer, recognition on advocate, a win-back offer on lapsed. A move
 * into the stage owes it as a grant in the move's own transaction (a touchpoint's batch, a recompute
 * as time passes; not a refund's move, which is no achievement, nor a ladder edit's), and it is
 * given after commit like every grant: never lost, never twice (grant.service.ts).
 */
import { IsInt, IsOptional, Length, Max, Min } from "class-validator";
import { Arg, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { setConfigRowActive } from "../program/config-switch";
import { lockProgramConfig } from "../program/config-lock";
import { Program, Stage } from "../program/program.types";

@InputType({ description: "Give a reward when a customer enters a stage (free: no points are taken)." })
export class CreateStageRewardInput {
  @Field(() => ID)
  programId: string;

  @Field()
  @Length(1, 200)
  name: string;

  @Field({ description: "The key of the stage whose entry gives the reward." })
  @Length(1, 100)
  stage: string;

  @Field(() => ID)
  rewardId: string;

  @Field(() => Int, {
    nullable: true,
    description:
      "Null: once per customer, ever. N: again on a later entry, when the customer got it more than N days before (a win-back offer for each lapse, not for each bounce).",
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3650)
  repeatAfterDays?: number | null;
}

@ObjectType({ description: "A reward given when a customer enters a stage." })
export class StageReward {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  programId: string;

  @Field()
  name: string;

  @Field({ description: "The stage's key." })
  stageKey: string;

  @Field(() => ID)
  rewardId: string;

  @Field(() => Int, { nullable: true, description: "Null: once per customer; N: again on an entry more than N days after the last one given." })
  repeatAfterDays: number | null;

  @Field({ description: "Only active stage rewards are owed by moves." })
  active: boolean;

  @Field()
  createdAt: Date;
}

function stageRewardFromRow(row: any): StageReward {
  return Object.assign(new StageReward(), {
    id: row.id,
    programId: row.program_id,
    name: row.name,
    stageKey: row.stage_key,
    rewardId: row.reward_id,
    repeatAfterDays: row.repeat_after_days,
    active: row.active,
    createdAt: new Date(row.created_at),
  });
}

@Resolver(() => StageReward)
export class StageRewardResolver {
  @Mutation(() => StageReward, {
    description:
      "Gives a reward to customers entering a stage (ADMIN): moves from now on made by touchpoints or by time passing (recompute); not those of a refund or a ladder edit, nor customers already on the stage, nor erased customers. Once per customer, or again after repeatAfterDays. A move made by a purchase owes it when the program's return window (pendingDays) ends, and a full refund before then cancels it. Not for the bottom stage (customers start there) nor an inactive or ended reward.",
  })
  async createStageReward(@Arg("input") input: CreateStageRewardInput, @Ctx() ctx: RequestContext): Promise<StageReward> {
    const programId = uuidArg(input.programId, "programId");
    const config = await ctx.app.programs.config(programId);
    if (!config.stageByKey.has(input.stage)) throw new BadInput("stage", `no stage "${input.stage}" in this program's ladder`);
    // Customers start there without a move: no entry would ever owe it.
    if (input.stage === config.bottom.key) throw new BadInput("stage", `customers start on "${input.stage}" without entering it: pick a stage they move to`);
    const rewardId = uuidArg(input.rewardId, "rewardId");
    const [reward] = await ctx.app.db.query(`SELECT active, valid_to FROM rewards WHERE program_id = $1 AND id = $2`, [programId, rewardId]);
    if (!reward) throw new NotFound("Reward", "rewardId");
    // A grant of an unavailable reward is recorded as such and counts as the customer's: refuse one that can never be given.
    if (!reward.active || (reward.valid_to && new Date(reward.valid_to) <= ctx.now)) throw new BadInput("rewardId", "the reward is inactive or has ended");
    const row = await ctx.app.db.transaction(async (tx) => {
      // A new configuration version (batches in flight are evaluated again, and owe the reward),
      // taken first: one configuration change of the program at a time, and the stage checked
      // again under it (a ladder changed since the cached read may have dropped it).
      await lockProgramConfig(tx, programId);
      const [stage] = await tx.query(`SELECT 1 FROM stages WHERE program_id = $1 AND key = $2`, [programId, input.stage]);
      if (!stage) throw new BadInput("stage", `no stage "${input.stage}" in this program's ladder`);
      const [created] = await tx.query(
        `INSERT INTO stage_rewards (program_id, name, stage_key, reward_id, repeat_after_days) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
        [programId, input.name, input.stage, rewardId, input.repeatAfterDays ?? null],
      );
      return created;
    });
    ctx.app.programChanged(programId);
    return stageRewardFromRow(row);
  }

  @Mutation(() => StageReward, { description: "Turns a stage reward on or off (ADMIN); moves from now on see the change." })
  async setStageRewardActive(
    @Arg("stageRewardId", () => ID) stageRewardId: string,
    @Arg("active") active: boolean,
    @Ctx() ctx: RequestContext,
  ): Promise<StageReward> {
    return stageRewardFromRow(await setConfigRowActive(ctx, "stage_rewards", stageRewardId, active));
  }

  @FieldResolver(() => Stage, { nullable: true, description: "The stage; null while the ladder has no stage of that key (nobody can enter it then)." })
  async stage(@Root() reward: StageReward, @Ctx() ctx: RequestContext): Promise<Stage | null> {
    return (await ctx.app.programs.config(reward.programId)).stageByKey.get(reward.stageKey) ?? null;
  }
}

@Resolver(() => Program)
export class ProgramStageRewardsResolver {
  @FieldResolver(() => [StageReward], { description: "Rewards given on entering a stage, oldest first." })
  async stageRewards(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<StageReward[]> {
    const rows = await ctx.app.db.query(`SELECT * FROM stage_rewards WHERE program_id = $1 ORDER BY created_at, id`, [program.id]);
    return rows.map(stageRewardFromRow);
  }
}
