/**
 * The ladders of the source texts (docs/domain.md §1), shipped as presets with default criteria a
 * program can edit. Stage keys are part of the public API: clients refer to stages by key.
 */
import { Comparator, Criterion, Ladder, Metric, StageDefinition } from "./ladder.types";

const c = (metric: Metric, op: Comparator, value: number, windowDays?: number): Criterion => ({
  metric,
  op,
  value,
  windowDays: windowDays ?? null,
});
const { GTE, EQ } = Comparator;

const stage = (key: string, name: string, description: string, paths: Criterion[][] = [], side = false): StageDefinition => ({
  key,
  name,
  description,
  side,
  paths,
});

const bought = c(Metric.PURCHASE_COUNT, GTE, 1);

function griffin7(): Ladder {
  const regular = c(Metric.PURCHASE_COUNT, GTE, 4, 365);
  return {
    stages: [
      stage("suspect", "Suspect", "Anyone who might buy: known, not yet engaged."),
      stage("prospect", "Prospect", "Has shown interest: visited, viewed products or asked for help.", [
        [c(Metric.VISIT_COUNT, GTE, 1)],
        [c(Metric.PRODUCT_VIEW_COUNT, GTE, 1)],
        [c(Metric.SUPPORT_CONTACT_COUNT, GTE, 1)],
      ]),
      stage(
        "disqualified_prospect",
        "Disqualified prospect",
        "Engaged for a year without buying: not a fit for now.",
        [[c(Metric.PURCHASE_COUNT, EQ, 0), c(Metric.VISIT_COUNT, GTE, 1), c(Metric.TENURE_DAYS, GTE, 365)]],
        true,
      ),
      stage("first_time_customer", "First-time customer", "Has bought once.", [[bought]]),
      stage("repeat_customer", "Repeat customer", "Has bought twice or more.", [[c(Metric.PURCHASE_COUNT, GTE, 2)]]),
      stage("client", "Client", "Buys regularly: four or more purchases in the last year.", [[regular]]),
      stage("advocate", "Advocate", "A client who recommends: a referral, a 4+ star review or an NPS of 9+.", [
        [regular, c(Metric.REFERRAL_COUNT, GTE, 1)],
        [regular, c(Metric.REVIEW_COUNT, GTE, 1), c(Metric.AVERAGE_RATING, GTE, 4)],
        [regular, c(Metric.NPS, GTE, 9)],
      ]),
      stage(
        "lapsed",
        "Lapsed",
        "A buyer with no purchase in 180 days: the target of reactivation.",
        [[bought, c(Metric.DAYS_SINCE_LAST_PURCHASE, GTE, 180)]],
        true,
      ),
    ],
  };
}

function fourweekmba5(): Ladder {
  const regular = c(Metric.PURCHASE_COUNT, GTE, 3, 365);
  return {
    stages: [
      stage("prospect", "Prospect", "A potential customer who has not bought yet."),
      stage("customer", "Customer", "Has bought, occasionally.", [[bought]]),
      stage("client", "Client", "Buys regularly: three or more purchases in the last year.", [[regular]]),
      stage("supporter", "Supporter", "A regular who likes the brand: NPS 7+ or a 4+ star review.", [
        [regular, c(Metric.NPS, GTE, 7)],
        [regular, c(Metric.REVIEW_COUNT, GTE, 1), c(Metric.AVERAGE_RATING, GTE, 4)],
      ]),
      stage("advocate", "Advocate", "Recommends actively: a referral, or a promoter who shares.", [
        [regular, c(Metric.REFERRAL_COUNT, GTE, 1)],
        [regular, c(Metric.NPS, GTE, 9), c(Metric.SOCIAL_SHARE_COUNT, GTE, 1)],
      ]),
    ],
  };
}

function trust6(): Ladder {
  const regular = c(Metric.PURCHASE_COUNT, GTE, 3, 365);
  return {
    stages: [
      stage("awareness", "Awareness", "Knows the brand."),
      stage("trust", "Trust", "Comes back to look: two or more visits, or a question to support.", [
        [c(Metric.VISIT_COUNT, GTE, 2)],
        [c(Metric.SUPPORT_CONTACT_COUNT, GTE, 1)],
      ]),
      stage("transaction", "Transaction", "Has bought.", [[bought]]),
      stage("satisfaction", "Satisfaction", "Bought and is satisfied: NPS 7+ or a 4+ star review.", [
        [bought, c(Metric.NPS, GTE, 7)],
        [bought, c(Metric.REVIEW_COUNT, GTE, 1), c(Metric.AVERAGE_RATING, GTE, 4)],
      ]),
      stage("loyalty", "Loyalty", "Buys again and again while satisfied.", [
        [regular, c(Metric.NPS, GTE, 7)],
        [regular, c(Metric.REVIEW_COUNT, GTE, 1), c(Metric.AVERAGE_RATING, GTE, 4)],
      ]),
      stage("word_of_mouth", "Word of mouth", "A loyal customer who spreads the word.", [
        [regular, c(Metric.REFERRAL_COUNT, GTE, 1)],
        [regular, c(Metric.SOCIAL_SHARE_COUNT, GTE, 2)],
      ]),
    ],
  };
}

function funnel7(): Ladder {
  const regular = c(Metric.PURCHASE_COUNT, GTE, 3, 365);
  return {
    stages: [
      stage("awareness", "Awareness", "Knows the brand."),
      stage("interest", "Interest", "Has visited.", [[c(Metric.VISIT_COUNT, GTE, 1)], [c(Metric.PRODUCT_VIEW_COUNT, GTE, 1)]]),
      stage("consideration", "Consideration", "Compares: three or more product views or visits.", [
        [c(Metric.PRODUCT_VIEW_COUNT, GTE, 3)],
        [c(Metric.VISIT_COUNT, GTE, 3)],
      ]),
      stage("purchase", "Purchase", "Has bought.", [[bought]]),
      stage("satisfaction", "Satisfaction", "Bought and is satisfied: NPS 7+ or a 4+ star review.", [
        [bought, c(Metric.NPS, GTE, 7)],
        [bought, c(Metric.REVIEW_COUNT, GTE, 1), c(Metric.AVERAGE_RATING, GTE, 4)],
      ]),
      stage("loyalty", "Loyalty", "Buys regularly: three or more purchases in the last year.", [[regular]]),
      stage("advocacy", "Advocacy", "A loyal customer who recommends: a referral or an NPS of 9+.", [
        [regular, c(Metric.REFERRAL_COUNT, GTE, 1)],
        [regular, c(Metric.NPS, GTE, 9)],
      ]),
    ],
  };
}

export const LADDER_PRESETS: Readonly<Record<string, () => Ladder>> = {
  "fourweekmba-5": fourweekmba5,
  "griffin-7": griffin7,
  "trust-6": trust6,
  "funnel-7": funnel7,
};

export function presetLadder(key: string): Ladder | undefined {
  const make = LADDER_PRESETS[key];
  return make ? make() : undefined;
}
