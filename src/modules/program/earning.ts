/**
 * Earning rules: a pure function of (rules, touchpoint, customer state). The batch writer calls it
 * for each record in arrival order, with the customer's state right before that record (stage,
 * tier, what capped rules already gave), so stage multipliers and caps are exact inside a batch.
 *
 * Semantics, in the order the rules run (priority high to low, then the order they were listed,
 * then id: never "last edited wins"):
 * - A rule applies to one touchpoint type, optionally only for some stages or tiers, between two
 *   dates, or on some days of the week (in the program's time zone).
 * - A base rule gives `fixedPoints` plus `pointsPerUnit` × the eligible amount, rounded down. With
 *   purchase lines, the eligible amount is the lines matching its SKUs/categories (all lines when it
 *   names none); voided lines never earn. A rule naming SKUs/categories earns nothing without lines.
 * - A rule with only a `multiplier` multiplies what earlier rules gave (on its SKUs/categories when
 *   it names some): ×2 adds once more what they gave. A base rule with a multiplier multiplies its own points.
 * - Caps clamp a rule's points: per customer per DAY/WEEK/MONTH, and in total over all customers.
 * - `stopFurtherRules`: when the rule matches, no later rule runs.
 * Points are attributed to purchase lines (and the rest to the order), so a refund of some lines
 * takes back exactly their points.
 */
import { CalendarPeriod, wallTime } from "../../domain/points/calendar";

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

export type CapPeriod = Extract<CalendarPeriod, "DAY" | "WEEK" | "MONTH">;

export interface EarningRule {
  id: string;
  name: string | null;
  touchpointType: TouchpointType;
  /** Points per currency unit of the eligible amount, rounded down (purchases). */
  pointsPerUnit: number | null;
  /** Points for each touchpoint of the type. */
  fixedPoints: number | null;
  /** Higher first; ties by position (the order the admin listed them), then id: never by which rule was edited last. */
  priority: number;
  position?: number;
  multiplier?: number | null;
  skus?: string[] | null;
  categories?: string[] | null;
  stages?: string[] | null;
  tiers?: string[] | null;
  activeFrom?: Date | null;
  activeTo?: Date | null;
  /** ISO weekdays, 1 = Monday … 7 = Sunday, in the program's time zone. */
  daysOfWeek?: number[] | null;
  capPoints?: number | null;
  capPeriod?: CapPeriod | null;
  totalCap?: number | null;
  stopFurtherRules?: boolean;
  /** A referral rule: fixed points for the referrer or the referee, on signup or the referee's first purchase (granted apart, not by computePoints). */
  referralTrigger?: "SIGNUP" | "FIRST_PURCHASE" | null;
  beneficiary?: "REFERRER" | "REFEREE" | null;
}

export interface PurchaseLine {
  sku: string;
  category?: string | null;
  quantity: number;
  unitPrice: number;
  voided?: boolean | null;
}

export interface EarningContext {
  type: TouchpointType;
  amount: number | null;
  lines?: PurchaseLine[] | null;
  occurredAt: Date;
  timeZone: string;
  stage?: string | null;
  tier?: string | null;
  /** What a capped rule already gave this customer in its current period. */
  capUsed?: (rule: EarningRule) => number;
  /** What a rule with a total cap already gave everyone. */
  totalUsed?: (rule: EarningRule) => number;
}

export interface AppliedRule {
  ruleId: string;
  name: string | null;
  points: number;
  /** True when a cap cut the rule's points. */
  capped: boolean;
}

export interface EarnedPoints {
  total: number;
  applied: AppliedRule[];
  /** Points attributed to each purchase line, by index (zeros without lines). */
  linePoints: number[];
  /** Points not attributed to a line (fixed points, purchases without lines). */
  orderPoints: number;
}

