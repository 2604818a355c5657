/**
 * Surveys: ADMIN creates and closes them, storefronts read them from the program, and answers come
 * in through submitSurveyResponse, from a partner app or from the customer's own token. A response
 * is written as a SURVEY_RESPONSE touchpoint by the common write path: idempotent by responseId,
 * points by the program's SURVEY_RESPONSE rules, the NPS answer as the customer's NPS, the ladder
 * evaluated, events after commit.
 */
import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound } from "../../api/errors";
import { uuidArg } from "../../api/ids";
import { TouchpointType } from "../program/earning";
import { Program } from "../program/program.types";
import { customerRef, when } from "../touchpoint/touchpoint.resolver";
import { TouchpointRecord } from "../touchpoint/touchpoint.model";
import { loadReplay } from "../touchpoint/replay";
import { requestHash } from "../touchpoint/request-hash";
import { RecordTouchpointPayload } from "../touchpoint/touchpoint.payloads";
import { checkAnswers, checkQuestions, SurveyQuestionData } from "./survey.questions";
import { CreateSurveyInput, SubmitSurveyResponseInput, Survey, surveyFromRow } from "./survey.types";

@Resolver(() => Survey)
export class SurveyResolver {
  @Query(() => Survey, { nullable: true, description: "One survey, for any credential of its program." })
  async survey(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Survey | null> {
    const row = await this.find(ctx, uuidArg(id, "id"));
    return row ? surveyFromRow(row) : null;
  }

  @Mutation(() => Survey, { description: "Creates a survey (ADMIN)." })
  async createSurvey(@Arg("input") input: CreateSurveyInput, @Ctx() ctx: RequestContext): Promise<Survey> {
    const programId = uuidArg(input.programId, "programId");
    await ctx.app.programs.config(programId);
    const questions: SurveyQuestionData[] = input.questions.map((q) => ({ key: q.key, kind: q.kind, text: q.text, required: q.required }));
    checkQuestions(questions);
    const [row] = await ctx.sql.query(`INSERT INTO surveys (program_id, name, description, questions) VALUES ($1, $2, $3, $4) RETURNING *`, [
      programId,
      input.name,
      input.description ?? null,
      JSON.stringify(questions),
    ]);
    return surveyFromRow(row);
  }

  @Mutation(() => Survey, { description: "Opens or closes a survey to responses (ADMIN). Responses already given stay." })
  async setSurveyActive(@Arg("surveyId", () => ID) surveyId: string, @Arg("active") active: boolean, @Ctx() ctx: RequestContext): Promise<Survey> {
    const row = await this.find(ctx, uuidArg(surveyId, "surveyId"));
    if (!row) throw new NotFound("Survey", "surveyId");
    const [updated] = await ctx.sql.query(`UPDATE surveys SET active = $3 WHERE program_id = $1 AND id = $2 RETURNING *`, [row.program_id, row.id, active]);
    return surveyFromRow(updated);
  }

  @Mutation(() => RecordTouchpointPayload, {
    description:
      "A customer's answers to a survey (ADMIN, PARTNER; or a customer token for its own customer), recorded as a SURVEY_RESPONSE touchpoint with the answers in its data: it earns the program's SURVEY_RESPONSE points, and an NPS answer becomes the customer's NPS. responseId makes a retry safe.",
  })
  async submitSurveyResponse(@Arg("input") input: SubmitSurveyResponseInput, @Ctx() ctx: RequestContext): Promise<RecordTouchpointPayload> {
    const surveyId = uuidArg(input.surveyId, "surveyId");
    const row = await this.find(ctx, surveyId);
    if (!row) throw new NotFound("Survey", "surveyId");
    const { actor } = ctx;
    const config = await ctx.app.programs.config(row.program_id);
    let record: TouchpointRecord;
    if (actor.kind === "customer") {
      // (The policy let a token answer only for its own customer.) Backdated answers would move the customer's windows and NPS history: the server's clock.
      if (input.occurredAt) throw new BadInput("occurredAt", "a customer token's answers are dated by the server");
      // A member answers each survey once: the key is the survey and the customer, not the
      // client's responseId (a new responseId per call would earn the survey's points every time),
      // and the hash names the customer (another member's identical answers must not replay these).
      record = this.record(row, input, ctx, { customerId: actor.customerId }, `${row.id}:${actor.customerId}`, { ...input, customerId: actor.customerId });
    } else {
      record = this.record(row, input, ctx, customerRef(input), input.responseId, input);
    }
    if (!row.active) {
      // A retry of a response given while the survey was open still gets its first result.
      const replay = await loadReplay(ctx.sql, config, record, requestHash(record.hashed));
      if (replay) return replay;
      throw new BadInput("surveyId", "the survey is closed to responses");
    }
    return ctx.app.touchpoints.record(ctx, config, record);
  }

  private record(
    row: any,
    input: SubmitSurveyResponseInput,
    ctx: RequestContext,
    customer: { customerId: string } | { customerExternalId: string },
    key: string,
    hashed: unknown,
  ): TouchpointRecord {
    const { byKey, nps, attitude } = checkAnswers(row.questions, input.answers);
    return {
      programId: row.program_id,
      ...customer,
      type: TouchpointType.SURVEY_RESPONSE,
      externalId: key,
      keyField: "responseId",
      occurredAt: when(ctx, input.occurredAt),
      channel: input.channel,
      amount: null,
      // `survey` is ours (recordTouchpoint refuses it in a client's data): what the loyalty scores trust.
      data: { survey: { id: row.id, responseId: input.responseId, attitude }, answers: byKey },
      nps,
      // The answers by question, so a retry that lists them in another order is the same request.
      hashed: { ...(hashed as object), answers: byKey },
    };
  }

  /** The survey by id (the policy checked the credential on it: another program's reads as none). */
  private async find(ctx: RequestContext, id: string): Promise<any | null> {
    const [row] = await ctx.sql.query(`SELECT * FROM surveys WHERE id = $1`, [id]);
    return row ?? null;
  }
}

@Resolver(() => Program)
export class ProgramSurveysResolver {
  @FieldResolver(() => [Survey], { description: "The program's surveys, oldest first." })
  async surveys(@Root() program: Program, @Ctx() ctx: RequestContext): Promise<Survey[]> {
    const rows = await ctx.sql.query(`SELECT * FROM surveys WHERE program_id = $1 ORDER BY created_at, id`, [program.id]);
    return rows.map(surveyFromRow);
  }
}
