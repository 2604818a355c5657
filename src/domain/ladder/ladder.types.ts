/**
 * The loyalty ladder as data. A program's ladder is an ordered list of stages, bottom first.
 * A stage is entered when all criteria of any one of its paths hold; the bottom stage has none.
 * Side stages (lapsed, disqualified) sit beside the ladder and take precedence when they hold.
 */

/** What a criterion measures about a customer. Counts and amounts accept a window in days. */
export enum Metric {
  PURCHASE_COUNT = "PURCHASE_COUNT",
  PURCHASE_AMOUNT = "PURCHASE_AMOUNT",
  DAYS_SINCE_LAST_PURCHASE = "DAYS_SINCE_LAST_PURCHASE",
  REVIEW_COUNT = "REVIEW_COUNT",
  AVERAGE_RATING = "AVERAGE_RATING",
  REFERRAL_COUNT = "REFERRAL_COUNT",
  SOCIAL_SHARE_COUNT = "SOCIAL_SHARE_COUNT",
  VISIT_COUNT = "VISIT_COUNT",
  PRODUCT_VIEW_COUNT = "PRODUCT_VIEW_COUNT",
  SUPPORT_CONTACT_COUNT = "SUPPORT_CONTACT_COUNT",
  EVENT_ATTENDANCE_COUNT = "EVENT_ATTENDANCE_COUNT",
  NPS = "NPS",
  LIFETIME_POINTS = "LIFETIME_POINTS",
  TENURE_DAYS = "TENURE_DAYS",
}

export enum Comparator {
  GTE = "GTE",
  GT = "GT",
  LTE = "LTE",
  LT = "LT",
  EQ = "EQ",
}

export interface Criterion {
  metric: Metric;
  op: Comparator;
  value: number;
  /** Count only touchpoints of the last N days (counts, amounts, ratings). */
  windowDays?: number | null;
}

export interface StageDefinition {
  key: string;
  name: string;
  description?: string | null;
  side: boolean;
  /** Alternatives: the stage holds when every criterion of at least one path holds. */
  paths: Criterion[][];
}

export interface Ladder {
  /** Bottom first. The first non-side stage is the floor every customer starts on. */
  stages: StageDefinition[];
}

/** Reads one metric of one customer; null means "no value" (never bought, never answered), which satisfies no criterion. */
export type MetricReader = (metric: Metric, windowDays?: number | null) => number | null;

export interface CriterionResult extends Criterion {
  /** The value seen when the criterion was evaluated. */
  have: number | null;
  passed: boolean;
}

/** Why a customer stands on a stage: the path that held and each criterion with the value seen. */
export interface StageReason {
  stage: string;
  /** Index of the path that held in the stage's `paths`; null for the bottom stage (no criteria). */
  pathIndex: number | null;
  criteria: CriterionResult[];
  /** A short sentence for people: "PURCHASE_COUNT (365d) 4 >= 4". */
  summary: string;
}

/** Metrics whose value is a count or sum of touchpoints, so a window applies. */
export const WINDOWABLE_METRICS: ReadonlySet<Metric> = new Set([
  Metric.PURCHASE_COUNT,
  Metric.PURCHASE_AMOUNT,
  Metric.REVIEW_COUNT,
  Metric.AVERAGE_RATING,
  Metric.REFERRAL_COUNT,
  Metric.SOCIAL_SHARE_COUNT,
  Metric.VISIT_COUNT,
  Metric.PRODUCT_VIEW_COUNT,
  Metric.SUPPORT_CONTACT_COUNT,
  Metric.EVENT_ATTENDANCE_COUNT,
]);
