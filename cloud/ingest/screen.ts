/**
 * Splits one telemetry message into what may be stored as telemetry and what must be quarantined, value
 * by value, so that one unknown point, one clock-broken sample or one implausible number never costs
 * the rest of the batch, and nothing the broker acknowledges is dropped:
 *
 * - unreadable message (not JSON, envelope invalid, another site's payload): the whole raw message;
 * - a sample without a valid ts/device/values: the sample's JSON;
 * - a sample dated more than maxFutureMs after the cloud's clock: each of its values (never "latest");
 * - an unknown point name or sample field (a newer edge, or a bug): the value's JSON;
 * - a value that is not a finite number, outside its canonical range or beyond the nameplate: the value.
 */
import { createHash } from 'node:crypto';
import { implausible } from '../../protocols/canonical/plausibility.ts';
import { CANONICAL_POINT_NAMES, type Quality } from '../../protocols/canonical/points.ts';
import {
  formatIssues,
  MAX_PAYLOAD_BYTES,
  SUPPORTED_SCHEMA_VERSIONS,
  sampleEnvelopeSchema,
  type TelemetryBatch,
  telemetryEnvelopeSchema,
} from '../../protocols/mqtt/payloads.ts';
import { isPlainTelemetryBatch } from '../../protocols/mqtt/telemetry-fast.ts';
import type { QuarantineReason, QuarantineRow } from '../storage/timeseries/types.ts';
import { BatchDedupe } from './dedupe.ts';

const KNOWN = new Set<string>(CANONICAL_POINT_NAMES);
const QUALITIES = new Set(['good', 'stale', 'invalid']);
const SAMPLE_FIELDS = new Set(['ts', 'device', 'values', 'quality']);
const BATCH_FIELDS = new Set(['v', 'site', 'seq', 'replay', 'samples']);

export interface ScreenOptions {
  /** The site the gateway logged in as (and the topic names). */
  site: string;
  receivedMs: number;
  /** Clock-skew allowance: samples dated later than receivedMs + this are refused. */
  maxFutureMs: number;
  /** The device's nameplate active power (W), when known. */
  nameplateW?: (device: string) => number | undefined;
}

export interface Screened {
  /** What may be stored (absent when the message was unreadable); may have no samples left. */
  batch?: TelemetryBatch;
  quarantine: QuarantineRow[];
  /** Newest stored sample time (0: none). */
  newestTs: number;
  /** Redelivery key of a readable batch, from the batch as sent (dedupe.ts). */
  dedupeKey?: string;
  /** Values kept out, by reason (for the metric). */
  counts: Partial<Record<QuarantineReason, number>>;
}

function digest(parts: (string | number | undefined)[]): string {
  return createHash('sha1').update(parts.join('\0')).digest('hex').slice(0, 32);
}

/**
 * `payload` is the message as received; `json` its JSON.parse result and `jsonError` why that failed
 * (the caller need not parse a payload over MAX_PAYLOAD_BYTES: it is quarantined unread).
 */
