/**
 * MQTT payload schemas, version 1 (JSON, UTF-8). Both the edge (producer of telemetry, consumer of
 * commands) and the cloud (the reverse) validate with these same schemas. A payload carries `v`, the
 * schema version.
 *
 * Versions and how edge and cloud agree on one:
 * - Every payload names its version in `v`; a consumer accepts every version in
 *   SUPPORTED_SCHEMA_VERSIONS (a newer cloud keeps all older versions, so an older edge keeps working).
 * - The cloud announces what it speaks in a retained message on each site's `schema` topic
 *   (schemaAnnouncementSchema); the edge writes the highest version both speak (negotiatedVersion).
 * - Telemetry from a *newer* edge than the cloud knows is still taken: its envelope (v, site, seq,
 *   samples[].ts/device/values) is frozen across versions (telemetryEnvelopeSchema), so the cloud
 *   stores every point it knows and quarantines the rest (unknown points, unknown fields) with the
 *   reason instead of dropping the batch. Status and capabilities of a newer version are read as the
 *   newest known version (unknown fields ignored). Commands and acks are refused outside
 *   SUPPORTED_SCHEMA_VERSIONS: guessing at a control payload is never safe.
 */
import { z } from 'zod';
import { CANONICAL_POINT_NAMES, DEVICE_KINDS } from '../canonical/points.ts';
import { SITE_ID_PATTERN } from './topics.ts';

/** The version this code writes (when the peer speaks it: see negotiatedVersion). */
export const SCHEMA_VERSION = 1;
/** Every version this code reads fully. Older versions stay listed forever. */
export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [1];
/** Hard bound on any payload; larger messages are refused before parsing. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/** Device ids: letters, digits, _ . : - (1–64). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.:-]+$/;
/** Timestamps before 2000 are refused (seconds sent as milliseconds, or no clock yet). */
export const MIN_EPOCH_MS = 946684800000;

const siteId = z.string().regex(SITE_ID_PATTERN, 'site id: letters, digits, _ . - (max 64)');
const deviceId = z.string().min(1).max(64).regex(DEVICE_ID_PATTERN, 'device id: letters, digits, _ . : -');
const epochMs = z.number().int().min(MIN_EPOCH_MS, 'timestamp before 2000: not epoch milliseconds?');
const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const version = z.literal(SCHEMA_VERSION);

const pointName = z.enum(CANONICAL_POINT_NAMES as [string, ...string[]]);
export const qualitySchema = z.enum(['good', 'stale', 'invalid']);

export const sampleSchema = z.object({
  ts: epochMs,
  device: deviceId,
  values: z.partialRecord(pointName, finite),
  /** Only points whose quality is not `good` are listed. */
  quality: z.partialRecord(pointName, qualitySchema).optional(),
});

export const telemetryBatchSchema = z.object({
  v: version,
  site: siteId,
  /** Per-agent monotonically increasing batch number: lets the cloud drop QoS-1 redeliveries. */
  seq: z.number().int().nonnegative(),
  /** True when the batch comes out of the store-and-forward buffer. */
  replay: z.boolean().optional(),
  samples: z.array(sampleSchema).min(1).max(5000),
});

/**
 * The part of a telemetry batch that every version shares (never changes): the cloud reads a batch of
 * any version with this, then checks each sample and value on its own (cloud/ingest/screen.ts), so
 * one bad or unknown value never costs the rest of the batch.
 */
export const telemetryEnvelopeSchema = z.looseObject({
  v: z.number().int().min(1),
  site: siteId,
  seq: z.number().int().nonnegative(),
  replay: z.boolean().optional(),
  samples: z.array(z.unknown()).min(1).max(5000),
});
/** One sample's frozen part; `values` may hold anything (checked value by value). */
export const sampleEnvelopeSchema = z.looseObject({
  ts: epochMs,
  device: deviceId,
  values: z.record(z.string(), z.unknown()),
  quality: z.record(z.string(), z.unknown()).optional(),
});

/** Retained on each site's `schema` topic by the cloud: which payload versions it reads. */
export const schemaAnnouncementSchema = z.object({
  v: version,
  site: siteId,
  /** Versions the cloud reads fully, ascending. */
  speaks: z.array(z.number().int().min(1)).min(1),
  ts: epochMs,
});
export type SchemaAnnouncement = z.infer<typeof schemaAnnouncementSchema>;

/** The version to write to a peer that speaks `theirs` (absent: not announced yet, assume ours). */
export function negotiatedVersion(
  theirs: readonly number[] | undefined,
  ours = SUPPORTED_SCHEMA_VERSIONS,
): number {
  if (!theirs) return SCHEMA_VERSION;
  const common = ours.filter((x) => theirs.includes(x));
  return common.length ? Math.max(...common) : Math.min(...ours);
}

