/**
 * Every entity: the data model, one class per table the migrations create (docs/architecture.md,
 * "Data model"). The `migrations` table is TypeORM's own bookkeeping and has none.
 */
import { OutboxEntity } from "../events/outbox.entity";
import { SegmentGoalEntity } from "../modules/analytics/segment-goal.entity";
import { ApiKeyEntity } from "../modules/auth/api-key.entity";
import { CustomerEntity } from "../modules/customer/customer.entity";
import { GrantEntity } from "../modules/grants/grant.entity";
import { ReferralEntity } from "../modules/grants/referral.entity";
import { RewardTriggerEntity } from "../modules/grants/reward-trigger.entity";
import { StageRewardEntity } from "../modules/grants/stage-reward.entity";
import { LedgerEntryEntity } from "../modules/points/ledger-entry.entity";
import { PointLotEntity } from "../modules/points/point-lot.entity";
import { PointOperationEntity } from "../modules/points/point-operation.entity";
import { EarningRuleEntity } from "../modules/program/earning-rule.entity";
import { ProgramEntity } from "../modules/program/program.entity";
import { RedemptionEntity } from "../modules/rewards/redemption.entity";
import { RewardCouponCodeEntity } from "../modules/rewards/reward-coupon-code.entity";
import { RewardEntity } from "../modules/rewards/reward.entity";
import { StageTransitionEntity } from "../modules/stage/stage-transition.entity";
import { StageEntity } from "../modules/stage/stage.entity";
import { SurveyEntity } from "../modules/surveys/survey.entity";
import { TierChangeEntity } from "../modules/tiers/tier-change.entity";
import { TierEntity } from "../modules/tiers/tier.entity";
import { TouchpointEntity } from "../modules/touchpoint/touchpoint.entity";
import { WebhookDeliveryEntity } from "../modules/webhooks/webhook-delivery.entity";
import { WebhookEntity } from "../modules/webhooks/webhook.entity";

export const ENTITIES = [
  ProgramEntity,
  StageEntity,
  EarningRuleEntity,
  TierEntity,
  CustomerEntity,
  TouchpointEntity,
  LedgerEntryEntity,
  PointLotEntity,
  PointOperationEntity,
  StageTransitionEntity,
  TierChangeEntity,
  RewardEntity,
  RedemptionEntity,
  RewardCouponCodeEntity,
  RewardTriggerEntity,
  StageRewardEntity,
  GrantEntity,
  ReferralEntity,
  SurveyEntity,
  SegmentGoalEntity,
  WebhookEntity,
  WebhookDeliveryEntity,
  ApiKeyEntity,
  OutboxEntity,
];
