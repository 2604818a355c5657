import { endOfPeriod, localMidnight, startOfPeriod, wallTime } from "../../src/domain/points/calendar";
import { nextReview, qualifiedTier, reviewedTier, TierPolicy, windowAt } from "../../src/domain/points/tiers";

describe("calendar in a program's time zone", () => {
  it("finds local midnights across daylight saving changes", () => {
    // Paris moves to summer time on 2026-03-29: that day starts at 23:00 UTC the day before.
    expect(localMidnight(2026, 3, 29, "Europe/Paris").toISOString()).toBe("2026-03-28T23:00:00.000Z");
    expect(localMidnight(2026, 3, 30, "Europe/Paris").toISOString()).toBe("2026-03-29T22:00:00.000Z");
    expect(localMidnight(2026, 1, 1, "UTC").toISOString()).toBe("2026-01-01T00:00:00.000Z");
  });

  it("starts weeks on Monday and ends months and years at the next local midnight", () => {
    const at = new Date("2026-03-05T10:00:00Z"); // a Thursday
    expect(wallTime(at, "UTC").weekday).toBe(4);
    expect(startOfPeriod(at, "WEEK", "UTC").toISOString()).toBe("2026-03-02T00:00:00.000Z");
    expect(endOfPeriod(at, "MONTH", "Asia/Tokyo").toISOString()).toBe("2026-03-31T15:00:00.000Z");
    expect(endOfPeriod(new Date("2026-12-31T20:00:00Z"), "YEAR", "America/New_York").toISOString()).toBe("2027-01-01T05:00:00.000Z");
  });
});

describe("tier qualification", () => {
  const levels = [
    { key: "silver", name: "Silver", rank: 0, threshold: 100 },
    { key: "gold", name: "Gold", rank: 1, threshold: 300 },
    { key: "platinum", name: "Platinum", rank: 2, threshold: 1000 },
  ];
  const policy: TierPolicy = { basis: "POINTS_EARNED", window: "CALENDAR_YEAR", windowDays: 365, graceDays: 31, downgrade: "ONE_TIER" };

  it("qualifies for the highest tier reached", () => {
    expect(qualifiedTier(levels, 99)).toBeNull();
    expect(qualifiedTier(levels, 300)?.key).toBe("gold");
  });

  it("downgrades one tier at a time, or to what the window supports", () => {
    const [silver, gold, platinum] = levels;
    expect(reviewedTier(policy, levels, platinum, null)?.key).toBe("gold");
    expect(reviewedTier({ ...policy, downgrade: "TO_QUALIFIED" }, levels, platinum, silver)?.key).toBe("silver");
    expect(reviewedTier(policy, levels, silver, null)).toBeNull();
    expect(reviewedTier(policy, levels, gold, platinum)?.key).toBe("platinum");
  });

  it("reviews a calendar-year tier after the year ends plus grace; a membership year from the join date", () => {
    const since = new Date("2024-05-10T09:00:00Z");
    expect(nextReview(policy, new Date("2026-07-01T00:00:00Z"), since, "UTC").toISOString()).toBe("2027-02-01T00:00:00.000Z");
    const anniversary = windowAt({ ...policy, window: "ANNIVERSARY" }, new Date("2026-03-01T00:00:00Z"), since, "UTC");
    expect([anniversary.start.toISOString(), anniversary.end.toISOString()]).toEqual(["2025-05-10T00:00:00.000Z", "2026-05-10T00:00:00.000Z"]);
  });
});
