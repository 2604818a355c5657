/**
 * Earning rules: a pure function of (rules, touchpoint). The write path calls it before it touches
 * the database, so the points of a record are known when its one statement is built.
 */
export enum TouchpointType {
  PURCHASE = "PURCHASE",
  REFUND = "REFUND",
  REVIEW = "REVIEW",
  REFERRAL = "REFERRAL",
  SOCIAL_SHARE = "SOCIAL_SHARE",
  VISIT = "VISIT",
  PAGE_VIEW = "PAGE_VIEW",
  PRODUCT_VIEW = "PRODUCT_VIEW",
  SUPPORT_CONTACT = "SUPPORT_CONTACT",
  EVENT_ATTENDANCE = "EVENT_ATTENDANCE",
  SURVEY_RESPONSE = "SURVEY_RESPONSE",
  COMMUNITY_POST = "COMMUNITY_POST",
  EMAIL_OPEN = "EMAIL_OPEN",
  EMAIL_CLICK = "EMAIL_CLICK",
  APP_OPEN = "APP_OPEN",
}

export interface EarningRule {
  id: string;
  name: string | null;
  touchpointType: TouchpointType;
  /** Points per currency unit of the amount, rounded down (purchases). */
  pointsPerUnit: number | null;
  /** Points for each touchpoint of the type. */
  fixedPoints: number | null;
  /** Higher first; ties by id, so the order never depends on which rule was edited last. */
  priority: number;
}

export interface AppliedRule {
  ruleId: string;
  points: number;
}

export interface EarnedPoints {
  total: number;
  applied: AppliedRule[];
}

export function orderRules(rules: EarningRule[]): EarningRule[] {
  return [...rules].sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Points a touchpoint earns. Amounts are in currency units; points are whole, rounded down. */
export function computePoints(rules: EarningRule[], type: TouchpointType, amount: number | null): EarnedPoints {
  const applied: AppliedRule[] = [];
  for (const rule of orderRules(rules)) {
    if (rule.touchpointType !== type) continue;
    let points = rule.fixedPoints ?? 0;
    if (rule.pointsPerUnit !== null && amount !== null) {
      // Work in cents to keep 0.1 * 10 from becoming 0.9999…
      points += Math.floor((Math.round(amount * 100) * Math.round(rule.pointsPerUnit * 10000)) / 1_000_000);
    }
    if (points !== 0) applied.push({ ruleId: rule.id, points });
  }
  return { total: applied.reduce((sum, r) => sum + r.points, 0), applied };
}

/**
 * Points a refund takes back: the purchase's points pro rata to the refunded amount, rounded down,
 * all of what is left when the refund completes the order, and never more than the purchase earned.
 */
export function refundPoints(purchase: { amount: number; points: number; refundedAmount: number; pointsReversed: number }, refund: number): number {
  const remainingPoints = purchase.points - purchase.pointsReversed;
  if (remainingPoints <= 0 || purchase.amount <= 0) return 0;
  const refundedAfter = purchase.refundedAmount + refund;
  if (refundedAfter >= purchase.amount - 0.005) return remainingPoints;
  const proRata = Math.floor((purchase.points * Math.round(refundedAfter * 100)) / Math.round(purchase.amount * 100));
  return Math.max(0, Math.min(remainingPoints, proRata - purchase.pointsReversed));
}