export function orderRules(rules: EarningRule[]): EarningRule[] {
  return [...rules].sort((a, b) => b.priority - a.priority || (a.position ?? 0) - (b.position ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

const toCents = (amount: number) => Math.round(amount * 100);
/** pointsPerUnit in 1/10,000 units, so 0.1 × 30.00 is exactly 3. */
const perUnitScaled = (ppu: number) => Math.round(ppu * 10_000);

function lineMatches(rule: EarningRule, line: PurchaseLine): boolean {
  if (line.voided) return false;
  const bySku = rule.skus?.length ? rule.skus.includes(line.sku) : null;
  const byCategory = rule.categories?.length ? !!line.category && rule.categories.includes(line.category) : null;
  if (bySku === null && byCategory === null) return true;
  return bySku === true || byCategory === true;
}

function ruleActive(rule: EarningRule, ctx: EarningContext): boolean {
  if (rule.touchpointType !== ctx.type) return false;
  if (rule.stages?.length && (!ctx.stage || !rule.stages.includes(ctx.stage))) return false;
  if (rule.tiers?.length && (!ctx.tier || !rule.tiers.includes(ctx.tier))) return false;
  if (rule.activeFrom && ctx.occurredAt < rule.activeFrom) return false;
  if (rule.activeTo && ctx.occurredAt >= rule.activeTo) return false;
  if (rule.daysOfWeek?.length && !rule.daysOfWeek.includes(wallTime(ctx.occurredAt, ctx.timeZone).weekday)) return false;
  return true;
}

/** Splits `total` over parts in proportion to `weights`, rounding down and giving the rest by largest remainder. */
export function apportion(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0 || total === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (total * w) / sum);
  const shares = exact.map(Math.floor);
  let rest = total - shares.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, frac: e - Math.floor(e) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; rest > 0 && k < order.length; k++, rest--) shares[order[k].i]++;
  return shares;
}

/** Points a touchpoint earns, rule by rule, attributed to purchase lines. */
export function computePoints(rules: EarningRule[], ctx: EarningContext): EarnedPoints {
  const lines = ctx.lines?.length ? ctx.lines : null;
  const linePoints = lines ? lines.map(() => 0) : [];
  let orderPoints = 0;
  const applied: AppliedRule[] = [];

  for (const rule of orderRules(rules)) {
    if (rule.referralTrigger || !ruleActive(rule, ctx)) continue;
    const filtered = !!(rule.skus?.length || rule.categories?.length);
    if (filtered && !lines) continue;
    const eligible = lines ? lines.map((line) => lineMatches(rule, line)) : [];
    if (lines && !eligible.some(Boolean)) continue;

    // This rule's points, as a share per line and a share for the order.
    let perLine = lines ? lines.map(() => 0) : [];
    let forOrder = 0;
    const isBase = rule.pointsPerUnit != null || rule.fixedPoints != null;
    if (isBase) {
      forOrder += rule.fixedPoints ?? 0;
      if (rule.pointsPerUnit != null) {
        const ppu = perUnitScaled(rule.pointsPerUnit);
        if (lines) {
          const cents = lines.map((line, i) => (eligible[i] ? line.quantity * toCents(line.unitPrice) : 0));
          const total = Math.floor((cents.reduce((a, b) => a + b, 0) * ppu) / 1_000_000);
          perLine = apportion(total, cents);
        } else if (ctx.amount != null) {
          forOrder += Math.floor((toCents(ctx.amount) * ppu) / 1_000_000);
        }
      }
      if (rule.multiplier != null) {
        const m = rule.multiplier;
        perLine = perLine.map((p) => Math.floor(p * m));
        forOrder = Math.floor(forOrder * m);
      }
    } else if (rule.multiplier != null) {
      // Never below what earlier rules gave (validation refuses a multiplier under 1 on such a rule).
      const extra = Math.max(0, rule.multiplier - 1);
      perLine = linePoints.map((p, i) => (eligible[i] ? Math.floor(p * extra) : 0));
      forOrder = filtered ? 0 : Math.floor(orderPoints * extra);
    }

    let points = perLine.reduce((a, b) => a + b, 0) + forOrder;
    let capped = false;
    if (points > 0) {
      let room = Infinity;
      if (rule.capPoints != null && rule.capPeriod) room = Math.min(room, rule.capPoints - (ctx.capUsed?.(rule) ?? 0));
      if (rule.totalCap != null) room = Math.min(room, rule.totalCap - (ctx.totalUsed?.(rule) ?? 0));
      room = Math.max(0, room);
      if (points > room) {
        capped = true;
        // Cut the order's share first, then the lines' in proportion.
        const fromOrder = Math.min(forOrder, points - room);
        forOrder -= fromOrder;
        const lineTotal = room - forOrder;
        perLine = apportion(Math.max(0, lineTotal), perLine);
        points = room;
      }
    }
    if (points !== 0 || capped) {
      applied.push({ ruleId: rule.id, name: rule.name, points, capped });
      perLine.forEach((p, i) => (linePoints[i] += p));
      orderPoints += forOrder;
    }
    if (rule.stopFurtherRules) break;
  }
  const total = linePoints.reduce((a, b) => a + b, 0) + orderPoints;
  return { total, applied, linePoints, orderPoints };
}

/**
 * Points a refund by amount takes back: the purchase's points pro rata to the refunded amount,
 * rounded down, all of what is left when the refund completes the order, never more than earned.
 */
export function refundPoints(purchase: { amount: number; points: number; refundedAmount: number; pointsReversed: number }, refund: number): number {
  const remainingPoints = purchase.points - purchase.pointsReversed;
  if (remainingPoints <= 0 || purchase.amount <= 0) return 0;
  const refundedAfter = purchase.refundedAmount + refund;
  if (refundedAfter >= purchase.amount - 0.005) return remainingPoints;
  const proRata = Math.floor((purchase.points * Math.round(refundedAfter * 100)) / Math.round(purchase.amount * 100));
  return Math.max(0, Math.min(remainingPoints, proRata - purchase.pointsReversed));
}

/** A purchase line as stored with its points, and how much of it was refunded. */
export interface EarnedLine extends PurchaseLine {
  points: number;
  refundedQuantity: number;
}

/**
 * Points a refund of some units of one line takes back: that line's points for those units, the
 * last unit taking the rounding rest, so refunding every unit takes back exactly the line's points.
 */
export function lineRefundPoints(line: EarnedLine, quantity: number): number {
  const before = Math.floor((line.points * line.refundedQuantity) / line.quantity);
  const after = Math.floor((line.points * (line.refundedQuantity + quantity)) / line.quantity);
  return after - before;
}
