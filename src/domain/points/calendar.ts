/**
 * Calendar arithmetic in a program's time zone: where a day, week, month or year starts and ends.
 * Earning caps count per local day/week/month; points expire at the local end of a month or year.
 * Intl gives the local wall time of an instant; the inverse (wall time → instant) is found by
 * correcting a first guess with the zone's offset, twice, which is exact across DST changes
 * except for wall times that do not exist (then the next valid instant is used).
 */
export type CalendarPeriod = "DAY" | "WEEK" | "MONTH" | "YEAR";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export interface WallTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
}

export function wallTime(at: Date, timeZone: string): WallTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(at)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS[parts.weekday],
  };
}

/** The zone's offset from UTC at an instant, in ms (positive east of Greenwich). */
function offsetAt(at: Date, timeZone: string): number {
  const w = wallTime(at, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/** The instant at which the zone's clocks show this local midnight (y, m 1-12, d; overflow allowed). */
export function localMidnight(year: number, month: number, day: number, timeZone: string): Date {
  const wall = Date.UTC(year, month - 1, day);
  let guess = wall - offsetAt(new Date(wall), timeZone);
  guess = wall - offsetAt(new Date(guess), timeZone);
  return new Date(guess);
}

/** Start of the local day/week (Monday)/month/year containing `at`. */
export function startOfPeriod(at: Date, period: CalendarPeriod, timeZone: string): Date {
  const w = wallTime(at, timeZone);
  switch (period) {
    case "DAY":
      return localMidnight(w.year, w.month, w.day, timeZone);
    case "WEEK":
      return localMidnight(w.year, w.month, w.day - (w.weekday - 1), timeZone);
    case "MONTH":
      return localMidnight(w.year, w.month, 1, timeZone);
    case "YEAR":
      return localMidnight(w.year, 1, 1, timeZone);
  }
}

/** Start of the next local period after the one containing `at` (the end, exclusive). */
export function endOfPeriod(at: Date, period: CalendarPeriod, timeZone: string): Date {
  const w = wallTime(at, timeZone);
  switch (period) {
    case "DAY":
      return localMidnight(w.year, w.month, w.day + 1, timeZone);
    case "WEEK":
      return localMidnight(w.year, w.month, w.day - (w.weekday - 1) + 7, timeZone);
    case "MONTH":
      return localMidnight(w.year, w.month + 1, 1, timeZone);
    case "YEAR":
      return localMidnight(w.year + 1, 1, 1, timeZone);
  }
}
