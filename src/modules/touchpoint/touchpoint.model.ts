import { StageReason } from "../../domain/ladder/ladder.types";
import { Customer } from "../customer/customer.types";
import { Stage } from "../program/program.types";
import { AppliedRule, TouchpointType } from "../program/earning";
import { Touchpoint } from "./touchpoint.types";

/** A touchpoint as the write path takes it, whichever record mutation it came from. */
export interface TouchpointRecord {
  programId: string;
  customerId?: string;
  customerExternalId?: string;
  type: TouchpointType;
  /** The idempotency key (orderId, refundId, reviewId, externalId). */
  externalId: string;
  /** The input field that carried the key, named in errors. */
  keyField: string;
  occurredAt: Date;
  channel?: string | null;
  amount: number | null;
  currency?: string | null;
  rating?: number | null;
  productId?: string | null;
  relatedExternalId?: string | null;
  data?: Record<string, unknown> | null;
  nps?: number | null;
  /** The request as the client sent it: hashed to tell a retry from a reused key. */
  hashed: unknown;
}

export interface StageMove {
  id: string;
  from: Stage | null;
  to: Stage;
  at: Date;
  cause: string;
  touchpointId: string | null;
  reason: StageReason;
}

export interface RecordResult {
  touchpoint: Touchpoint;
  pointsEarned: number;
  /** Of pointsEarned, what is held pending (the program's return window). */
  pointsPending: number;
  /** Every rule that gave points, in the order they ran. */
  appliedRules: AppliedRule[];
  /** For a refund: points it could not take back (overdraft policy CLAMP_AT_ZERO). */
  pointsShortfall?: number;
  customer: Customer;
  stageChange: StageMove | null;
  replayed: boolean;
}
