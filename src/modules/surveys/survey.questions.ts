/**
 * Survey questions and answers as data, checked without the database: which kinds exist, their
 * scales, and whether a response answers a survey (every answer to one of its questions, on its
 * scale, each required question answered). Errors name the input field, as BAD_USER_INPUT does.
 */
import { BadInput } from "../../api/errors";

export enum SurveyQuestionKind {
  /** Net Promoter Score: "How likely are you to recommend us?" 0-10. Feeds the customer's NPS. */
  NPS = "NPS",
  /** Customer satisfaction, 1-5. */
  CSAT = "CSAT",
  /** Customer effort: "How easy was it?" 1-7. */
  EFFORT = "EFFORT",
  /** Agreement with a statement, 1-5 (strongly disagree to strongly agree): the five loyalty factors. */
  AGREEMENT = "AGREEMENT",
  /** Free text, at most 2,000 characters. */
  TEXT = "TEXT",
}

/** The scale of each kind that has one. */
export const SCALES: Partial<Record<SurveyQuestionKind, { min: number; max: number }>> = {
  [SurveyQuestionKind.NPS]: { min: 0, max: 10 },
  [SurveyQuestionKind.CSAT]: { min: 1, max: 5 },
  [SurveyQuestionKind.EFFORT]: { min: 1, max: 7 },
  [SurveyQuestionKind.AGREEMENT]: { min: 1, max: 5 },
};

export const MAX_TEXT_ANSWER = 2000;

/**
 * An answer on its kind's scale as 0-100, higher the better: NPS 0-10, CSAT and AGREEMENT 1-5,
 * EFFORT 1-7 (7: very easy, as in CES 2.0's "the company made it easy for me").
 */
export function scaled(kind: SurveyQuestionKind, value: number): number | null {
  const scale = SCALES[kind];
  return scale ? ((value - scale.min) / (scale.max - scale.min)) * 100 : null;
}

export interface SurveyQuestionData {
  key: string;
  kind: SurveyQuestionKind;
  text: string;
  required: boolean;
}

export interface AnswerData {
  questionKey: string;
  value?: number | null;
  text?: string | null;
}

const KEY = /^[a-z][a-z0-9_]{0,49}$/;

/** A survey's questions as given to createSurvey: keys well formed and unique, at most one NPS question. */
export function checkQuestions(questions: SurveyQuestionData[]): void {
  const seen = new Set<string>();
  questions.forEach((q, i) => {
    if (!KEY.test(q.key)) throw new BadInput(`questions[${i}].key`, "a key is 1-50 lowercase letters, digits or _, starting with a letter");
    if (seen.has(q.key)) throw new BadInput(`questions[${i}].key`, `the key "${q.key}" is used twice`);
    seen.add(q.key);
  });
  if (questions.filter((q) => q.kind === SurveyQuestionKind.NPS).length > 1) {
    throw new BadInput("questions", "a survey has at most one NPS question (it sets the customer's NPS)");
  }
}

/**
 * The answers by question key, checked against the survey; and the NPS answer, if the survey has
 * an NPS question and it was answered.
 */
export function checkAnswers(
  questions: SurveyQuestionData[],
  answers: AnswerData[],
): { byKey: Record<string, number | string>; nps: number | null; attitude: number | null } {
  const byQuestion = new Map(questions.map((q) => [q.key, q]));
  // No prototype: a question keyed "constructor" is not answered already.
  const byKey: Record<string, number | string> = Object.create(null);
  let nps: number | null = null;
  answers.forEach((a, i) => {
    const field = `answers[${i}]`;
    const question = byQuestion.get(a.questionKey);
    if (!question) throw new BadInput(`${field}.questionKey`, `the survey has no question "${a.questionKey}"`);
    if (a.questionKey in byKey) throw new BadInput(`${field}.questionKey`, `"${a.questionKey}" is answered twice`);
    const scale = SCALES[question.kind];
    if (scale) {
      if (a.text != null) throw new BadInput(`${field}.text`, `"${a.questionKey}" is answered with a value, not text`);
      const v = a.value;
      if (v == null || !Number.isInteger(v) || v < scale.min || v > scale.max) {
        throw new BadInput(`${field}.value`, `"${a.questionKey}" (${question.kind}) is answered with a whole number from ${scale.min} to ${scale.max}`);
      }
      byKey[a.questionKey] = v;
      if (question.kind === SurveyQuestionKind.NPS) nps = v;
    } else {
      if (a.value != null) throw new BadInput(`${field}.value`, `"${a.questionKey}" is answered with text, not a value`);
      const text = a.text?.trim() ?? "";
      if (text.length === 0 || text.length > MAX_TEXT_ANSWER)
        throw new BadInput(`${field}.text`, `"${a.questionKey}" is answered with 1 to ${MAX_TEXT_ANSWER} characters`);
      byKey[a.questionKey] = text;
    }
  });
  const missing = questions.find((q) => q.required && !(q.key in byKey));
  if (missing) throw new BadInput("answers", `the required question "${missing.key}" is not answered`);
  // What the response says of the customer's attitude: the mean of its answers on a scale, 0-100.
  const said = questions.filter((q) => typeof byKey[q.key] === "number").map((q) => scaled(q.kind, byKey[q.key] as number)!);
  const attitude = said.length > 0 ? Math.round((said.reduce((a, b) => a + b, 0) / said.length) * 10) / 10 : null;
  return { byKey, nps, attitude };
}