export const statusSchema = z.object({
  v: version,
  site: siteId,
  state: z.enum(['online', 'offline']),
  ts: epochMs,
  agentVersion: z.string().max(64).optional(),
  /** default = local self-consumption mode; remote = following a cloud schedule. */
  mode: z.enum(['default', 'remote']).optional(),
  /**
   * Remote setpoints the edge dropped before their expiry (uplink lost too long, agent restarted) and
   * replaced by its default mode; listed (online status only) until a newer command for the device
   * arrives. Optional: older edges leave it out, older clouds ignore it.
   */
  lapsed: z
    .array(
      z.object({
        commandId: z.string().min(8).max(64),
        at: epochMs,
        reason: z.string().max(200),
      }),
    )
    .max(50)
    .optional(),
});

export const nameplateSchema = z.object({
  w_max: finite.optional(),
  va_max: finite.optional(),
  var_max: finite.optional(),
  w_charge_max: finite.optional(),
  w_discharge_max: finite.optional(),
  wh_capacity: finite.optional(),
});

export const COMMAND_TYPES = [
  'active_power_limit',
  'battery_power',
  'reactive_power',
  'power_factor',
  'volt_var',
  'connect',
] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export const deviceCapabilitySchema = z.object({
  id: deviceId,
  kind: z.enum(DEVICE_KINDS),
  protocol: z.enum(['sunspec-tcp', 'sunspec-rtu', 'opcua']),
  manufacturer: z.string().max(64).optional(),
  model: z.string().max(64).optional(),
  serial: z.string().max(64).optional(),
  firmware: z.string().max(64).optional(),
  nameplate: nameplateSchema,
  controls: z.array(z.enum(COMMAND_TYPES)),
  /** SunSpec model ids the device advertises, for the operator's information. */
  models: z.array(z.number().int()).optional(),
});

export const capabilitiesSchema = z.object({
  v: version,
  site: siteId,
  ts: epochMs,
  devices: z.array(deviceCapabilitySchema).max(256),
  /** Site limits at the point of common coupling (W, positive numbers). */
  limits: z.object({ import_w_max: finite.optional(), export_w_max: finite.optional() }).optional(),
});

const commandBase = {
  v: version,
  id: z
    .string()
    .min(8)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, 'command id: letters, digits, _ -'),
  site: siteId,
  /** Absent: the site decides which devices (e.g. all inverters for a limit). */
  device: deviceId.optional(),
  issuedAt: epochMs,
  expiresAt: epochMs,
};

export const commandSchema = z
  .discriminatedUnion('type', [
    z.object({ ...commandBase, type: z.literal('active_power_limit'), w: finite.nonnegative() }),
    /** Battery power: positive = discharge, negative = charge (device sign convention). */
    z.object({ ...commandBase, type: z.literal('battery_power'), w: finite }),
    z.object({ ...commandBase, type: z.literal('reactive_power'), var: finite }),
    z.object({ ...commandBase, type: z.literal('power_factor'), pf: finite.min(-1).max(1) }),
    z.object({ ...commandBase, type: z.literal('volt_var'), enabled: z.boolean() }),
    z.object({ ...commandBase, type: z.literal('connect'), connected: z.boolean() }),
  ])
  .refine((c) => c.expiresAt > c.issuedAt, {
    message: 'expiresAt must be after issuedAt',
    path: ['expiresAt'],
  });

export const ackSchema = z.object({
  v: version,
  site: siteId,
  commandId: commandSchema.options[0].shape.id,
  ts: epochMs,
  status: z.enum(['applied', 'refused', 'expired']),
  /** What was actually written after clamping, read back from the device(s). */
  applied: z.record(z.string(), z.union([finite, z.boolean()])).optional(),
  /** Why the command was refused or clamped. */
  reason: z.string().max(500).optional(),
});

export type Sample = z.infer<typeof sampleSchema>;
export type TelemetryBatch = z.infer<typeof telemetryBatchSchema>;
export type Status = z.infer<typeof statusSchema>;
export type DeviceCapability = z.infer<typeof deviceCapabilitySchema>;
export type Capabilities = z.infer<typeof capabilitiesSchema>;
export type Command = z.infer<typeof commandSchema>;
export type Ack = z.infer<typeof ackSchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Parses and validates one MQTT payload. Never throws: oversized, non-JSON, wrong-version and
 * schema-invalid payloads come back as a readable error. `fast`, when given, may accept the parsed JSON
 * as is (it must accept only what `schema` accepts unchanged); whatever it does not goes to `schema`.
 */
export function parsePayload<T>(
  schema: z.ZodType<T>,
  payload: Buffer | string,
  fast?: (json: unknown) => json is T,
  opts: { newerAsCurrent?: boolean } = {},
): ParseResult<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD_BYTES)
    return { ok: false, error: `payload too large: ${size} > ${MAX_PAYLOAD_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  if (fast?.(json)) return { ok: true, value: json };
  if (json && typeof json === 'object' && 'v' in json) {
    const v = (json as { v: unknown }).v;
    if (opts.newerAsCurrent && Number.isInteger(v) && (v as number) > SCHEMA_VERSION)
      json = { ...json, v: SCHEMA_VERSION }; // read as the newest version we know; new fields are ignored
    else if (!SUPPORTED_SCHEMA_VERSIONS.includes(v as number))
      return { ok: false, error: `unsupported schema version ${JSON.stringify(v)}` };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: formatIssues(r.error) };
}

export function formatIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
