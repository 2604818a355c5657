/**
 * Time moves points: pending points activate when the return window ends, points expire, coupons
 * expire. Set-based, per chunk of customers, one transaction per chunk; run by the scheduled job
 * (pg-boss), the CLI and the `runPointsLifecycle` mutation. Safe to run concurrently and again:
 * a chunk locks its customers, and what it changed is no longer due.
 */
import type { App } from "../../app";
import { messageFromOutboxRow } from "../../events/event.types";
import { ACTIVATE_PENDING, EXPIRE_COUPONS, EXPIRE_LOTS, LOCK_DUE_CUSTOMERS } from "./lifecycle.sql";

export interface LifecycleReport {
  /** Pending lots that became spendable. */
  activated: number;
  /** Lots that expired (with points left in them). */
  expired: number;
  couponsExpired: number;
  /** Grants given that were owed (left by a crash, or due at the end of a return window). */
  grants: number;
}

const CHUNK = 2000;

export async function runPointsLifecycle(app: App, programId: string, now = app.clock()): Promise<LifecycleReport> {
  const report: LifecycleReport = { activated: 0, expired: 0, couponsExpired: 0, grants: 0 };
  // Grants a crash left owed (written with their cause, not given yet), or due by now.
  report.grants = await app.grants.process(programId);
  report.activated = await inChunks(app, programId, now, "PENDING", ACTIVATE_PENDING);
  report.expired = await inChunks(app, programId, now, "ACTIVE", EXPIRE_LOTS);
  for (;;) {
    const [row] = await app.db.transaction(async (tx) => {
      const rows = await tx.query(EXPIRE_COUPONS, [programId, now, CHUNK]);
      tx.afterCommit(() => app.outbox.publishCommitted(rows[0].events.map(messageFromOutboxRow)));
      return rows;
    });
    report.couponsExpired += row.coupons;
    if (row.coupons < CHUNK) break;
  }
  return report;
}

async function inChunks(app: App, programId: string, now: Date, status: "PENDING" | "ACTIVE", statement: string): Promise<number> {
  let total = 0;
  for (;;) {
    const done = await app.db.transaction(async (tx) => {
      const locked = await tx.query(LOCK_DUE_CUSTOMERS, [programId, now, CHUNK, status]);
      if (locked.length === 0) return { customers: 0, lots: 0 };
      const [row] = await tx.query(statement, [programId, now, locked.map((r) => r.id)]);
      tx.afterCommit(() => app.outbox.publishCommitted(row.events.map(messageFromOutboxRow)));
      return { customers: locked.length, lots: row.lots };
    });
    total += done.lots;
    if (done.customers < CHUNK) return total;
  }
}

/** Every program, one after the other (the scheduled job). */
export async function runPointsLifecycleForAll(app: App): Promise<LifecycleReport> {
  const sum: LifecycleReport = { activated: 0, expired: 0, couponsExpired: 0, grants: 0 };
  for (const { id } of await app.db.query(`SELECT id FROM programs ORDER BY id`)) {
    const r = await runPointsLifecycle(app, id);
    sum.activated += r.activated;
    sum.expired += r.expired;
    sum.couponsExpired += r.couponsExpired;
    sum.grants += r.grants;
  }
  return sum;
}
