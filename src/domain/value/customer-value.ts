/**
 * Who the best customers are and how loyal they are (docs/domain.md §2-3), as pure functions of a
 * customer's counters and of where the program's buyers stand (quintile breakpoints):
 *   - RFM: recency, frequency and monetary value, each scored 1-5 by quintile among the program's
 *     buyers (5: the most recent, most frequent, highest spending fifth);
 *   - CLV: net spend so far plus what the customer is expected to spend over the next years;
 *   - two-dimensional loyalty: a behavioural score (from R and F) against an attitudinal one (NPS,
 *     ratings), and the quadrant that places the customer in.
 * Every rule is here, in one place, and written out in the schema's descriptions.
 */

const DAY_MS = 86_400_000;
export const YEAR_DAYS = 365;

/**
 * Where the program's buyers stand: for each measure, its values at the 1st, 2nd, … 99th
 * percentiles (ascending), enough to place any value among the buyers to the percent.
 */
export interface ValueBreakpoints {
  /** Customers with at least one purchase, over whom the percentiles were taken. */
  buyers: number;
  /** Last purchase times, as whole epoch milliseconds (as Date.getTime() gives them). */
  recency: number[];
  frequency: number[];
  monetary: number[];
}

/** The counters the scores read (snake_case, as the customer row has them). */
export interface ValueRow {
  purchase_count: number;
  purchase_amount: string | number;
  first_purchase_at?: Date | null;
  last_purchase_at: Date | null;
  review_count: number;
  rating_sum: number;
  referral_count: number;
  social_share_count: number;
  nps: number | null;
}

export interface RfmScores {
  /** 1-5: 5 is the fifth of buyers who bought most recently. */
  recency: number;
  /** 1-5: 5 is the fifth of buyers who bought most often. */
  frequency: number;
  /** 1-5: 5 is the fifth of buyers who spent most (net of refunds). */
  monetary: number;
  /** The three scores as one code, recency first ("545"). */
  score: string;
  /** The segment recency and frequency place the customer in. */
  segment: RfmSegment;
  daysSinceLastPurchase: number;
  purchaseCount: number;
  purchaseAmount: number;
}

/**
 * The RFM segments: who to keep, grow, win back (docs/domain.md §3: know the best customers, set goals
 * per segment). A grid over the recency (R) and frequency (F) scores; every cell has one segment.
 */
export enum RfmSegment {
  /** R 4-5, F 4-5: bought recently and often. */
  CHAMPIONS = "CHAMPIONS",
  /** R 3, F 4-5: buy often, a little less recently. */
  LOYAL = "LOYAL",
  /** R 4-5, F 2-3: recent, on their way to buying often. */
  POTENTIAL_LOYALISTS = "POTENTIAL_LOYALISTS",
  /** R 4-5, F 1: a recent first purchase. */
  NEW_CUSTOMERS = "NEW_CUSTOMERS",
  /** R 3, F 1-3: neither recent nor frequent buyers yet. */
  NEEDS_ATTENTION = "NEEDS_ATTENTION",
  /** R 1-2, F 3-5: bought often, but not for a while. */
  AT_RISK = "AT_RISK",
  /** R 1-2, F 1-2: bought little, long ago. */
  HIBERNATING = "HIBERNATING",
}

/** The segment of a recency and a frequency score (1-5 each). */
export function rfmSegmentOf(recency: number, frequency: number): RfmSegment {
  if (recency >= 4) return frequency >= 4 ? RfmSegment.CHAMPIONS : frequency >= 2 ? RfmSegment.POTENTIAL_LOYALISTS : RfmSegment.NEW_CUSTOMERS;
  if (recency === 3) return frequency >= 4 ? RfmSegment.LOYAL : RfmSegment.NEEDS_ATTENTION;
  return frequency >= 3 ? RfmSegment.AT_RISK : RfmSegment.HIBERNATING;
}

export enum LoyaltyQuadrant {
  /** Low behaviour, low attitude. */
  NONE = "NONE",
  /** Habit: buys often, feels little. */
  INERTIA = "INERTIA",
  /** Bought with rewards: buys often, feels little, and redeems rewards. */
  MERCENARY = "MERCENARY",
  /** Likes the brand, does not buy (much). */
  LATENT = "LATENT",
  /** Buys often and likes it. */
  COMMITTED = "COMMITTED",
  /** Committed, and brings others (referrals, shares). */
  FANATICAL = "FANATICAL",
}

export interface LoyaltyScores {
  /** 0-100, from the recency and frequency scores; 0 for a customer who never bought. */
  behavioral: number;
  /** 0-100, from survey answers, review ratings and advocacy; null without any. */
  attitudinal: number | null;
  quadrant: LoyaltyQuadrant;
}

/** Behaviour counts as high from this score (recency + frequency of at least 7 out of 10). */
export const BEHAVIORAL_HIGH = 62.5;
/** Attitude counts as high from this score: an NPS of 7 (passive) or more, a rating of 3.8 or more. */
export const ATTITUDINAL_HIGH = 70;
/**
 * How a program's customers' value is read over time, set per program (a grocer's customers come
 * back weekly, a car dealer's every few years):
 */
export interface ValuePolicy {
  /** A customer with no purchase for this many days is gone: no future spending in CLV, CHURNED in the lifecycle. */
  activeDays: number;
  /** CLV counts this many more years of spending for a customer still active. */
  horizonYears: number;
  /** A one-time buyer who has not come back within this many days is in DECLINE. */
  firstRepeatDays: number;
}

