/** The GraphQL types of a customer's lifecycle phase (rules in domain/value/lifecycle.ts). */
import { Field, Float, ObjectType, registerEnumType } from "type-graphql";
import { LAST_CALL_DAYS, Lifecycle, LifecyclePhase, MATURITY_AFTER_DAYS, MIN_OVERDUE_DAYS, OVERDUE_FACTOR, RHYTHM_DAYS } from "../../domain/value/lifecycle";
import { DEFAULT_VALUE_POLICY } from "../../domain/value/customer-value";

const { activeDays, firstRepeatDays } = DEFAULT_VALUE_POLICY;

registerEnumType(LifecyclePhase, {
  name: "LifecyclePhase",
  description:
    "Where a customer is in their lifecycle, from their purchases and the clock; the first phase that applies, in this order: CONTACT, CHURNED, DECLINE, ACQUISITION, GROWTH, MATURITY.",
  valuesConfig: {
    CONTACT: { description: "No purchase yet: known (a visit, a review, a signup), not acquired (engagement)." },
    ACQUISITION: { description: `One purchase, in the last valuePolicy.firstRepeatDays (${firstRepeatDays} by default): the next step is the second one.` },
    GROWTH: { description: `Buys again, on schedule, within ${MATURITY_AFTER_DAYS} days of the first purchase (retention).` },
    MATURITY: { description: `Buys again, on schedule, for more than ${MATURITY_AFTER_DAYS} days (delight, advocacy).` },
    DECLINE: {
      description: `Overdue: no purchase for ${OVERDUE_FACTOR} times the customer's own average gap between purchases (at least ${MIN_OVERDUE_DAYS} days), or for valuePolicy.firstRepeatDays (${firstRepeatDays}) while their purchases span less than ${RHYTHM_DAYS} days (one purchase, or a few close together); and in any case from ${LAST_CALL_DAYS} days before churning. Win them back now.`,
    },
    CHURNED: { description: `No purchase for valuePolicy.activeDays (${activeDays} by default): gone, as CLV counts them (reactivation).` },
  },
});

@ObjectType({
  description:
    "Where the customer is in their lifecycle (contact → acquisition → growth → maturity → decline → churned), and when they move on without another purchase.",
})
export class CustomerLifecycle {
  @Field(() => LifecyclePhase)
  phase: LifecyclePhase;

  @Field({ description: 'Why, with the figures the rule read (e.g. "3 purchases, one every 30 days on average; none for 75 days (overdue from 60)").' })
  reason: string;

  @Field(() => Float, {
    nullable: true,
    description: "Repeat buyers: the average gap between their purchases, in days (first to last purchase, over the purchases less one).",
  })
  averageDaysBetweenPurchases: number | null;

  @Field(() => Date, { nullable: true, description: "Repeat buyers: their last purchase plus their average gap: when a reminder is due." })
  expectedNextPurchaseAt: Date | null;

  @Field(() => Date, { nullable: true, description: "When the customer is in DECLINE if they buy nothing before; null before a first purchase." })
  declineAt: Date | null;

  @Field(() => Date, { nullable: true, description: "When the customer is CHURNED if they buy nothing before; null before a first purchase." })
  churnAt: Date | null;
}

export function customerLifecycleOf(lifecycle: Lifecycle): CustomerLifecycle {
  const { averageGapMs, ...rest } = lifecycle;
  return { ...rest, averageDaysBetweenPurchases: averageGapMs === null ? null : Math.round((averageGapMs / 86_400_000) * 10) / 10 };
}
