/** The GraphQL types of a customer's value and loyalty scores (rules in domain/value/customer-value.ts). */
import { Field, Float, Int, ObjectType, registerEnumType } from "type-graphql";
import { ATTITUDINAL_HIGH, BEHAVIORAL_HIGH, DEFAULT_VALUE_POLICY, LoyaltyQuadrant, RfmSegment } from "../../domain/value/customer-value";

registerEnumType(LoyaltyQuadrant, {
  name: "LoyaltyQuadrant",
  description: `Where behaviour (how recently and often the customer buys) meets attitude (what they say). Behaviour is high from ${BEHAVIORAL_HIGH}, attitude from ${ATTITUDINAL_HIGH}.`,
  valuesConfig: {
    NONE: { description: "Low behaviour, low attitude: no loyalty yet." },
    INERTIA: { description: "High behaviour, low attitude: buys out of habit." },
    MERCENARY: {
      description: "High behaviour, low attitude, and redeemed a reward in the last year: bought with rewards, and a better offer elsewhere takes them.",
    },
    LATENT: { description: "Low behaviour, high attitude: likes the brand but does not buy (much)." },
    COMMITTED: { description: "High behaviour, high attitude." },
    FANATICAL: { description: "High behaviour, high attitude, and brings others: has referred someone or shared." },
  },
});

registerEnumType(RfmSegment, {
  name: "RfmSegment",
  description: "Where a buyer's RFM recency (R) and frequency (F) scores place them.",
  valuesConfig: {
    CHAMPIONS: { description: "R 4-5, F 4-5: bought recently and often. Reward them; they are who advocates come from." },
    LOYAL: { description: "R 3, F 4-5: buy often, a little less recently." },
    POTENTIAL_LOYALISTS: { description: "R 4-5, F 2-3: recent, on their way to buying often (retention)." },
    NEW_CUSTOMERS: { description: "R 4-5, F 1: a recent first purchase (engagement)." },
    NEEDS_ATTENTION: { description: "R 3, F 1-3: neither recent nor frequent yet." },
    AT_RISK: { description: "R 1-2, F 3-5: bought often, but not for a while: win them back before they lapse." },
    HIBERNATING: { description: "R 1-2, F 1-2: bought little, long ago (reactivation)." },
  },
});

@ObjectType({
  description:
    "Recency, frequency and monetary value, each scored 1-5 by the fifth of the program's buyers (every customer with a purchase) the customer falls in, by mid-rank: 5 is the best fifth, customers tied on a value share a score, and a lone buyer scores 3. The buyers' percentiles are cached for about 5 minutes. A fully refunded order does not count; monetary is net of refunds.",
})
export class Rfm {
  @Field(() => Int, { description: "1-5: 5 is the fifth of buyers who bought most recently." })
  recency: number;

  @Field(() => Int, { description: "1-5: 5 is the fifth of buyers with the most purchases." })
  frequency: number;

  @Field(() => Int, { description: "1-5: 5 is the fifth of buyers who spent most, net of refunds." })
  monetary: number;

  @Field({ description: 'The three scores as one code, recency first: "555" is a best customer, "155" a big spender who stopped buying.' })
  score: string;

  @Field(() => RfmSegment, { description: "The segment the recency and frequency scores place the customer in." })
  segment: RfmSegment;

  @Field(() => Int)
  daysSinceLastPurchase: number;

  @Field(() => Int)
  purchaseCount: number;

  @Field(() => Float, { description: "Net of refunds." })
  purchaseAmount: number;
}

@ObjectType({ description: "Two-dimensional loyalty: behaviour against attitude, and the quadrant they place the customer in." })
export class Loyalty {
  @Field(() => Float, { description: "0-100: the mean of the RFM recency and frequency scores (1 → 0, 5 → 100); 0 before the first purchase." })
  behavioral: number;

  @Field(() => Float, {
    nullable: true,
    description:
      "0-100: the mean of what the customer said: their latest survey response (the mean of its NPS, CSAT, EFFORT and AGREEMENT answers, each on 0-100), or without one their latest NPS answer (0-10 → 0-100); the average review rating (1-5 → 0-100); and advocacy (100 once they have referred someone or shared). Null without any of these (attitude then counts as low).",
  })
  attitudinal: number | null;

  @Field(() => LoyaltyQuadrant)
  quadrant: LoyaltyQuadrant;
}

export const CLV_DESCRIPTION =
  `Estimated customer lifetime value, in the program's currency: net spend so far, plus, for a customer who bought less than valuePolicy.activeDays ago (${DEFAULT_VALUE_POLICY.activeDays} by default), ` +
  `valuePolicy.horizonYears (${DEFAULT_VALUE_POLICY.horizonYears}) more years at their average annual spend (net spend over the years since their first purchase, at least one).`;
