/** GraphQL names and descriptions of the enums shared by several modules. */
import { registerEnumType } from "type-graphql";
import { Comparator, Metric } from "../domain/ladder/ladder.types";
import { TouchpointType } from "../modules/program/earning";
import { Role } from "../modules/auth/actor";

registerEnumType(Metric, {
  name: "Metric",
  description: "What a stage criterion measures about a customer. Counts, amounts and ratings accept windowDays.",
  valuesConfig: {
    PURCHASE_COUNT: { description: "Purchases not fully refunded." },
    PURCHASE_AMOUNT: { description: "Amount bought, net of refunds, in the program's currency units." },
    DAYS_SINCE_LAST_PURCHASE: { description: "Whole days since the latest purchase; none for a customer who never bought." },
    AVERAGE_RATING: { description: "Average review rating (1-5)." },
    NPS: {
      description:
        "The latest Net Promoter answer (0-10): the NPS question of a survey response (submitSurveyResponse), or a SURVEY_RESPONSE touchpoint with data.nps.",
    },
    LIFETIME_POINTS: { description: "Points ever earned (not reduced by spending)." },
    TENURE_DAYS: { description: "Whole days since the customer joined the program." },
  },
});
registerEnumType(Comparator, { name: "Comparator", description: "How a criterion compares the value seen with its value." });
registerEnumType(TouchpointType, { name: "TouchpointType", description: "Kinds of customer interaction a partner app or storefront reports." });
registerEnumType(Role, {
  name: "Role",
  description: "What an API key may do in its program.",
  valuesConfig: {
    ADMIN: { description: "Internal tools: configure the program, read everything, subscribe to every event." },
    PARTNER: { description: "Partner apps (POS, e-shop, review site): record touchpoints, upsert and read customers, issue customer tokens." },
    STOREFRONT: { description: "Headless storefronts: read public program data; with a customer token, act for that customer." },
  },
});
