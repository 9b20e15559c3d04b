import type { Quality } from '../../../protocols/canonical/points.ts';

/** One stored value: a canonical point of one device at one instant (SI units, epoch ms). */
export interface PointRow {
  site: string;
  device: string;
  point: string;
  ts: number;
  value: number;
  /** Absent = good. */
  quality?: Quality;
}

export interface LatestValue {
  device: string;
  point: string;
  ts: number;
  value: number;
  quality?: Quality;
}

/** One downsampling bucket of one series; `t` is the bucket start (aligned to multiples of bucketMs). */
export interface Bucket {
  site: string;
  device: string;
  point: string;
  t: number;
  mean: number;
  min: number;
  max: number;
  count: number;
}

export interface RangeQuery {
  sites: string[];
  /** Restrict to these devices (ids are per site; applied to every listed site). */
  devices?: string[];
  points?: string[];
  from: number;
  /** Exclusive. */
  to: number;
  bucketMs: number;
}

/** One gateway's device samples (a validated telemetry batch, as is: no per-point objects). */
export interface SiteSamples {
  site: string;
  samples: {
    ts: number;
    device: string;
    values: Partial<Record<string, number>>;
    /** Only points whose quality is not good. */
    quality?: Partial<Record<string, Quality>>;
  }[];
}

/** The per-point rows of site samples (for backends without writeSamples). */
export function samplesToRows(batches: SiteSamples[]): PointRow[] {
  const rows: PointRow[] = [];
  for (const { site, samples } of batches)
    for (const s of samples)
      for (const [point, value] of Object.entries(s.values)) {
        if (value === undefined) continue;
        const quality = s.quality?.[point];
        rows.push(
          quality && quality !== 'good'
            ? { site, device: s.device, point, ts: s.ts, value, quality }
            : { site, device: s.device, point, ts: s.ts, value },
        );
      }
  return rows;
}

/** Number of point values in site samples. */
export function countPoints(batches: SiteSamples[]): number {
  let n = 0;
  for (const { samples } of batches)
    for (const s of samples) for (const k in s.values) if (s.values[k] !== undefined) n++;
  return n;
}

/**
 * What every time-series backend offers. Writes are idempotent on (site, device, point, ts): a QoS-1
 * redelivery that slipped past the ingest dedupe overwrites a value with itself.
 */
export interface TimeSeriesStore {
  readonly kind: string;
  write(rows: PointRow[]): Promise<void>;
  /** Same as write(samplesToRows(batches)), for backends that store device samples more cheaply. */
  writeSamples?(batches: SiteSamples[]): Promise<void>;
  latest(site: string): Promise<LatestValue[]>;
  range(q: RangeQuery): Promise<Bucket[]>;
  /** Liveness of the backend, for /health. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
