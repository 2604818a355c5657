/**
 * What the chaos run proves, checked in SQL on the throwaway database against what the clients and
 * subscribers recorded: each order posted once, balances equal to ledgers, totals exact, no request
 * dropped, no event missed by a subscriber, clean exits.
 */
import { Client } from "pg";
import { ApiUnderTest } from "./api-under-test";
import { DROPPED, Order } from "./clients";
import { Fault } from "./faults";
import { Subscriber } from "./subscribers";

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

/** A subscriber's figures: events of its feed committed since it first received one, and what it got. */
export interface Delivery {
  name: string;
  expected: number;
  received: number;
  missing: bigint[];
  /** The same sequence twice on one connection. */
  duplicates: number;
  /** Received again after a reconnect (the resume starts after the last sequence seen; informative). */
  redelivered: number;
  /** Within one connection, an event of a customer after a later one of the same customer. */
  outOfOrder: number;
  reconnects: number;
  errors: string[];
}

/**
 * The fault whose window holds `at`, if any: from 1 s before it (an event written just before a kill
 * is published during it) to 2 s after it was restored (reconnecting clients and pools). Where two
 * windows meet, the later fault: one that starts right after another was restored is the news.
 */
export function faultAt(faults: Fault[], at: number): Fault | undefined {
  return faults.filter((f) => at >= f.startedAt - 1000 && at <= (f.restoredAt ?? Infinity) + 2000).at(-1);
}

