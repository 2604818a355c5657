/**
 * What a refund refunds: by lines (SKU and quantity, priced and pointed as the purchase recorded
 * them) or by amount (points pro rata). Pure: the refund path calls it with the purchase locked.
 */
import { BadInput } from "../../api/errors";
import { lineRefundPoints, refundPoints } from "../program/earning";
import { StoredEarning } from "./batch-points";
import { TouchpointRecord } from "./touchpoint.model";

export interface RefundPlan {
  amount: number;
  /** Points to take back, never more than the purchase has left. */
  points: number;
  /** The refund completes the order (it stops counting as a purchase). */
  completes: boolean;
  /** Units refunded per SKU (added to the purchase's refunded_lines). */
  units: Record<string, number>;
}

interface PurchaseRow {
  amount: string | number;
  points: number;
  refunded_amount: string | number;
  points_reversed: number;
  earning: StoredEarning | null;
  refunded_lines: Record<string, number>;
  /** Set once a refund completed the order. */
  refund_completed_at: Date | null;
}

const cents = (n: number) => Math.round(n * 100);

export function planRefund(purchase: PurchaseRow, record: TouchpointRecord, expired = 0): RefundPlan {
  const amount = Number(purchase.amount);
  const refunded = Number(purchase.refunded_amount);
  // Points of the order that expired are gone already: taking them back again would charge twice.
  const pointsLeft = Math.max(0, purchase.points - purchase.points_reversed - expired);
  const requested = (record.data as { lines?: Array<{ sku: string; quantity: number }> } | null)?.lines;
  let refund: number;
  let points: number;
  const units: Record<string, number> = {};
  let allLinesBack = false;

  if (requested?.length) {
    const lines = (purchase.earning?.lines ?? []).filter((l) => !l.voided);
    if (lines.length === 0) throw new BadInput("lines", `order "${record.relatedExternalId}" was recorded without lines: refund it by amount`);
    let refundCents = 0;
    points = 0;
    requested.forEach((r, i) => {
      const same = lines.filter((l) => l.sku === r.sku);
      if (same.length === 0) throw new BadInput(`lines[${i}].sku`, `order "${record.relatedExternalId}" has no paid line with SKU "${r.sku}"`);
      const quantity = same.reduce((n, l) => n + l.quantity, 0);
      const already = (purchase.refunded_lines[r.sku] ?? 0) + (units[r.sku] ?? 0);
      if (r.quantity > quantity - already) {
        throw new BadInput(`lines[${i}].quantity`, `only ${quantity - already} unit(s) of "${r.sku}" are left to refund`);
      }
      const lineCents = same.reduce((n, l) => n + l.quantity * cents(l.unitPrice), 0);
      refundCents += Math.round((lineCents * (already + r.quantity)) / quantity) - Math.round((lineCents * already) / quantity);
      points += lineRefundPoints({ sku: r.sku, quantity, unitPrice: 0, points: same.reduce((n, l) => n + l.points, 0), refundedQuantity: already }, r.quantity);
      units[r.sku] = (units[r.sku] ?? 0) + r.quantity;
    });
    refund = refundCents / 100;
    allLinesBack = lines.every((l) => {
      const quantity = lines.filter((x) => x.sku === l.sku).reduce((n, x) => n + x.quantity, 0);
      return (purchase.refunded_lines[l.sku] ?? 0) + (units[l.sku] ?? 0) >= quantity;
    });
  } else {
    refund = record.amount!;
    points = refundPoints({ amount, points: purchase.points, refundedAmount: refunded, pointsReversed: purchase.points_reversed }, refund);
  }
  if (cents(refund) > cents(amount) - cents(refunded)) {
    throw new BadInput(
      requested?.length ? "lines" : "amount",
      `refund of ${refund.toFixed(2)} exceeds what is left to refund on order "${record.relatedExternalId}" (${(amount - refunded).toFixed(2)})`,
    );
  }
  // An order completes once: a later refund (of a 0.00 line, or of what lines did not add up to)
  // does not take the purchase away again.
  const alreadyComplete = purchase.refund_completed_at !== null && purchase.refund_completed_at !== undefined;
  const completes = !alreadyComplete && (allLinesBack || (amount > 0 && cents(refunded + refund) >= cents(amount)));
  // The whole order back: everything it still holds, its order-level points too.
  if (completes) points = pointsLeft;
  return { amount: refund, points: Math.min(points, pointsLeft), completes, units };
}
