/**
 * Who may call what, in one place: a policy for every root operation (Query, Mutation,
 * Subscription) and every field resolver, keyed "Type.field". authorize.ts enforces them, before
 * the resolver runs and before its arguments are validated; resolvers do not check credentials.
 * test/unit/policies.test.ts fails for an operation or field resolver missing here, and for an
 * entry naming a field or an argument that does not exist; test/e2e/authorization-matrix.test.ts
 * calls every operation with every kind of credential and checks the answer against this table.
 *
 * Who (`allow`):
 *   ROOT        the LOYALTY_ADMIN_KEY bootstrap credential (it is also ADMIN of every program)
 *   ADMIN, PARTNER, STOREFRONT   an API key of that role in the program
 *   CUSTOMER    a customer token of the program, whichever customer it is for
 *   SELF        a customer token of the program, for its own customer only (see `self`)
 *
 * The program (`program`), where the credential must hold one of those roles:
 *   { arg }       an argument ("programId", "input.programId"): another program's credential is FORBIDDEN
 *   { row, id }   the program of a row found by the id in an argument: a missing row and another
 *                 program's row are alike NOT_FOUND (or null with `hidden: "null"`), so ids cannot
 *                 be probed; a credential of the row's program without the role is FORBIDDEN
 *   { parent }    a field of an object already read: the program is the parent's (Customer.programId)
 *   CUSTOMER_REF  Query.customer: by id, or by externalId in programId (or the credential's program)
 *   CREDENTIAL    no program named: the resolver serves the credential's own (programs, me)
 *   ANY_PROGRAM   none: only ROOT, which holds every program (createProgram)
 *   INHERIT       (field resolvers only) whoever could read the parent object reads this field
 *
 * Every check first refuses no credential (UNAUTHENTICATED), then a credential whose kind or role
 * is in no `allow` (FORBIDDEN, or the policy's `refuse`), before any row is looked up. A bad
 * credential (unknown, forged, expired, revoked, an erased customer's token) never gets here:
 * AuthService.authenticate refuses it when the request starts.
 */
export type Who = "ROOT" | "ADMIN" | "PARTNER" | "STOREFRONT" | "CUSTOMER" | "SELF";

/** Rows an operation may name by id alone; `entity` names them in NOT_FOUND. */
export const ROWS = {
  customer: { table: "customers", entity: "Customer" },
  reward: { table: "rewards", entity: "Reward" },
  redemption: { table: "redemptions", entity: "Redemption" },
  survey: { table: "surveys", entity: "Survey" },
  webhook: { table: "webhooks", entity: "Webhook" },
  rewardTrigger: { table: "reward_triggers", entity: "RewardTrigger" },
  stageReward: { table: "stage_rewards", entity: "StageReward" },
} as const;
export type RowKind = keyof typeof ROWS;

export const CUSTOMER_REF = "CUSTOMER_REF";
export const CREDENTIAL = "CREDENTIAL";
export const ANY_PROGRAM = "ANY_PROGRAM";
export const INHERIT = "INHERIT";

export type ProgramSource =
  | { arg: string }
  /** `field` names the argument in NOT_FOUND and BAD_USER_INPUT (default: the path's last part). */
  | { row: RowKind; id: string; field?: string; hidden?: "null" }
  | { parent: "programId" }
  | typeof CUSTOMER_REF
  | typeof CREDENTIAL
  | typeof ANY_PROGRAM;

export interface Policy {
  allow: Who[];
  program: ProgramSource;
  /**
   * With SELF: the argument naming the customer a token may act for only if it is its own. Absent
   * and `optional`, the token acts for itself; `refuse` lists arguments a token may not use at all
   * (a partner's external id). Without `self`, SELF is the customer the program source found.
   */
  self?: { path: string; optional?: boolean; refuse?: string[] };
  /** What a credential of a kind not allowed at all gets, when not FORBIDDEN. */
  refuse?: "UNAUTHENTICATED";
}

