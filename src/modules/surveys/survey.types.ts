/** The GraphQL types and inputs of surveys. */
import { ArrayMaxSize, ArrayMinSize, IsIn, IsOptional, Length, ValidateNested } from "class-validator";
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { CustomerEventInput } from "../touchpoint/touchpoint.inputs";
import { SCALES, SurveyQuestionData, SurveyQuestionKind } from "./survey.questions";

registerEnumType(SurveyQuestionKind, {
  name: "SurveyQuestionKind",
  description: "What a question asks and on which scale it is answered.",
  valuesConfig: {
    NPS: {
      description:
        'Net Promoter Score, 0-10 ("would you recommend us?"). A survey has at most one; its answer becomes the customer\'s NPS (the NPS metric of the ladder, and attitudinal loyalty).',
    },
    CSAT: { description: "Customer satisfaction, 1-5." },
    EFFORT: { description: 'Customer effort ("how easy was it?"), 1-7.' },
    AGREEMENT: {
      description:
        "Agreement with a statement, 1-5 (strongly disagree to strongly agree): the five loyalty factors (satisfaction, intent to buy again, willingness to recommend, resistance to switching, initiative).",
    },
    TEXT: { description: "Free text, at most 2,000 characters." },
  },
});

@ObjectType()
export class SurveyQuestion {
  @Field()
  key: string;

  @Field(() => SurveyQuestionKind)
  kind: SurveyQuestionKind;

  @Field()
  text: string;

  @Field()
  required: boolean;

  @Field(() => Int, { nullable: true, description: "The lowest value of the scale (null for TEXT)." })
  min: number | null;

  @Field(() => Int, { nullable: true, description: "The highest value of the scale (null for TEXT)." })
  max: number | null;
}

@ObjectType({ description: "A questionnaire of a program. Each response is a SURVEY_RESPONSE touchpoint of the customer, with the answers in its data." })
export class Survey {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  programId: string;

  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field(() => [SurveyQuestion])
  questions: SurveyQuestion[];

  @Field({ description: "Only an active survey takes responses." })
  active: boolean;

  @Field()
  createdAt: Date;
}

export function surveyFromRow(row: any): Survey {
  return Object.assign(new Survey(), {
    id: row.id,
    programId: row.program_id,
    name: row.name,
    description: row.description,
    active: row.active,
    createdAt: row.created_at,
    questions: (row.questions as SurveyQuestionData[]).map((q) => ({ ...q, min: SCALES[q.kind]?.min ?? null, max: SCALES[q.kind]?.max ?? null })),
  });
}

@InputType()
export class SurveyQuestionInput {
  @Field({ description: "Names the question in answers: 1-50 lowercase letters, digits or _, starting with a letter; unique in the survey." })
  @Length(1, 50)
  key: string;

  @Field(() => SurveyQuestionKind)
  @IsIn(Object.values(SurveyQuestionKind))
  kind: SurveyQuestionKind;

  @Field()
  @Length(1, 500)
  text: string;

  @Field({ defaultValue: true })
  required: boolean;
}

@InputType()
export class CreateSurveyInput {
  @Field(() => ID)
  programId: string;

  @Field()
  @Length(1, 200)
  name: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 2000)
  description?: string | null;

  @Field(() => [SurveyQuestionInput])
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  questions: SurveyQuestionInput[];
}

@InputType({ description: "One answer: a value for a question with a scale, text for a TEXT question." })
export class SurveyAnswerInput {
  @Field()
  @Length(1, 50)
  questionKey: string;

  @Field(() => Int, { nullable: true })
  @IsOptional()
  value?: number | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 2000)
  text?: string | null;
}

@InputType({
  description:
    "A customer's answers to a survey. responseId makes a retry safe (it is unique among the program's survey responses). With a customer token, the customer is the token's (give no customer, or that one), the survey is answered once (its key is the survey and the customer) and dated by the server.",
})
export class SubmitSurveyResponseInput extends CustomerEventInput {
  @Field(() => ID)
  surveyId: string;

  @Field()
  @Length(1, 200)
  responseId: string;

  @Field(() => [SurveyAnswerInput])
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  answers: SurveyAnswerInput[];
}
