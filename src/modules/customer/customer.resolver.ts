import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { RequestContext } from "../../context";
import { BadInput, NotFound, Unauthenticated } from "../../api/errors";
import { checkFirst, ConnectionType, decodeCursor, toConnection } from "../../api/connection";
import { customerKey } from "../../api/loaders";
import { uuidArg } from "../../api/ids";
import { nextStage } from "../../domain/ladder/ladder.engine";
import { boundProgram } from "../auth/actor";
import { eraseCustomer } from "./erasure";
import { Stage } from "../program/program.types";
import { stageOf } from "../program/program.config";
import { LedgerEntry, ledgerEntryFromRow, Touchpoint, touchpointFromRow } from "../touchpoint/touchpoint.types";
import { metricReader } from "./customer.metrics";
import { UpsertCustomerInput } from "./customer.inputs";
import { Customer, CustomerMetrics, ExpiringPoints, NextStage, PointLot, pointLotFromRow, Points, StageTransition } from "./customer.types";
import { LifecyclePhase } from "../../domain/value/lifecycle";
import "./lifecycle.types"; // registers LifecyclePhase, the type of the customers(lifecycle:) argument

export const CustomerConnection = ConnectionType(Customer, "Customer");
export const TouchpointConnection = ConnectionType(Touchpoint, "Touchpoint");
export const LedgerConnection = ConnectionType(LedgerEntry, "LedgerEntry");

@Resolver(() => Customer)
export class CustomerResolver {
  @Query(() => Customer, { nullable: true, description: "One customer, by id, or by externalId within programId." })
  async customer(
    @Ctx() ctx: RequestContext,
    @Arg("id", () => ID, { nullable: true }) id?: string,
    @Arg("programId", () => ID, { nullable: true }) programId?: string,
    @Arg("externalId", () => String, { nullable: true }) externalId?: string,
  ): Promise<Customer | null> {
    // The policy (CUSTOMER_REF) found the customer and checked the credential on it.
    if (id) {
      const customer = await ctx.app.customers.byId(ctx, uuidArg(id, "id"));
      return customer && (!programId || customer.programId === programId.toLowerCase()) ? customer : null;
    }
    const program = programId ? uuidArg(programId, "programId") : boundProgram(ctx.actor);
    if (!program || !externalId) throw new BadInput("id", "give id, or externalId (with programId)");
    return ctx.app.customers.byExternalId(ctx, program, externalId);
  }

  @Query(() => CustomerConnection, { description: "A program's customers, optionally on one stage and in one lifecycle phase, as a Relay connection." })
  async customers(
    @Ctx() ctx: RequestContext,
    @Arg("programId", () => ID) programId: string,
    @Arg("stage", () => String, { nullable: true, description: "A stage key." }) stage?: string,
    @Arg("lifecycle", () => LifecyclePhase, { nullable: true, description: "Only customers in this lifecycle phase now (Customer.lifecycle)." })
    lifecycle?: LifecyclePhase,
    @Arg("first", () => Int, { defaultValue: 20, description: "At most 200." }) first = 20,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ) {
    const program = uuidArg(programId, "programId");
    const config = await ctx.app.programs.config(program);
    if (stage && !config.stageByKey.has(stage)) throw new BadInput("stage", `no stage "${stage}" in this program's ladder`);
    const cursor = decodeCursor(after);
    if (cursor !== null) uuidArg(cursor, "after");
    return ctx.app.customers.list(
      ctx,
      program,
      { stage: stage ?? null, lifecycle: lifecycle ?? null, valuePolicy: config.valuePolicy },
      checkFirst(first),
      cursor,
    );
  }

  @Query(() => Customer, { description: "The customer of the customer token in use." })
  async me(@Ctx() ctx: RequestContext): Promise<Customer> {
    if (ctx.actor.kind !== "customer") throw new Unauthenticated("me needs a customer token"); // the policy let only a token through
    const customer = await ctx.app.customers.byId(ctx, ctx.actor.customerId);
    if (!customer) throw new NotFound("Customer", "token");
    if (customer.erasedAt) throw new Unauthenticated("this customer was erased");
    return customer;
  }

  @Mutation(() => Customer, {
    description:
      "Erases a customer, the right to be forgotten (ADMIN): email, name, attributes and the partner's id (then erased:<id>) are cleared, and every touchpoint's data and request hash; the ledger, points, counters and stage history stay, anonymous. The customer takes no new record after (NOT_FOUND), its partner id sent again is a new customer, and a CUSTOMER_ERASED event tells subscribed systems. Erasing again changes nothing.",
  })
  async eraseCustomer(@Arg("customerId", () => ID) customerId: string, @Ctx() ctx: RequestContext): Promise<Customer> {
    const id = uuidArg(customerId, "customerId");
    const found = await ctx.app.customers.byId(ctx, id);
    if (!found) throw new NotFound("Customer", "customerId");
    const erased = await eraseCustomer(ctx, found.programId, id);
    if (!erased) throw new NotFound("Customer", "customerId");
    ctx.log.info({ programId: found.programId, customerId: id }, "customer erased");
    return erased;
  }

  @Mutation(() => Customer, { description: "Creates a customer or updates one, matched by externalId." })
  async upsertCustomer(@Arg("input") input: UpsertCustomerInput, @Ctx() ctx: RequestContext): Promise<Customer> {
    const programId = uuidArg(input.programId, "programId");
    const config = await ctx.app.programs.config(programId);
    return ctx.app.customers.upsert(ctx, config, input);
  }

