// Turns GET /api/webhooks/stats rows (bucket × source × event) into chart
// series per source: receipts summed over events, p95 delay as the worst
// event's p95 (percentiles do not add up).
import type { WebhookStat } from "../api/types";

export interface StatSeries {
  /** Bucket starts, unix seconds, ascending. */
  times: number[];
  sources: string[];
  /** receipts[s][i]: receipts of sources[s] in bucket i. */
  receipts: number[][];
  /** p95[s][i]: seconds, null when nothing was processed. */
  p95: (number | null)[][];
  totals: { source: string; receipts: number; processed: number; worstP95: number | null }[];
}

export function toSeries(stats: readonly WebhookStat[], since: string, until: string, bucket: "hour" | "day"): StatSeries {
  const step = bucket === "hour" ? 3600 : 86400;
  const start = Math.floor(Date.parse(since) / 1000 / step) * step;
  const end = Date.parse(until) / 1000;
  const times: number[] = [];
  for (let t = start; t < end; t += step) times.push(t);
  const slot = new Map(times.map((t, i) => [t, i]));
  const sources = [...new Set(stats.map((s) => s.source))].sort();
  const receipts = sources.map(() => times.map(() => 0));
  const p95 = sources.map(() => times.map((): number | null => null));
  const totals = sources.map((source) => ({ source, receipts: 0, processed: 0, worstP95: null as number | null }));
  const bySource = new Map(sources.map((s, i) => [s, i]));
  for (const row of stats) {
    const si = bySource.get(row.source)!;
    const ti = slot.get(Math.floor(Date.parse(row.bucket) / 1000));
    const tot = totals[si]!;
    tot.receipts += row.receipts;
    tot.processed += row.processed;
    if (row.p95_processing_seconds !== null) tot.worstP95 = Math.max(tot.worstP95 ?? 0, row.p95_processing_seconds);
    if (ti === undefined) continue;
    const r = receipts[si]!;
    r[ti] = (r[ti] ?? 0) + row.receipts;
    const p = row.p95_processing_seconds;
    const q = p95[si]!;
    if (p !== null) q[ti] = Math.max(q[ti] ?? 0, p);
  }
  return { times, sources, receipts, p95, totals };
}
