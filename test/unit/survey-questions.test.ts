/** Survey answers checked against their questions, without the database. */
import { checkAnswers, checkQuestions, scaled, SurveyQuestionKind } from "../../src/modules/surveys/survey.questions";

const q = (key: string, kind: SurveyQuestionKind, required = true) => ({ key, kind, text: key, required });

describe("survey answers", () => {
  it("keeps each answer by its question and takes the NPS answer out", () => {
    const questions = [q("nps", SurveyQuestionKind.NPS), q("easy", SurveyQuestionKind.EFFORT), q("note", SurveyQuestionKind.TEXT, false)];
    // Attitude: NPS 0 → 0 and effort 7 → 100, so 50.
    expect(
      checkAnswers(questions, [
        { questionKey: "easy", value: 7 },
        { questionKey: "nps", value: 0 },
      ]),
    ).toEqual({ byKey: { easy: 7, nps: 0 }, nps: 0, attitude: 50 });
    expect(
      checkAnswers(questions, [
        { questionKey: "nps", value: 7 },
        { questionKey: "easy", value: 3 },
        { questionKey: "note", text: "ok" },
      ]).attitude,
    ).toBe(51.7);
    expect(() =>
      checkAnswers(questions, [
        { questionKey: "nps", value: 5 },
        { questionKey: "easy", value: 8 },
      ]),
    ).toThrow("from 1 to 7");
  });

  it("treats keys that are names of object properties as plain keys", () => {
    const questions = [q("constructor", SurveyQuestionKind.CSAT), q("tostring", SurveyQuestionKind.CSAT, false)];
    expect(checkAnswers(questions, [{ questionKey: "constructor", value: 4 }]).byKey).toEqual({ constructor: 4 });
    expect(() => checkAnswers(questions, [{ questionKey: "tostring", value: 4 }])).toThrow('the required question "constructor" is not answered');
    expect(() => checkQuestions(questions)).not.toThrow();
  });

  it("puts every scale on 0-100, higher the better", () => {
    expect([0, 10].map((v) => scaled(SurveyQuestionKind.NPS, v))).toEqual([0, 100]);
    expect([1, 3, 5].map((v) => scaled(SurveyQuestionKind.CSAT, v))).toEqual([0, 50, 100]);
    expect(scaled(SurveyQuestionKind.AGREEMENT, 4)).toBe(75);
    expect(scaled(SurveyQuestionKind.EFFORT, 4)).toBe(50);
    expect(scaled(SurveyQuestionKind.TEXT, 4)).toBeNull();
  });
});