  @FieldResolver(() => Stage, { description: "The stage the customer stands on." })
  async stage(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<Stage> {
    const config = await ctx.app.programs.config(customer.programId);
    return config.stageByKey.get(customer.stageKey) ?? config.bottom;
  }

  @FieldResolver(() => Points)
  points(@Root() customer: Customer): Points {
    return {
      balance: Number(customer.row.balance),
      pending: Number(customer.row.pending_points),
      lifetime: Number(customer.row.lifetime_points),
    };
  }

  @FieldResolver(() => [PointLot], {
    description: "Lots still holding points, pending or spendable, those expiring first first (spending uses them in this order).",
  })
  async pointLots(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<PointLot[]> {
    return (await ctx.loaders.openLots.load(customerKey(customer.programId, customer.id))).map(pointLotFromRow);
  }

  @FieldResolver(() => [ExpiringPoints], { description: "Spendable points that expire within the next `withinDays` days, by expiry time." })
  async expiringPoints(
    @Root() customer: Customer,
    @Arg("withinDays", () => Int, { defaultValue: 30 }) withinDays: number,
    @Ctx() ctx: RequestContext,
  ): Promise<ExpiringPoints[]> {
    if (!Number.isInteger(withinDays) || withinDays < 0 || withinDays > 3650) throw new BadInput("withinDays", "withinDays is 0 to 3650");
    const until = ctx.now.getTime() + withinDays * 86_400_000;
    const byTime = new Map<number, number>();
    for (const lot of await ctx.loaders.openLots.load(customerKey(customer.programId, customer.id))) {
      if (lot.status !== "ACTIVE" || !lot.expires_at) continue;
      const at = new Date(lot.expires_at).getTime();
      if (at > until) continue;
      byTime.set(at, (byTime.get(at) ?? 0) + Number(lot.remaining));
    }
    return [...byTime].sort((a, b) => a[0] - b[0]).map(([at, points]) => ({ points, expiresAt: new Date(at) }));
  }

  @FieldResolver(() => CustomerMetrics, { description: "The lifetime counters the ladder reads." })
  metrics(@Root() customer: Customer): CustomerMetrics {
    const r = customer.row;
    return {
      purchaseCount: r.purchase_count,
      purchaseAmount: Number(r.purchase_amount),
      firstPurchaseAt: r.first_purchase_at,
      lastPurchaseAt: r.last_purchase_at,
      reviewCount: r.review_count,
      averageRating: r.review_count > 0 ? r.rating_sum / r.review_count : null,
      referralCount: r.referral_count,
      socialShareCount: r.social_share_count,
      visitCount: r.visit_count,
      productViewCount: r.product_view_count,
      supportContactCount: r.support_contact_count,
      eventAttendanceCount: r.event_attendance_count,
      nps: r.nps,
    };
  }

  @FieldResolver(() => [StageTransition], { description: "Every stage move, oldest first, each with its reason." })
  async stageHistory(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<StageTransition[]> {
    const [rows, config] = await Promise.all([
      ctx.loaders.stageHistory.load(customerKey(customer.programId, customer.id)),
      ctx.app.programs.config(customer.programId),
    ]);
    return rows.map((r) => ({
      id: String(r.id),
      from: r.from_key ? stageOf(config, r.from_key) : null,
      to: stageOf(config, r.to_key),
      at: r.at,
      cause: r.cause,
      touchpointId: r.touchpoint_id === null ? null : String(r.touchpoint_id),
      reason: r.reason,
    }));
  }

  @FieldResolver(() => NextStage, { nullable: true, description: "The next rung up and what is missing to reach it; null at the top." })
  async nextStage(@Root() customer: Customer, @Ctx() ctx: RequestContext): Promise<NextStage | null> {
    const config = await ctx.app.programs.config(customer.programId);
    const windows = await ctx.loaders.windows.load(customerKey(customer.programId, customer.id));
    const next = nextStage(config.ladder, customer.stageKey, metricReader(customer.row, windows, ctx.now));
    if (!next) return null;
    return {
      stage: config.stageByKey.get(next.stage.key)!,
      pathIndex: next.pathIndex,
      requirements: next.requirements.map((r) => ({ ...r, criterion: { ...r.criterion, windowDays: r.criterion.windowDays ?? null } })),
    };
  }

  @FieldResolver(() => TouchpointConnection, { description: "The customer's touchpoints, newest first." })
  async touchpoints(
    @Root() customer: Customer,
    @Ctx() ctx: RequestContext,
    @Arg("first", () => Int, { defaultValue: 20 }) first = 20,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ) {
    const before = this.idCursor(after);
    const rows = await ctx.loaders.touchpoints(checkFirst(first), before).load(customerKey(customer.programId, customer.id));
    return toConnection(rows.map(touchpointFromRow), first, (t) => t.id, before !== null);
  }

  @FieldResolver(() => LedgerConnection, { description: "The customer's ledger entries, newest first." })
  async ledger(
    @Root() customer: Customer,
    @Ctx() ctx: RequestContext,
    @Arg("first", () => Int, { defaultValue: 20 }) first = 20,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ) {
    const before = this.idCursor(after);
    const rows = await ctx.loaders.ledger(checkFirst(first), before).load(customerKey(customer.programId, customer.id));
    return toConnection(rows.map(ledgerEntryFromRow), first, (e) => e.id, before !== null);
  }

  private idCursor(after: string | undefined): string | null {
    const cursor = decodeCursor(after);
    if (cursor !== null && !/^\d{1,18}$/.test(cursor)) throw new BadInput("after", "not a cursor from this API");
    return cursor;
  }
}
