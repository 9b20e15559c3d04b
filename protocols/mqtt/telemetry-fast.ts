import { CANONICAL_POINT_NAMES } from '../canonical/points.ts';
import { DEVICE_ID_PATTERN, MIN_EPOCH_MS, type TelemetryBatch } from './payloads.ts';
import { SITE_ID_PATTERN } from './topics.ts';

const POINT = new Set<string>(CANONICAL_POINT_NAMES);
const QUALITY = new Set(['good', 'stale', 'invalid']);
const hasOwn = Object.prototype.hasOwnProperty;

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;

/**
 * Hand-written check for the usual shape of a v1 telemetry batch (JSON.parse output), ~10× cheaper than
 * telemetryBatchSchema.safeParse. true = telemetryBatchSchema accepts `json` and its output would equal
 * `json` (so it can be used as is); false = not sure, ask the schema, which also gives the error
 * message. Anything unusual (keys the schema would strip, `__proto__`, non-JSON values) is "not sure".
 * telemetry-fast.test.ts checks with fast-check that it never accepts what the schema refuses.
 */
export function isPlainTelemetryBatch(json: unknown): json is TelemetryBatch {
  if (!isPlainObject(json)) return false;
  for (const k in json)
    if (k !== 'v' && k !== 'site' && k !== 'seq' && k !== 'samples' && k !== 'replay') return false;
  const { v, site, seq, samples } = json;
  if (v !== 1 || typeof site !== 'string' || !SITE_ID_PATTERN.test(site)) return false;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return false;
  if (hasOwn.call(json, 'replay') && typeof json.replay !== 'boolean') return false;
  if (!Array.isArray(samples) || samples.length < 1 || samples.length > 5000) return false;
  for (let i = 0; i < samples.length; i++) if (!isPlainSample(samples[i])) return false;
  return true;
}

function isPlainSample(s: unknown): boolean {
  if (!isPlainObject(s)) return false;
  for (const k in s) if (k !== 'ts' && k !== 'device' && k !== 'values' && k !== 'quality') return false;
  const { ts, device, values } = s;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < MIN_EPOCH_MS) return false;
  if (
    typeof device !== 'string' ||
    device.length < 1 ||
    device.length > 64 ||
    !DEVICE_ID_PATTERN.test(device)
  )
    return false;
  if (!isPlainObject(values)) return false;
  for (const k in values) {
    if (!POINT.has(k) || !hasOwn.call(values, k)) return false;
    const x = values[k];
    if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  }
  if (hasOwn.call(s, 'quality')) {
    const q = s.quality;
    if (!isPlainObject(q)) return false;
    for (const k in q) {
      if (!POINT.has(k) || !hasOwn.call(q, k)) return false;
      const x = q[k];
      if (typeof x !== 'string' || !QUALITY.has(x)) return false;
    }
  }
  return true;
}
