/** How entities read bigint and numeric columns, which `pg` returns as text (src/db/transformers.ts). */
import { bigintPoints, numericNumber } from "../../src/db/transformers";

describe("bigintPoints", () => {
  it("reads whole points as numbers, null as null", () => {
    expect(bigintPoints.from("-1250")).toBe(-1250);
    expect(bigintPoints.from(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(bigintPoints.from(null)).toBeNull();
  });

  it("refuses a value a number would round rather than return a wrong balance", () => {
    expect(() => bigintPoints.from("9007199254740993")).toThrow(RangeError);
  });
});

describe("numericNumber", () => {
  it("reads money and rates as numbers, null as null", () => {
    expect(numericNumber.from("19.90")).toBe(19.9);
    expect(numericNumber.from("0.0000")).toBe(0);
    expect(numericNumber.from(null)).toBeNull();
  });
});
