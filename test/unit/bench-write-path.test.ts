/** The bench's write-path line: differences of two scrapes, rounds added up, one line of averages. */
import { describeWritePath, WritePath, writePathBetween, writePathFrom, writePathTotal } from "../../src/cli/bench-write-path";

const at = (batches: number, records: number, extra: Partial<WritePath> = {}): WritePath => ({
  batches,
  records,
  waitSeconds: 0,
  batchSeconds: 0,
  reads: batches,
  readSeconds: 0,
  tierReads: 0,
  tierSeconds: 0,
  writes: batches,
  writeSeconds: 0,
  locked: 0,
  contended: 0,
  ...extra,
});

it("averages per batch and per record over what happened between the scrapes, all rounds together", () => {
  const round1 = writePathBetween(
    at(10, 100, { waitSeconds: 1, batchSeconds: 1 }),
    at(20, 250, { waitSeconds: 1.6, batchSeconds: 1.1, readSeconds: 0.02, writeSeconds: 0.05, locked: 1 }),
  );
  const round2 = writePathBetween(
    at(0, 0),
    at(10, 150, { waitSeconds: 0.6, batchSeconds: 0.1, readSeconds: 0.02, writeSeconds: 0.05, locked: 1, contended: 1 }),
  );
  const total = writePathTotal([round1, round2]);
  expect(total).toMatchObject({ batches: 20, records: 300, locked: 2, contended: 1 });
  expect(describeWritePath(total)).toBe(
    "15.0 records/batch; a record waits 4.0 ms for its batch; a batch takes 10.0 ms (read 2.0, write 5.0); locked 10%, 1 contended",
  );
  expect(describeWritePath(at(0, 0))).toBe("no write batches");
  expect(describeWritePath(at(2, 30, { batchSeconds: 0.02, readSeconds: 0.004, tierReads: 2, tierSeconds: 0.002, writeSeconds: 0.01 }))).toBe(
    "15.0 records/batch; a record waits 0.0 ms for its batch; a batch takes 10.0 ms (read 2.0, tiers 1.0, write 5.0); locked 0%",
  );
});

it("reads the counters from the exposition text, adding up the processes' series", () => {
  const text = [
    "# HELP loyalty_write_batch_records Records (touchpoints) per committed write batch",
    'loyalty_write_batch_records_bucket{le="1",process="0"} 1',
    'loyalty_write_batch_records_sum{process="0"} 30',
    'loyalty_write_batch_records_count{process="0"} 2',
    'loyalty_write_batch_records_sum{process="1"} 12',
    'loyalty_write_batch_records_count{process="1"} 1',
    'loyalty_write_batches_total{path="locked",process="1"} 1',
    'loyalty_write_statement_duration_seconds_sum{statement="write",process="0"} 0.02',
    "loyalty_write_batches_contended_total 2",
  ].join("\n");
  expect(writePathFrom(text)).toMatchObject({ batches: 3, records: 42, locked: 1, writeSeconds: 0.02, contended: 2, reads: 0 });
});
