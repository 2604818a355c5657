import { IsIn, IsInt, IsOptional, Length, Max, Min, ValidateNested, ArrayMaxSize } from "class-validator";
import { Field, Float, InputType, Int } from "type-graphql";
import { Comparator, Metric } from "../../domain/ladder/ladder.types";
import { LADDER_PRESETS } from "../../domain/ladder/ladder.presets";
import { TouchpointType } from "./earning";

@InputType({ description: "One condition of a stage path." })
export class CriterionInput {
  @Field(() => Metric)
  metric: Metric;

  @Field(() => Comparator)
  op: Comparator;

  @Field(() => Float)
  value: number;

  @Field(() => Int, { nullable: true, description: "Count only touchpoints of the last N days (1-3650)." })
  windowDays?: number | null;
}

@InputType({ description: "A stage, in ladder order (bottom first). The bottom stage has no paths." })
export class StageInput {
  @Field({ description: "Stable key: lower-case letters, digits and _." })
  key: string;

  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(0, 1000)
  description?: string | null;

  @Field({ defaultValue: false, description: "A side stage (lapsed, disqualified) takes precedence when it holds." })
  side: boolean;

  @Field(() => [[CriterionInput]], { defaultValue: [], description: "Alternatives: all criteria of any one path must hold." })
  paths: CriterionInput[][];
}

@InputType({ description: "A ladder: a preset key or explicit stages, exactly one." })
export class LadderInput {
  @Field(() => String, { nullable: true, description: `One of: ${Object.keys(LADDER_PRESETS).join(", ")}.` })
  @IsOptional()
  @IsIn(Object.keys(LADDER_PRESETS), { message: `preset must be one of ${Object.keys(LADDER_PRESETS).join(", ")}` })
  preset?: string | null;

  @Field(() => [StageInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(50)
  stages?: StageInput[] | null;
}

@InputType({ description: "How touchpoints of one type earn points: per currency unit, fixed, or both." })
export class EarningRuleInput {
  @Field(() => TouchpointType)
  touchpointType: TouchpointType;

  @Field(() => Float, { nullable: true, description: "e.g. 1 = one point per currency unit (rounded down)." })
  @IsOptional()
  @Min(0)
  @Max(10000)
  pointsPerUnit?: number | null;

  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(-1_000_000)
  @Max(1_000_000)
  fixedPoints?: number | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 100)
  name?: string | null;

  @Field(() => Int, { defaultValue: 0 })
  @IsInt()
  priority: number;
}

@InputType()
export class CreateProgramInput {
  @Field()
  @Length(1, 200)
  name: string;

  @Field({ defaultValue: "points" })
  @Length(1, 50)
  pointsName: string;

  @Field({ defaultValue: "UTC", description: "IANA time zone, e.g. Europe/Paris." })
  @Length(1, 64)
  timeZone: string;

  @Field(() => LadderInput)
  @ValidateNested()
  ladder: LadderInput;

  @Field(() => [EarningRuleInput], { defaultValue: [] })
  @ValidateNested({ each: true })
  @ArrayMaxSize(100)
  earningRules: EarningRuleInput[];
}
