/** Builds the GraphQL schema from the resolvers, and prints it as committed in schema/schema.graphql. */
import "reflect-metadata";
import "./api/enums";
import { GraphQLSchema, lexicographicSortSchema, printSchema } from "graphql";
import { GraphQLDateTime } from "graphql-scalars";
import { buildSchema } from "type-graphql";
import { validateArgument } from "./api/validation";
import { applyPolicies } from "./modules/auth/authorize";
import { FunnelResolver } from "./modules/analytics/funnel.resolver";
import { SegmentsResolver } from "./modules/analytics/segments.resolver";
import { LifecycleResolver } from "./modules/analytics/lifecycle.resolver";
import { ValuePolicyResolver } from "./modules/program/value-policy.resolver";
import { AuthResolver } from "./modules/auth/auth.resolver";
import { CustomerResolver } from "./modules/customer/customer.resolver";
import { CustomerValueResolver } from "./modules/customer/value.resolver";
import { ProgramSurveysResolver, SurveyResolver } from "./modules/surveys/survey.resolver";
import { EventsResolver } from "./modules/events/events.resolver";
import { ProgramResolver } from "./modules/program/program.resolver";
import { TouchpointResolver } from "./modules/touchpoint/touchpoint.resolver";
import { CustomerGrantsResolver, GrantResolver, ProgramTriggersResolver } from "./modules/grants/grant.resolver";
import { ProgramStageRewardsResolver, StageRewardResolver } from "./modules/grants/stage-reward.resolver";
import { CustomerTierResolver, ProgramTiersResolver, TierResolver } from "./modules/tiers/tier.resolver";
import { PointsResolver } from "./modules/points/points.resolver";
import { CustomerRedemptionsResolver, ProgramRewardsResolver, RewardResolver } from "./modules/rewards/reward.resolver";
import { WebhookResolver } from "./modules/webhooks/webhook.resolver";

let built: Promise<GraphQLSchema> | undefined;

export function getSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({
    resolvers: [
      ProgramResolver,
      CustomerResolver,
      CustomerValueResolver,
      SurveyResolver,
      ProgramSurveysResolver,
      TouchpointResolver,
      AuthResolver,
      FunnelResolver,
      SegmentsResolver,
      LifecycleResolver,
      ValuePolicyResolver,
      EventsResolver,
      RewardResolver,
      ProgramRewardsResolver,
      CustomerRedemptionsResolver,
      PointsResolver,
      ProgramTiersResolver,
      CustomerTierResolver,
      TierResolver,
      GrantResolver,
      ProgramTriggersResolver,
      CustomerGrantsResolver,
      StageRewardResolver,
      ProgramStageRewardsResolver,
      WebhookResolver,
    ],
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    // Subscriptions subscribe to the request's App bus themselves (`subscribe` option), since one
    // schema serves several Apps in tests; type-graphql still insists on a pubSub, which is never used.
    pubSub: {
      publish: () => {
        throw new Error("publish through App.bus");
      },
      subscribe: () => {
        throw new Error("subscribe through App.bus");
      },
    },
    validateFn: validateArgument,
  }).then((schema) => {
    // Who may call what (src/modules/auth/policies.ts), checked before any resolver runs.
    applyPolicies(schema);
    return schema;
  });
  return built;
}

/** The SDL as committed: sorted, so the file changes only when the API does. */
export async function printedSchema(): Promise<string> {
  return printSchema(lexicographicSortSchema(await getSchema())) + "\n";
}