export function screenTelemetry(
  payload: Buffer,
  json: unknown,
  jsonError: string | undefined,
  o: ScreenOptions,
): Screened {
  const out: Screened = { quarantine: [], newestTs: 0, counts: {} };
  const keep = (row: Omit<QuarantineRow, 'key' | 'site' | 'receivedMs'>) => {
    const key = digest([o.site, row.seq, row.device, row.point, row.ts, row.reason, row.raw]);
    out.quarantine.push({ key, site: o.site, receivedMs: o.receivedMs, ...row });
    out.counts[row.reason] = (out.counts[row.reason] ?? 0) + 1;
  };
  const whole = (reason: QuarantineReason, detail: string) => {
    // Bounded (the broker bounds packets too): a message beyond the schema's limit keeps its head.
    const raw = payload.subarray(0, MAX_PAYLOAD_BYTES).toString('utf8');
    keep({ raw, reason, detail });
    return out;
  };
  if (payload.length > MAX_PAYLOAD_BYTES)
    return whole('malformed_batch', `payload too large: ${payload.length} > ${MAX_PAYLOAD_BYTES} bytes`);
  if (jsonError !== undefined) return whole('malformed_batch', `not JSON: ${jsonError}`);

  const horizon = o.receivedMs + o.maxFutureMs;
  // The usual case: a current-version batch of known, finite points. Checked for time and range only,
  // and passed on as is when all is well (no copy on the hot path).
  if (isPlainTelemetryBatch(json)) {
    if (json.site !== o.site)
      return whole('site_mismatch', `site mismatch: payload says ${json.site}, topic/login says ${o.site}`);
    out.dedupeKey = BatchDedupe.key(json.seq, json.samples[0].ts, json.samples.length);
    if (allPlausible(json, horizon, o.nameplateW)) {
      for (const s of json.samples) if (s.ts > out.newestTs) out.newestTs = s.ts;
      out.batch = json;
      return out;
    }
  }

  const env = telemetryEnvelopeSchema.safeParse(json);
  if (!env.success) return whole('malformed_batch', formatIssues(env.error));
  const { v, site, seq, replay, ...batchFields } = env.data;
  if (site !== o.site)
    return whole('site_mismatch', `site mismatch: payload says ${site}, topic/login says ${o.site}`);
  const first = env.data.samples[0];
  out.dedupeKey = BatchDedupe.key(
    seq,
    first && typeof first === 'object' ? (first as { ts?: unknown }).ts : undefined,
    env.data.samples.length,
  );
  const newer = !SUPPORTED_SCHEMA_VERSIONS.includes(v);
  const version = `schema v${v}; this cloud reads v${SUPPORTED_SCHEMA_VERSIONS.join(', v')}`;
  for (const [name, value] of Object.entries(batchFields))
    if (!BATCH_FIELDS.has(name))
      keep({
        point: name,
        raw: JSON.stringify(value) ?? 'null',
        reason: 'unknown_field',
        detail: `${name}: unknown batch field (${version})`,
        schema: v,
        seq,
      });
  const samples: TelemetryBatch['samples'] = [];
  for (const [i, raw] of env.data.samples.entries()) {
    const p = sampleEnvelopeSchema.safeParse(raw);
    if (!p.success) {
      keep({
        raw: JSON.stringify(raw) ?? String(raw),
        reason: 'malformed_sample',
        detail: `samples.${i}: ${formatIssues(p.error)}`,
        schema: v,
        seq,
      });
      continue;
    }
    const { ts, device, values, quality, ...fields } = p.data;
    const at = { device, ts, schema: v, seq };
    // A quarantined value keeps the quality the edge gave it, in the detail.
    const q = (point: string, detail: string) =>
      quality?.[point] === undefined ? detail : `${detail}; quality ${JSON.stringify(quality[point])}`;
    for (const [name, value] of Object.entries(fields))
      if (!SAMPLE_FIELDS.has(name))
        keep({
          ...at,
          point: name,
          raw: JSON.stringify(value) ?? 'null',
          reason: 'unknown_field',
          detail: `samples.${i}.${name}: unknown sample field (${version})`,
        });
    if (ts > horizon) {
      const ahead = Math.round((ts - o.receivedMs) / 1000);
      for (const [point, value] of Object.entries(values))
        keep({
          ...at,
          point,
          raw: JSON.stringify(value) ?? 'null',
          reason: 'future',
          detail: q(
            point,
            `samples.${i}.ts: ${new Date(ts).toISOString()} is ${ahead} s ahead of the cloud clock (allowance ${o.maxFutureMs / 1000} s)`,
          ),
        });
      continue;
    }
    const kept: Record<string, number> = {};
    const keptQuality: Record<string, Quality> = {};
    let n = 0;
    const npW = o.nameplateW?.(device);
    for (const [point, value] of Object.entries(values)) {
      const rawValue = JSON.stringify(value) ?? 'null';
      const path = `samples.${i}.values.${point}`;
      if (!KNOWN.has(point)) {
        keep({
          ...at,
          point,
          raw: rawValue,
          reason: 'unknown_point',
          detail: q(point, `${path}: unknown point${newer ? ` (${version})` : ''}`),
        });
        continue;
      }
      const ql = quality?.[point];
      if (ql !== undefined && !(typeof ql === 'string' && QUALITIES.has(ql))) {
        keep({
          ...at,
          point,
          raw: rawValue,
          reason: 'malformed_sample',
          detail: `samples.${i}.quality.${point}: unknown quality ${JSON.stringify(ql)}`,
        });
        continue;
      }
      const why = typeof value === 'number' ? implausible(point, value, npW) : `${point}: not a number`;
      if (why) {
        keep({ ...at, point, raw: rawValue, reason: 'implausible', detail: q(point, `${path}: ${why}`) });
        continue;
      }
      kept[point] = value as number;
      if (ql && ql !== 'good') keptQuality[point] = ql as Quality;
      n++;
    }
    if (!n) continue;
    if (ts > out.newestTs) out.newestTs = ts;
    samples.push(
      Object.keys(keptQuality).length
        ? { ts, device, values: kept, quality: keptQuality }
        : { ts, device, values: kept },
    );
  }
  out.batch = { v: 1, site, seq, ...(replay && { replay }), samples };
  return out;
}

function allPlausible(b: TelemetryBatch, horizon: number, nameplateW: ScreenOptions['nameplateW']): boolean {
  for (const s of b.samples) {
    if (s.ts > horizon) return false;
    const npW = nameplateW?.(s.device);
    for (const k in s.values) if (implausible(k, s.values[k] as number, npW)) return false;
  }
  return true;
}
