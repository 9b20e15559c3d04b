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

/** Why a value (or a whole message) was kept out of the telemetry tables: the metric label. */
export const QUARANTINE_REASONS = [
  'unknown_point',
  'unknown_field',
  'future',
  'implausible',
  'malformed_sample',
  'malformed_batch',
  'site_mismatch',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

/**
 * Something a gateway sent that was acknowledged but is not telemetry we can trust: kept as received,
 * with the reason, so nothing acknowledged is ever dropped and an operator (or a later version that
 * knows the point) can look at it. Writes are idempotent on `key`.
 */
export interface QuarantineRow {
  /** Content digest: the same value of the same batch (a redelivery) is stored once. */
  key: string;
  site: string;
  /** Absent for a whole message that could not be read. */
  device?: string;
  point?: string;
  /** The sample's timestamp, when it had one. */
  ts?: number;
  /** As received: the value's JSON, or the whole message (UTF-8). */
  raw: string;
  reason: QuarantineReason;
  /** Human-readable detail, naming the field. */
  detail: string;
  /** The payload schema version the batch stated, when readable. */
  schema?: number;
  seq?: number;
  receivedMs: number;
}

export interface QuarantineQuery {
  site?: string;
  reason?: QuarantineReason;
  /** receivedMs bounds: from inclusive, to exclusive. */
  from?: number;
  to?: number;
  limit?: number;
}

/**
 * What every time-series backend offers. Writes are idempotent on (site, device, point, ts): a QoS-1
 * redelivery that slipped past the ingest dedupe overwrites a value with itself.
 */
export interface TimeSeriesStore {
  readonly kind: string;
  /** `quarantine` rows are written with the samples (SQLite: in the same transaction). */
  write(rows: PointRow[], quarantine?: QuarantineRow[]): Promise<void>;
  /** Same as write(samplesToRows(batches)), for backends that store device samples more cheaply. */
  writeSamples?(batches: SiteSamples[], quarantine?: QuarantineRow[]): Promise<void>;
  /** Quarantined values, newest first (default limit 1000). */
  quarantined(q?: QuarantineQuery): Promise<QuarantineRow[]>;
  quarantineCount(q?: Omit<QuarantineQuery, 'limit'>): Promise<number>;
  latest(site: string): Promise<LatestValue[]>;
  /** latest() of many sites in a few queries (a VPP's state at fleet size); optional per backend. */
  latestOfSites?(sites: readonly string[]): Promise<Map<string, LatestValue[]>>;
  range(q: RangeQuery): Promise<Bucket[]>;
  /** Liveness of the backend, for /health. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
