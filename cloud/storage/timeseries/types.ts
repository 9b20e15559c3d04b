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

/**
 * What every time-series backend offers. Writes are idempotent on (site, device, point, ts): a QoS-1
 * redelivery that slipped past the ingest dedupe overwrites a value with itself.
 */
export interface TimeSeriesStore {
  readonly kind: string;
  write(rows: PointRow[]): Promise<void>;
  latest(site: string): Promise<LatestValue[]>;
  range(q: RangeQuery): Promise<Bucket[]>;
  /** Liveness of the backend, for /health. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