/** Counts by key, largest first, as "key: n, key: n". */
export function tally(keys: string[]): string {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}: ${n}`)
    .join(", ");
}

/** The outbox sequences of the program's feed topics, with when they were written. */
export async function feedEvents(db: Client, programId: string, topics: readonly string[]): Promise<Array<{ id: bigint; at: number }>> {
  const { rows } = await db.query(`SELECT id::text, created_at FROM outbox WHERE program_id = $1 AND topic = ANY($2::text[]) ORDER BY id`, [
    programId,
    [...topics],
  ]);
  return rows.map((r) => ({ id: BigInt(r.id), at: new Date(r.created_at).getTime() }));
}

/** The newest outbox sequence of the program's feed topics, or null. */
export async function newestEvent(db: Client, programId: string, topics: readonly string[]): Promise<bigint | null> {
  const { rows } = await db.query(`SELECT max(id)::text AS id FROM outbox WHERE program_id = $1 AND topic = ANY($2::text[])`, [programId, [...topics]]);
  return rows[0].id === null ? null : BigInt(rows[0].id);
}

/** What went wrong for one subscriber, each event with when it was written (to tell which fault it met). */
export interface DeliveryDetail extends Delivery {
  missingAt: number[];
  duplicatesAt: number[];
  outOfOrderAt: number[];
}

/** Each subscriber against the outbox: every event of its feed from the first one it received on. */
export async function deliveries(db: Client, programId: string, subscribers: Subscriber[]): Promise<DeliveryDetail[]> {
  const byTopics = new Map<string, Array<{ id: bigint; at: number }>>();
  const result: DeliveryDetail[] = [];
  for (const s of subscribers) {
    const key = s.topics.join(",");
    if (!byTopics.has(key)) byTopics.set(key, await feedEvents(db, programId, s.topics));
    const feed = byTopics.get(key)!;
    const writtenAt = new Map(feed.map((e) => [e.id, e.at]));
    const first = s.received.length ? s.received.reduce((min, r) => (r.sequence < min ? r.sequence : min), s.received[0].sequence) : null;
    const expected = first === null ? [] : feed.filter((e) => e.id >= first);
    const got = new Set(s.received.map((r) => r.sequence));
    const missing = expected.filter((e) => !got.has(e.id));
    const duplicatesAt: number[] = [];
    const outOfOrderAt: number[] = [];
    const seenInSession = new Set<string>();
    const lastOfCustomer = new Map<string, bigint>();
    for (const r of s.received) {
      const k = `${r.session}:${r.sequence}`;
      // A second copy is a duplicate, not also an event out of order.
      if (seenInSession.has(k)) {
        duplicatesAt.push(writtenAt.get(r.sequence) ?? r.at);
        continue;
      }
      seenInSession.add(k);
      const c = `${r.session}:${r.customerId}`;
      if ((lastOfCustomer.get(c) ?? -1n) > r.sequence) outOfOrderAt.push(writtenAt.get(r.sequence) ?? r.at);
      else lastOfCustomer.set(c, r.sequence);
    }
    result.push({
      name: s.name,
      expected: expected.length,
      received: s.received.length,
      missing: missing.map((e) => e.id),
      missingAt: missing.map((e) => e.at),
      duplicates: duplicatesAt.length,
      duplicatesAt,
      redelivered: s.received.length - duplicatesAt.length - got.size,
      outOfOrder: outOfOrderAt.length,
      outOfOrderAt,
      reconnects: s.closes.length,
      errors: s.errors,
    });
  }
  return result;
}

export interface Verified {
  checks: Check[];
  deliveries: Delivery[];
  /** Figures the report prints besides the checks. */
  droppedCommitted: number;
  erroredCommitted: number;
}

export async function verify(
  db: Client,
  input: { programId: string; pointsPerUnit: number; orders: Order[]; subscribers: Subscriber[]; faults: Fault[]; faultsPlanned: number; api: ApiUnderTest },
): Promise<Verified> {
  const { programId, pointsPerUnit, orders, faults, api } = input;
  const checks: Check[] = [];
  const check = (name: string, pass: boolean, detail: string) => checks.push({ name, pass, detail });
  // A run whose faults did not all happen proves less than it says.
  const restored = faults.filter((f) => f.restoredAt !== undefined && !f.error).length;
  check(
    "every fault injected and recovered from",
    restored === input.faultsPlanned,
    `${restored} of ${input.faultsPlanned}${
      faults.some((f) => f.error)
        ? `; ${faults
            .filter((f) => f.error)
            .map((f) => `${f.label}: ${f.error}`)
            .join("; ")}`
        : ""
    }`,
  );
  const answered = orders.filter((o) => o.answeredAt !== undefined);
  const failed = orders.filter((o) => o.failed);
  check(
    "every order answered",
    failed.length === 0,
    `${answered.length} of ${orders.length} answered${failed.length ? `; not: ${tally(failed.map((o) => o.failed!.slice(0, 90)))}` : ""}`,
  );

  // Each order's touchpoint and the ledger entries posted for it.
  // ledger_entries has no index on touchpoint_id: one grouped pass, not a subquery per touchpoint.
  const { rows: posted } = await db.query(
    `WITH entries AS (
       SELECT touchpoint_id, count(*)::int AS entries, sum(amount)::float8 AS ledger
         FROM ledger_entries WHERE program_id = $1 AND touchpoint_id IS NOT NULL GROUP BY touchpoint_id)
     SELECT t.external_id, c.external_id AS customer, t.amount::float8 AS amount, coalesce(e.entries, 0) AS entries, coalesce(e.ledger, 0) AS ledger
       FROM touchpoints t JOIN customers c ON c.program_id = t.program_id AND c.id = t.customer_id
       LEFT JOIN entries e ON e.touchpoint_id = t.id
      WHERE t.program_id = $1 AND t.type = 'PURCHASE'`,
    [programId],
  );
  const byOrder = new Map<string, any[]>();
  for (const row of posted) byOrder.set(row.external_id, [...(byOrder.get(row.external_id) ?? []), row]);
  const ours = new Map(orders.map((o) => [o.id, o]));
  const missing = answered.filter((o) => !byOrder.has(o.id)).length;
  const twice = [...byOrder.values()].filter((rows) => rows.length > 1 || rows[0].entries !== 1).length;
  const unknown = [...byOrder.keys()].filter((id) => !ours.has(id)).length;
  const wrong = answered.filter((o) => {
    const row = byOrder.get(o.id)?.[0];
    return row && (row.customer !== o.customer || row.amount !== o.amount || Number(row.ledger) !== o.amount * pointsPerUnit);
  }).length;
  const unconfirmed = failed.filter((o) => byOrder.has(o.id)).length;
  check(
    "each order posted once",
    missing === 0 && twice === 0 && unknown === 0 && wrong === 0,
    `${posted.length} posted for ${answered.length} answered: ${missing} missing, ${twice} posted more than once, ${wrong} posted wrong, ${unknown} unknown; ${unconfirmed} posted but never confirmed to the client`,
  );

  // Balances against ledgers and point lots (the invariant tests check, here after crashes).
  const { rows: disagree } = await db.query(
    `SELECT c.id FROM customers c
      WHERE c.program_id = $1 AND (
        c.balance <> (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.program_id = c.program_id AND l.customer_id = c.id)
        OR greatest(c.balance, 0) <> (SELECT coalesce(sum(remaining), 0) FROM point_lots p WHERE p.program_id = c.program_id AND p.customer_id = c.id AND p.status = 'ACTIVE')
        OR c.pending_points <> (SELECT coalesce(sum(remaining), 0) FROM point_lots p WHERE p.program_id = c.program_id AND p.customer_id = c.id AND p.status = 'PENDING'))`,
    [programId],
  );
  const { rows: customers } = await db.query(
    `SELECT external_id, balance::float8 + pending_points::float8 AS points, purchase_count FROM customers WHERE program_id = $1`,
    [programId],
  );
  check(
    "balances equal ledgers",
    disagree.length === 0,
    `${customers.length} customers, ${disagree.length} whose balance or pending points differ from their ledger and lots`,
  );

  // Totals: what the orders answered OK (and those posted without an answer) earn, customer by customer.
  const expectedOf = new Map<string, { points: number; count: number }>();
  for (const o of orders) {
    if (!byOrder.has(o.id)) continue;
    const e = expectedOf.get(o.customer) ?? { points: 0, count: 0 };
    e.points += o.amount * pointsPerUnit;
    e.count += 1;
    expectedOf.set(o.customer, e);
  }
  const expectedTotal = [...expectedOf.values()].reduce((sum, e) => sum + e.points, 0);
  const {
    rows: [total],
  } = await db.query(`SELECT coalesce(sum(amount), 0)::float8 AS ledger FROM ledger_entries WHERE program_id = $1`, [programId]);
  const customerOff = customers.filter((c) => {
    const e = expectedOf.get(c.external_id) ?? { points: 0, count: 0 };
    return Number(c.points) !== e.points || c.purchase_count !== e.count;
  }).length;
  const answersOff = answered.filter((o) => o.pointsEarned !== o.amount * pointsPerUnit).length;
  check(
    "totals exact",
    Number(total.ledger) === expectedTotal && customerOff === 0 && answersOff === 0,
    `ledger ${Number(total.ledger)} points, orders earn ${expectedTotal}; ${customerOff} customers off in points or purchases, ${answersOff} answers with other points`,
  );

  // Dropped: the server had the request (connected) and never answered it.
  const drops = orders.flatMap((o) => o.attempts.filter((a) => DROPPED.has(a.outcome)));
  const where = drops.map((a) => faultAt(faults, a.endedAt)?.label ?? "no fault");
  const droppedCommitted = orders.filter((o) => o.replayed && o.attempts.some((a) => DROPPED.has(a.outcome))).length;
  const erroredCommitted = orders.filter((o) => o.replayed && !o.attempts.some((a) => DROPPED.has(a.outcome))).length;
  check(
    "no in-flight request dropped",
    drops.length === 0,
    drops.length ? `${drops.length} dropped (${tally(where)}), ${droppedCommitted} of their orders had been committed` : "0 dropped",
  );

  // A drain answers what it accepted: from the signal to the process's exit, no attempt may fail
  // other than by a refused connection (a reset, or an error answer such as Apollo's "received
  // during server shutdown").
  const signalled = faults.filter((f) => f.spec.kind === "sigterm");
  const cutShort = orders
    .flatMap((o) => o.attempts)
    .filter(
      (a) =>
        a.outcome !== "ok" &&
        a.outcome !== "refused" &&
        signalled.some((f) => a.endedAt >= f.startedAt && a.endedAt <= (f.exitedAt ?? f.restoredAt ?? Infinity) + 1000),
    );
  check(
    "SIGTERM: every request in flight answered",
    cutShort.length === 0,
    signalled.length === 0
      ? "no SIGTERM in this run"
      : cutShort.length
        ? `${cutShort.length} attempts failed while a process drained (${tally(cutShort.map((a) => a.outcome))})`
        : "0 failed while a process drained",
  );

  const delivered = await deliveries(db, programId, input.subscribers);
  const missed = delivered.reduce((n, d) => n + d.missing.length, 0);
  const missedWhere = delivered.flatMap((d) => d.missingAt.map((at) => faultAt(faults, at)?.label ?? "no fault"));
  const short = delivered.filter((d) => d.missing.length > 0);
  check(
    "no subscriber missing an event",
    // A subscription refused while the database was down is retried (the report lists such errors); what counts is what arrived.
    missed === 0 && delivered.every((d) => d.expected > 0),
    missed
      ? `${short.length} of ${delivered.length} subscribers missed ${missed} events (written during ${tally(missedWhere)})`
      : `${delivered.length} subscribers, none missed one`,
  );
  // Where an event went wrong: the fault during which it was written.
  const during = (ats: number[]) => tally(ats.map((at) => faultAt(faults, at)?.label ?? "no fault"));
  const duplicatesAt = delivered.flatMap((d) => d.duplicatesAt);
  check(
    "no event delivered twice",
    duplicatesAt.length === 0,
    duplicatesAt.length ? `${duplicatesAt.length} second copies on one connection (written during ${during(duplicatesAt)})` : "0 second copies",
  );
  const outOfOrderAt = delivered.flatMap((d) => d.outOfOrderAt);
  check(
    "events in order per customer",
    outOfOrderAt.length === 0,
    outOfOrderAt.length ? `${outOfOrderAt.length} events came after a later one of their customer (written during ${during(outOfOrderAt)})` : "0 out of order",
  );

  const unclean = signalled.filter((f) => f.exitCode !== 0);
  const unexpected = api.exits.filter((e) => !signalled.some((f) => f.pid === e.pid));
  check(
    "API processes exit 0 on SIGTERM, none dies",
    unclean.length === 0 && unexpected.length === 0,
    `${signalled.length} signalled: exit codes ${signalled.map((f) => f.exitCode ?? "unknown").join(", ") || "-"}; ${unexpected.length} other exits${unexpected.length ? ` (codes ${unexpected.map((e) => e.code).join(", ")})` : ""}`,
  );
  return { checks, deliveries: delivered, droppedCommitted, erroredCommitted };
}
