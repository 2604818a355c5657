/**
 * The write path's own figures over a scenario, from the server's /metrics scraped as the
 * measurement starts and ends: records per batch, how long a record waits for its batch, how long
 * a batch takes and its read and write round trips, and which path batches took. They say where a
 * request's time goes, which throughput alone does not.
 */
export interface WritePath {
  batches: number;
  records: number;
  waitSeconds: number;
  batchSeconds: number;
  reads: number;
  readSeconds: number;
  tierReads: number;
  tierSeconds: number;
  writes: number;
  writeSeconds: number;
  locked: number;
  contended: number;
}

const SERIES: Record<keyof WritePath, string> = {
  batches: "loyalty_write_batch_records_count",
  records: "loyalty_write_batch_records_sum",
  waitSeconds: "loyalty_write_queue_wait_seconds_sum",
  batchSeconds: "loyalty_write_batch_duration_seconds_sum",
  reads: 'loyalty_write_statement_duration_seconds_count{statement="read"}',
  readSeconds: 'loyalty_write_statement_duration_seconds_sum{statement="read"}',
  tierReads: 'loyalty_write_statement_duration_seconds_count{statement="tiers"}',
  tierSeconds: 'loyalty_write_statement_duration_seconds_sum{statement="tiers"}',
  writes: 'loyalty_write_statement_duration_seconds_count{statement="write"}',
  writeSeconds: 'loyalty_write_statement_duration_seconds_sum{statement="write"}',
  locked: 'loyalty_write_batches_total{path="locked"}',
  contended: "loyalty_write_batches_contended_total",
};

/** The write path's counters now, or null when the server does not serve them. */
export async function scrapeWritePath(metricsUrl: string): Promise<WritePath | null> {
  try {
    const token = process.env.METRICS_TOKEN;
    const res = await fetch(metricsUrl, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return res.ok ? writePathFrom(await res.text()) : null;
  } catch {
    return null;
  }
}

/** The write path's counters in an exposition text, summed over API processes. */
export function writePathFrom(text: string): WritePath {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("loyalty_write_")) continue;
    const space = line.lastIndexOf(" ");
    // With several API processes each series carries its process's slot: add them up.
    const series = line
      .slice(0, space)
      .replace(/,?process="\d+"/, "")
      .replace("{}", "")
      .replace("{,", "{");
    values.set(series, (values.get(series) ?? 0) + Number(line.slice(space + 1)));
  }
  return Object.fromEntries(Object.entries(SERIES).map(([key, series]) => [key, values.get(series) ?? 0])) as unknown as WritePath;
}

const combine = (a: WritePath, b: WritePath, sign: 1 | -1): WritePath =>
  Object.fromEntries(Object.keys(SERIES).map((key) => [key, a[key as keyof WritePath] + sign * b[key as keyof WritePath]])) as unknown as WritePath;

/** What happened between two scrapes. */
export const writePathBetween = (before: WritePath, after: WritePath): WritePath => combine(after, before, -1);

/** A scenario's rounds together. */
export const writePathTotal = (rounds: WritePath[]): WritePath => rounds.reduce((sum, r) => combine(sum, r, 1));

/** One line: "14.6 records/batch; a record waits 3.6 ms; a batch takes 10.0 ms (read 1.9, write 4.5); locked 0%". */
export function describeWritePath(w: WritePath): string {
  if (w.batches === 0) return "no write batches";
  const ms = (seconds: number, count: number) => (count > 0 ? ((seconds / count) * 1000).toFixed(1) : "-");
  return (
    `${(w.records / w.batches).toFixed(1)} records/batch; a record waits ${ms(w.waitSeconds, w.records)} ms for its batch; ` +
    `a batch takes ${ms(w.batchSeconds, w.batches)} ms (read ${ms(w.readSeconds, w.reads)}, ` +
    (w.tierReads > 0 ? `tiers ${ms(w.tierSeconds, w.tierReads)}, ` : "") +
    `write ${ms(w.writeSeconds, w.writes)}); ` +
    `locked ${Math.round((100 * w.locked) / w.batches)}%` +
    (w.contended > 0 ? `, ${w.contended} contended` : "")
  );
}
