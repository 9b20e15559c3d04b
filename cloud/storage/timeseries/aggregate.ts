import type { RangeQuery, TimeSeriesStore } from './types.ts';

export interface AggregatePoint {
  t: number;
  /** Sum over series of each series' bucket mean (e.g. total W of a site or a group). */
  sum: number;
  /** Lowest and highest single-series bucket mean, to show spread. */
  min: number;
  max: number;
  /** Series (device × point) that had data in the bucket. */
  series: number;
}

/**
 * Per-site or per-group aggregate of one point: per bucket, the sum of each device's mean. Summing
 * means (not raw samples) keeps a device that reports twice as often from counting twice.
 * Every number returned is finite.
 */
export async function aggregate(
  store: TimeSeriesStore,
  q: Omit<RangeQuery, 'points'> & { point: string },
): Promise<AggregatePoint[]> {
  const buckets = await store.range({ ...q, points: [q.point] });
  const byT = new Map<number, AggregatePoint>();
  for (const b of buckets) {
    // Ingest refuses implausible values now, but a file written before may hold e.g. 1e308, whose mean
    // overflows: such a bucket is left out rather than turning the whole sum into NaN/null.
    if (!Number.isFinite(b.mean)) continue;
    const a = byT.get(b.t) ?? {
      t: b.t,
      sum: 0,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      series: 0,
    };
    a.sum += b.mean;
    a.min = Math.min(a.min, b.mean);
    a.max = Math.max(a.max, b.mean);
    a.series++;
    byT.set(b.t, a);
  }
  return [...byT.values()].filter((a) => Number.isFinite(a.sum)).sort((x, y) => x.t - y.t);
}
