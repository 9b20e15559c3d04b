import type { Quality } from '../../../protocols/canonical/points.ts';
import { POINT_INDEX, POINTS, qualityBits, qualityCode } from './sqlite-layout.ts';
import type { PointRow, QuarantineRow, SiteSamples } from './types.ts';

/**
 * A write for the SQLite writer in a form that crosses a worker boundary cheaply: device samples as
 * fixed-stride numbers (one transferable buffer, no per-point objects), series named once per write.
 */
export interface EncodedBatch {
  /** `site\0device` of each series in this write. */
  keys: string[];
  /** Records of STRIDE numbers: key index, ts, packed quality, then one value per canonical point (NaN = absent). */
  data: Float64Array;
  /** Points outside the canonical set, in write order. */
  extra: { key: number; point: string; ts: number; value: number; quality?: Quality }[];
  /** Quarantined values, stored in the same transaction. */
  quarantine?: QuarantineRow[];
}

export const STRIDE = 3 + POINTS.length;

class Encoder {
  keys: string[] = [];
  private keyIdx = new Map<string, number>();
  private data: Float64Array;
  private n = 0;
  extra: EncodedBatch['extra'] = [];

  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(1, capacity) * STRIDE);
  }

  key(site: string, device: string): number {
    const k = `${site}\0${device}`;
    let i = this.keyIdx.get(k);
    if (i === undefined) {
      i = this.keys.length;
      this.keys.push(k);
      this.keyIdx.set(k, i);
    }
    return i;
  }

  /** Starts a record; returns its offset. */
  open(key: number, ts: number): number {
    if ((this.n + 1) * STRIDE > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const o = this.n++ * STRIDE;
    this.data[o] = key;
    this.data[o + 1] = ts;
    this.data[o + 2] = 0;
    this.data.fill(Number.NaN, o + 3, o + STRIDE);
    return o;
  }

  /** Sets a point of the record at `o` (a repeated point: the later value and quality win). */
  set(o: number, i: number, value: number, quality: Quality | undefined) {
    const d = this.data;
    if (!Number.isNaN(d[o + 3 + i])) d[o + 2] -= qualityBits(Math.floor(d[o + 2] / 4 ** i) % 4, i);
    d[o + 3 + i] = value;
    d[o + 2] += qualityBits(qualityCode(quality), i);
  }

  finish(): EncodedBatch {
    return { keys: this.keys, data: this.data.subarray(0, this.n * STRIDE), extra: this.extra };
  }
}

/** Point rows → records; adjacent rows of one (site, device, ts) share a record. */
export function encodeRows(rows: PointRow[]): EncodedBatch {
  const e = new Encoder(rows.length);
  let site = '';
  let device = '';
  let ts = Number.NaN;
  let key = -1;
  let o = -1;
  for (const r of rows) {
    if (r.site !== site || r.device !== device) {
      site = r.site;
      device = r.device;
      key = e.key(site, device);
      o = -1;
    }
    const i = POINT_INDEX.get(r.point);
    if (i === undefined) {
      const { point, ts: t, value, quality } = r;
      e.extra.push(quality ? { key, point, ts: t, value, quality } : { key, point, ts: t, value });
      continue;
    }
    if (o < 0 || r.ts !== ts) {
      ts = r.ts;
      o = e.open(key, ts);
    }
    e.set(o, i, r.value, r.quality);
  }
  return e.finish();
}

/** Validated telemetry batches → one record per device sample. */
export function encodeSamples(batches: SiteSamples[]): EncodedBatch {
  let n = 0;
  for (const b of batches) n += b.samples.length;
  const e = new Encoder(n);
  for (const { site, samples } of batches) {
    for (const s of samples) {
      const key = e.key(site, s.device);
      const o = e.open(key, s.ts);
      for (const point in s.values) {
        const value = s.values[point];
        if (value === undefined) continue;
        const quality = s.quality?.[point];
        const i = POINT_INDEX.get(point);
        if (i === undefined) e.extra.push({ key, point, ts: s.ts, value, ...(quality ? { quality } : {}) });
        else e.set(o, i, value, quality);
      }
    }
  }
  return e.finish();
}
