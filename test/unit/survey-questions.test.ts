/** Survey answers checked against their questions, without the database. */
import { checkAnswers, checkQuestions, SurveyQuestionKind } from "../../src/modules/surveys/survey.questions";

const q = (key: string, kind: SurveyQuestionKind, required = true) => ({ key, kind, text: key, required });

describe("survey answers", () => {
  it("keeps each answer by its question and takes the NPS answer out", () => {
    const questions = [q("nps", SurveyQuestionKind.NPS), q("easy", SurveyQuestionKind.EFFORT), q("note", SurveyQuestionKind.TEXT, false)];
    expect(checkAnswers(questions, [{ questionKey: "easy", value: 7 }, { questionKey: "nps", value: 0 }])).toEqual({ byKey: { easy: 7, nps: 0 }, nps: 0 });
    expect(() => checkAnswers(questions, [{ questionKey: "nps", value: 5 }, { questionKey: "easy", value: 8 }])).toThrow("from 1 to 7");
  });

  it("treats keys that are names of object properties as plain keys", () => {
    const questions = [q("constructor", SurveyQuestionKind.CSAT), q("tostring", SurveyQuestionKind.CSAT, false)];
    expect(checkAnswers(questions, [{ questionKey: "constructor", value: 4 }]).byKey).toEqual({ constructor: 4 });
    expect(() => checkAnswers(questions, [{ questionKey: "tostring", value: 4 }])).toThrow('the required question "constructor" is not answered');
    expect(() => checkQuestions(questions)).not.toThrow();
  });
});