export type FieldPolicy = Policy | typeof INHERIT;

const READERS: Who[] = ["ADMIN", "PARTNER", "STOREFRONT", "CUSTOMER"];
const WRITERS: Who[] = ["ADMIN", "PARTNER"];
const ADMIN: Who[] = ["ADMIN"];

const byArg = (arg: string) => ({ arg });
const PROGRAM_ID = byArg("programId");
const INPUT_PROGRAM_ID = byArg("input.programId");

export const POLICIES: Record<string, FieldPolicy> = {
  // Programs and their configuration
  "Query.programs": { allow: READERS, program: CREDENTIAL },
  "Query.program": { allow: READERS, program: byArg("id") },
  "Mutation.createProgram": { allow: ["ROOT"], program: ANY_PROGRAM },
  "Mutation.updateLadder": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.recomputeStages": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.setEarningRules": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.setPointsPolicy": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.setValuePolicy": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.setTiers": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.runTierReview": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.runPointsLifecycle": { allow: ADMIN, program: PROGRAM_ID },

  // Credentials
  "Query.apiKeys": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.createApiKey": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.revokeApiKey": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.issueCustomerToken": { allow: WRITERS, program: { row: "customer", id: "customerId" } },

  // Customers
  "Query.customer": { allow: ["ADMIN", "PARTNER", "SELF"], program: CUSTOMER_REF },
  "Query.customers": { allow: WRITERS, program: PROGRAM_ID },
  // A key asking for `me` has no customer: UNAUTHENTICATED ("me needs a customer token"), as before.
  "Query.me": { allow: ["SELF"], program: CREDENTIAL, refuse: "UNAUTHENTICATED" },
  "Mutation.upsertCustomer": { allow: WRITERS, program: INPUT_PROGRAM_ID },
  "Mutation.eraseCustomer": { allow: ADMIN, program: { row: "customer", id: "customerId" } },
  "Mutation.setCustomerTier": { allow: ADMIN, program: { row: "customer", id: "customerId" } },

  // Touchpoints, points, referrals
  "Mutation.recordPurchase": { allow: WRITERS, program: INPUT_PROGRAM_ID },
  "Mutation.recordRefund": { allow: WRITERS, program: INPUT_PROGRAM_ID },
  "Mutation.recordReview": { allow: WRITERS, program: INPUT_PROGRAM_ID },
  "Mutation.recordTouchpoint": { allow: WRITERS, program: INPUT_PROGRAM_ID },
  "Mutation.recordReferral": { allow: WRITERS, program: INPUT_PROGRAM_ID },
  "Mutation.adjustPoints": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.transferPoints": { allow: ["ADMIN", "PARTNER", "SELF"], program: INPUT_PROGRAM_ID, self: { path: "input.fromCustomerId" } },

  // Rewards
  "Query.reward": { allow: READERS, program: { row: "reward", id: "id", field: "rewardId" } },
  "Mutation.createReward": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.setRewardActive": { allow: ADMIN, program: { row: "reward", id: "rewardId" } },
  "Mutation.addRewardCoupons": { allow: ADMIN, program: { row: "reward", id: "rewardId" } },
  "Mutation.redeemReward": { allow: ["ADMIN", "PARTNER", "SELF"], program: { row: "reward", id: "input.rewardId" }, self: { path: "input.customerId" } },
  "Mutation.useCoupon": { allow: WRITERS, program: PROGRAM_ID },
  "Mutation.cancelRedemption": { allow: WRITERS, program: { row: "redemption", id: "id" } },
  "Mutation.createRewardTrigger": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.setRewardTriggerActive": { allow: ADMIN, program: { row: "rewardTrigger", id: "triggerId" } },
  "Mutation.createStageReward": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.setStageRewardActive": { allow: ADMIN, program: { row: "stageReward", id: "stageRewardId" } },

  // Surveys: another program's survey reads as none (null), as a missing one does.
  "Query.survey": { allow: READERS, program: { row: "survey", id: "id", hidden: "null" } },
  "Mutation.createSurvey": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.setSurveyActive": { allow: ADMIN, program: { row: "survey", id: "surveyId" } },
  // A token answers for its own customer: by customerId or by naming none, never by a partner's id.
  "Mutation.submitSurveyResponse": {
    allow: ["ADMIN", "PARTNER", "SELF"],
    program: { row: "survey", id: "input.surveyId" },
    self: { path: "input.customerId", optional: true, refuse: ["input.customerExternalId"] },
  },

  // Analytics
  "Query.valueSegments": { allow: ADMIN, program: PROGRAM_ID },
  "Query.customerLifecycle": { allow: ADMIN, program: PROGRAM_ID },
  "Query.ladderFunnel": { allow: ADMIN, program: PROGRAM_ID },
  "Mutation.setSegmentGoal": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.clearSegmentGoal": { allow: ADMIN, program: PROGRAM_ID },

  // Webhooks
  "Query.webhooks": { allow: ADMIN, program: PROGRAM_ID },
  "Query.webhookDeliveries": { allow: ADMIN, program: { row: "webhook", id: "webhookId" } },
  "Mutation.createWebhook": { allow: ADMIN, program: INPUT_PROGRAM_ID },
  "Mutation.setWebhookActive": { allow: ADMIN, program: { row: "webhook", id: "webhookId" } },
  "Mutation.deleteWebhook": { allow: ADMIN, program: { row: "webhook", id: "webhookId" } },
  "Mutation.redeliverWebhookDelivery": { allow: ADMIN, program: { row: "webhook", id: "webhookId" } },
  "Mutation.testWebhook": { allow: ADMIN, program: { row: "webhook", id: "webhookId" } },

  // Live events: a program's feed, or one customer's (that customer's token too).
  "Subscription.stageChanged": { allow: ["ADMIN", "PARTNER", "SELF"], program: PROGRAM_ID, self: { path: "customerId" } },
  "Subscription.rewardEvents": { allow: ["ADMIN", "PARTNER", "SELF"], program: PROGRAM_ID, self: { path: "customerId" } },
  "Subscription.loyaltyEvents": { allow: ADMIN, program: PROGRAM_ID },

  // Internal figures about a customer (a member should not read that they are "MERCENARY").
  "Customer.rfm": { allow: WRITERS, program: { parent: "programId" } },
  "Customer.clv": { allow: WRITERS, program: { parent: "programId" } },
  "Customer.lifecycle": { allow: WRITERS, program: { parent: "programId" } },
  "Customer.loyalty": { allow: WRITERS, program: { parent: "programId" } },

  // What whoever read the customer reads (ADMIN and PARTNER of its program, its own token).
  "Customer.stage": INHERIT,
  "Customer.points": INHERIT,
  "Customer.pointLots": INHERIT,
  "Customer.expiringPoints": INHERIT,
  "Customer.metrics": INHERIT,
  "Customer.stageHistory": INHERIT,
  "Customer.nextStage": INHERIT,
  "Customer.touchpoints": INHERIT,
  "Customer.ledger": INHERIT,
  "Customer.grants": INHERIT,
  "Customer.tier": INHERIT,
  "Customer.redemptions": INHERIT,
  // The program's public configuration: every credential of the program reads it.
  "Program.stages": INHERIT,
  "Program.earningRules": INHERIT,
  "Program.pointsPolicy": INHERIT,
  "Program.valuePolicy": INHERIT,
  "Program.tiers": INHERIT,
  "Program.tierPolicy": INHERIT,
  "Program.rewards": INHERIT,
  "Program.rewardTriggers": INHERIT,
  "Program.stageRewards": INHERIT,
  "Program.surveys": INHERIT,
  "StageReward.stage": INHERIT,
  // Reached only through valueSegments (ADMIN).
  "BestCustomers.top": INHERIT,
};
