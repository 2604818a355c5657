/** Statements on one customer that several writers share. */

/**
 * Locks one customer ($1 program, $2 customer) until commit, as every writer of its points,
 * counters or stage does before it reads what it will write from.
 */
export const LOCK_CUSTOMER = `SELECT erased_at FROM customers WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE`;