export const DEFAULT_VALUE_POLICY: ValuePolicy = { activeDays: YEAR_DAYS, horizonYears: 3, firstRepeatDays: 90 };

/**
 * The fifth of the buyers a value falls in, 1-5 (5: the highest fifth), by its mid-rank: the share
 * of buyers below it plus half the share equal to it, read off the percentiles. So ties share a
 * score (half of them are not put below the other half), and a program's only buyer, like any
 * buyer tied with everyone, stands in the middle (3), not at the bottom.
 */
export function quintile(value: number, percentiles: number[]): number {
  if (percentiles.length === 0) return 3;
  let below = 0;
  let equal = 0;
  for (const p of percentiles) {
    if (p < value) below++;
    else if (p === value) equal++;
  }
  // The value spans the percentile slots below+1 … below+equal (or sits between two): its
  // mid-rank is (2·below + equal + 1) / (2·(n + 1)). Whole numbers, so a value exactly on a fifth's
  // edge stays in the lower fifth (with 100 buyers, the 20th scores 1, the 21st 2).
  const twiceMid = 2 * below + equal + 1;
  return Math.min(5, Math.max(1, Math.ceil((twiceMid * 5) / (2 * (percentiles.length + 1)))));
}

/** Null until the customer's first purchase. */
export function rfmOf(row: ValueRow, breakpoints: ValueBreakpoints, now: Date): RfmScores | null {
  if (row.purchase_count <= 0 || !row.last_purchase_at) return null;
  const last = new Date(row.last_purchase_at).getTime();
  const amount = Number(row.purchase_amount);
  const recency = quintile(last, breakpoints.recency);
  const frequency = quintile(row.purchase_count, breakpoints.frequency);
  const monetary = quintile(amount, breakpoints.monetary);
  return {
    recency,
    frequency,
    monetary,
    score: `${recency}${frequency}${monetary}`,
    segment: rfmSegmentOf(recency, frequency),
    daysSinceLastPurchase: Math.max(0, Math.floor((now.getTime() - last) / DAY_MS)),
    purchaseCount: row.purchase_count,
    purchaseAmount: amount,
  };
}

/**
 * Net spend so far, plus, for a customer who bought less than `activeDays` ago, `horizonYears` more
 * years at their average annual spend (net spend over the years since their first purchase,
 * counting at least one). Rounded to cents.
 */
export function clvOf(row: ValueRow, now: Date, policy: ValuePolicy = DEFAULT_VALUE_POLICY): number {
  const spent = Number(row.purchase_amount);
  if (row.purchase_count <= 0 || !row.first_purchase_at || !row.last_purchase_at || spent <= 0) return Math.max(0, Math.round(spent * 100) / 100);
  const daysSinceLast = (now.getTime() - new Date(row.last_purchase_at).getTime()) / DAY_MS;
  const years = Math.max(1, (now.getTime() - new Date(row.first_purchase_at).getTime()) / DAY_MS / YEAR_DAYS);
  const future = daysSinceLast < policy.activeDays ? (spent / years) * policy.horizonYears : 0;
  return Math.round((spent + future) * 100) / 100;
}

/**
 * The two dimensions and the quadrant. Behaviour: the mean of the recency and frequency scores on
 * 0-100 (1 → 0, 5 → 100). Attitude: the mean of what the customer said: their latest survey
 * response (`surveyAttitude`: the mean of its answers on a scale, 0-100), or without one the latest
 * NPS answer (0-10 → 0-100); the average review rating (1-5 → 0-100); and advocacy (100 once the
 * customer has referred someone or shared). Without any, attitude counts as low. High behaviour with low attitude is MERCENARY when the customer redeems rewards
 * (`redemptions` in the last year), INERTIA otherwise; high and high is FANATICAL when the customer
 * also refers or shares, COMMITTED otherwise.
 */
export function loyaltyOf(row: ValueRow, rfm: RfmScores | null, redemptions: number, surveyAttitude: number | null = null): LoyaltyScores {
  const behavioral = rfm ? ((rfm.recency + rfm.frequency) / 2 - 1) * 25 : 0;
  const said: number[] = [];
  if (surveyAttitude !== null) said.push(surveyAttitude);
  else if (row.nps !== null && row.nps !== undefined) said.push(row.nps * 10);
  if (row.review_count > 0) said.push((row.rating_sum / row.review_count - 1) * 25);
  // Recommending us to others is attitude shown, not just said (docs/domain.md §2: advocacy).
  if (row.referral_count > 0 || row.social_share_count > 0) said.push(100);
  const attitudinal = said.length > 0 ? Math.round((said.reduce((a, b) => a + b, 0) / said.length) * 10) / 10 : null;
  const buys = behavioral >= BEHAVIORAL_HIGH;
  const likes = attitudinal !== null && attitudinal >= ATTITUDINAL_HIGH;
  let quadrant: LoyaltyQuadrant;
  if (buys && likes) quadrant = row.referral_count > 0 || row.social_share_count > 0 ? LoyaltyQuadrant.FANATICAL : LoyaltyQuadrant.COMMITTED;
  else if (buys) quadrant = redemptions > 0 ? LoyaltyQuadrant.MERCENARY : LoyaltyQuadrant.INERTIA;
  else quadrant = likes ? LoyaltyQuadrant.LATENT : LoyaltyQuadrant.NONE;
  return { behavioral, attitudinal, quadrant };
}
