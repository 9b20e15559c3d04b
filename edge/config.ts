/**
 * The edge agent's one configuration file (YAML), validated on load. Every error names the key
 * (`devices.1.unit`) and says what was expected, so an installer can fix the file without the source.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CANONICAL_POINT_NAMES, DEVICE_KINDS } from '../protocols/canonical/points.ts';
import { SITE_ID_PATTERN } from '../protocols/mqtt/topics.ts';
import { DEFAULT_SETPOINT_SETTLE_MS } from './control/controller.ts';

const deviceId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'device id: 1-64 letters, digits, _ . : -');
const unitId = z.number().int().min(0).max(247);
const positiveMs = (dflt: number) => z.number().int().min(10).max(3_600_000).default(dflt);

const common = {
  id: deviceId.describe('Device id, unique on the site: 1-64 letters, digits, _ . : -'),
  /** Absent: decided from the SunSpec models the device advertises. */
  kind: z
    .enum(DEVICE_KINDS)
    .optional()
    .describe('Device kind; absent: decided from the SunSpec models it advertises'),
  pollMs: positiveMs(1000).describe('Poll interval (ms)'),
  timeoutMs: positiveMs(1000).describe('Request timeout (ms)'),
  /** Never written to; enforced by the Modbus transport. */
  readOnly: z.boolean().default(false).describe('Never written to (enforced by the transport)'),
  /** Seconds after which the device reverts a written setpoint on its own (when it supports it). */
  revertS: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(60)
    .describe('Seconds after which the device reverts a written setpoint on its own (when it supports it)'),
};

const unitsSchema = z.union([
  z.array(unitId).min(1),
  z.literal('scan'),
  z.object({ scan: z.tuple([unitId, unitId]) }),
]);

const modbusTcpDevice = z
  .object({
    ...common,
    protocol: z.literal('modbus-tcp'),
    host: z.string().min(1).describe('Host name or address of the Modbus TCP server'),
    port: z.number().int().min(1).max(65535).default(502),
    /** One unit id; or `units` (a list, `scan`, or `{ scan: [from, to] }`) for several devices behind one gateway. */
    unit: unitId.optional().describe('Modbus unit id (give exactly one of unit or units)'),
    units: unitsSchema
      .optional()
      .describe('Several devices behind one gateway: a list of unit ids, `scan`, or `{ scan: [from, to] }`'),
  })
  .strict()
  .describe('A SunSpec device over Modbus TCP');

const modbusRtuDevice = z
  .object({
    ...common,
    protocol: z.literal('modbus-rtu'),
    serial: z
      .object({
        path: z.string().min(1),
        baud: z.number().int().positive().default(9600),
        parity: z.enum(['none', 'even', 'odd']).default('none'),
        stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
        dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
      })
      .strict(),
    unit: unitId.optional(),
    units: unitsSchema.optional(),
  })
  .strict()
  .describe('A SunSpec device over Modbus RTU (serial line)');

const nodeId = z.string().min(1);
const nameplateEntry = z.union([nodeId, z.number().positive()]);
const opcuaDevice = z
  .object({
    ...common,
    protocol: z.literal('opcua'),
    kind: z.enum(DEVICE_KINDS),
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\//, 'an opc.tcp:// URL')
      .describe('opc.tcp:// URL of the OPC UA server'),
    securityPolicy: z.enum(['None', 'Basic256Sha256']).default('None'),
    securityMode: z.enum(['None', 'Sign', 'SignAndEncrypt']).default('None'),
    username: z.string().optional(),
    password: z.string().optional(),
    /** Folder for the client's own certificate store (needed for Basic256Sha256). */
    pkiDir: z.string().optional(),
    /** Canonical point → node id, e.g. `soc_pct: ns=1;s=Battery.SoC`. */
    points: z
      .partialRecord(z.enum(CANONICAL_POINT_NAMES as [string, ...string[]]), nodeId)
      .describe('Canonical point name -> OPC UA node id, e.g. soc_pct: ns=1;s=Battery.SoC'),
    /** Writable setpoints: battery power (W, + discharge), active power limit (W), connect (bool). */
    setpoints: z
      .object({ battery_power: nodeId, active_power_limit: nodeId, connect: nodeId })
      .partial()
      .strict()
      .default({}),
    /**
     * Each rating is a node id (read on connect) or a number: the static rating from the device's
     * data sheet, for servers without nameplate nodes (canonical units: W, var, VA, Wh).
     */
    nameplate: z
      .object({
        w_max: nameplateEntry,
        va_max: nameplateEntry,
        var_max: nameplateEntry,
        w_charge_max: nameplateEntry,
        w_discharge_max: nameplateEntry,
        wh_capacity: nameplateEntry,
      })
      .partial()
      .strict()
      .default({}),
    /**
     * Device unit → canonical unit, per point, setpoint or nameplate node: canonical = device × scale
     * (a node in kW mapped to W has scale 1000; -1 flips a device that counts charge positive).
     */
    scale: z
      .record(
        z.string(),
        z.number().refine((x) => Number.isFinite(x) && x !== 0, 'a non-zero number'),
      )
      .default({}),
    /** Node holding the device's setpoint revert timeout (s); written with `revertS` on connect. */
    revertNode: nodeId.optional(),
    identity: z
      .object({ manufacturer: nodeId, model: nodeId, serial: nodeId })
      .partial()
      .strict()
      .default({}),
    samplingMs: positiveMs(500),
  })
  .strict()
  .describe('A device with an OPC UA server, its canonical points mapped to node ids')
  .superRefine((d, ctx) => {
    if (d.securityPolicy !== 'None' && d.securityMode === 'None')
      ctx.addIssue({
        code: 'custom',
        path: ['securityMode'],
        message: 'securityMode must be Sign or SignAndEncrypt when securityPolicy is not None',
      });
    // A scale for a name that is not mapped would be silently ignored: say so instead.
    for (const k of Object.keys(d.scale)) {
      const np = d.nameplate[k as keyof typeof d.nameplate];
      const mapped = k in d.points || k in d.setpoints || (typeof np === 'string' && k in d.nameplate);
      if (!mapped)
        ctx.addIssue({
          code: 'custom',
          path: ['scale', k],
          message: `no point, setpoint or nameplate node named ${k} on this device`,
        });
    }
  });

export const deviceSchema = z.union([modbusTcpDevice, modbusRtuDevice, opcuaDevice]);

const limitW = z.number().nonnegative();

export const configSchema = z
  .object({
    site: z
      .string()
      .regex(SITE_ID_PATTERN, 'site id: letters, digits, _ . - (max 64)')
      .describe('Site id the gateway reports as (the MQTT topic segment): letters, digits, _ . - (max 64)'),
    uplink: z
      .object({
        url: z
          .string()
          .regex(/^(mqtts?|wss?|tcp|tls):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL')
          .describe('Cloud broker URL: mqtt://, mqtts://, ws:// or wss://'),
        clientId: z.string().min(1).max(128).optional(),
        username: z.string().optional(),
        /** Password or access token. */
        password: z.string().optional(),
        /** PEM file of the CA that signed the broker's certificate (else the system's trusted CAs). */
        ca: z.string().min(1).optional(),
        /** PEM client certificate and key, for brokers that authenticate gateways by certificate. */
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** Name the broker's certificate must carry, when it differs from the URL's host. */
        servername: z.string().min(1).optional(),
        /** false skips the broker certificate check: for a lab bench only, never in the field. */
        rejectUnauthorized: z.boolean().default(true),
        keepaliveS: z.number().int().min(5).max(3600).default(30),
        batchMs: positiveMs(1000),
        reconnectMs: positiveMs(2000),
      })
      .strict()
      .describe('MQTT connection to the cloud broker')
      .superRefine((u, ctx) => {
        if ((u.cert === undefined) !== (u.key === undefined))
          ctx.addIssue({
            code: 'custom',
            path: [u.cert ? 'key' : 'cert'],
            message: 'give both cert and key',
          });
        // TLS settings on a plain URL would be silently ignored: say so instead.
        if (!/^(mqtts|wss|tls):/.test(u.url))
          for (const k of ['ca', 'cert', 'key', 'servername'] as const)
            if (u[k] !== undefined)
              ctx.addIssue({
                code: 'custom',
                path: [k],
                message: 'only used with an mqtts:// or wss:// url',
              });
      }),
    telemetry: z
      .object({
        /**
         * exception: a point moving beyond its deadband is published right after the poll that saw it,
         * every point again at the heartbeat. batch: every sample of every poll, sealed into one MQTT
         * message every uplink.batchMs (the behaviour before report by exception).
         */
        report: z.enum(['exception', 'batch']).default('batch'),
        /** Every point of a device goes out at least this often; keep it below the cloud's staleness (15 s). */
        heartbeatMs: z.number().int().min(100).max(3_600_000).default(10_000),
        /** Per canonical point, in its canonical unit: overrides edge/exceptions.ts DEFAULT_DEADBANDS. */
        deadband: z
          .partialRecord(
            z.enum(CANONICAL_POINT_NAMES as [string, ...string[]]),
            z.number().nonnegative().refine(Number.isFinite, 'a finite number'),
          )
          .default({}),
      })
      .strict()
      .describe('What telemetry is sent: report by exception (deadband, heartbeat) or every poll in batches')
      .default({ report: 'batch', heartbeatMs: 10_000, deadband: {} }),
    buffer: z
      .object({
        path: z.string().min(1),
        /** Upper bound on stored telemetry batches; beyond it the drop policy applies. */
        maxBatches: z.number().int().min(10).default(100_000),
        drop: z.enum(['oldest', 'newest']).default('oldest'),
        /** SQLite synchronous mode: NORMAL survives a process crash, FULL also a power cut (more flash wear). */
        synchronous: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
      })
      .strict()
      .describe('SQLite store-and-forward buffer for telemetry while the uplink is down'),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9102),
      })
      .strict()
      .describe('Local HTTP listener: /health and /metrics')
      .default({ host: '127.0.0.1', port: 9102 }),
    limits: z
      .object({ import_w_max: limitW.optional(), export_w_max: limitW.optional() })
      .strict()
      .describe('Site import/export limits (W) at the point of common coupling')
      .default({}),
    control: z
      .object({
        enabled: z.boolean().default(true),
        cycleMs: positiveMs(1000),
        /** What the site does when no valid cloud schedule exists. */
        defaultMode: z.enum(['self_consumption', 'idle']).default('self_consumption'),
        /** Seconds without the uplink before remote setpoints are dropped for the default mode. */
        uplinkLossS: z.number().int().min(0).max(86_400).default(60),
        /** Battery state of charge kept in reserve (no discharge below it). */
        socReservePct: z.number().min(0).max(100).default(10),
        /** Ignore meter deviations smaller than this (W) to avoid chattering writes. */
        deadbandW: z.number().nonnegative().default(50),
        /** A battery's response time to a new setpoint (ms): self-consumption waits for it to show in readings. */
        setpointSettleMs: z.number().int().min(0).max(60_000).default(DEFAULT_SETPOINT_SETTLE_MS),
      })
      .strict()
      .describe('Local control loop: cloud schedules, default mode, safety limits')
      .default({
        enabled: true,
        cycleMs: 1000,
        defaultMode: 'self_consumption',
        uplinkLossS: 60,
        socReservePct: 10,
        deadbandW: 50,
        setpointSettleMs: DEFAULT_SETPOINT_SETTLE_MS,
      }),
    proxy: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535),
        /** Devices whose writes the proxy forwards; all others are read-only through the proxy. */
        writable: z.array(deviceId).default([]),
      })
      .strict()
      .describe('Local Modbus TCP proxy re-serving the devices (read-only unless listed in writable)')
      .optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .strict()
      .describe('Logging')
      .default({ level: 'info' }),
    devices: z
      .array(deviceSchema)
      .min(1, 'at least one device')
      .describe('The devices the gateway polls and controls'),
  })
  .strict()
  .describe('gridlayer edge agent configuration (YAML)')
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.devices.forEach((d, i) => {
      if (seen.has(d.id))
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `duplicate device id ${d.id}` });
      seen.add(d.id);
      if (d.protocol !== 'opcua' && (d.unit === undefined) === (d.units === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'unit'],
          message: 'give exactly one of unit or units',
        });
      }
    });
    for (const w of cfg.proxy?.writable ?? []) {
      if (!seen.has(w))
        ctx.addIssue({ code: 'custom', path: ['proxy', 'writable'], message: `no device ${w}` });
    }
  });

export type EdgeConfig = z.infer<typeof configSchema>;
export type DeviceConfig = z.infer<typeof deviceSchema>;
export type ModbusDeviceConfig = Extract<DeviceConfig, { protocol: 'modbus-tcp' | 'modbus-rtu' }>;
export type OpcuaDeviceConfig = Extract<DeviceConfig, { protocol: 'opcua' }>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${key}: unknown key(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_union') {
    const msgs = (issue as { errors?: z.core.$ZodIssue[][] }).errors ?? [];
    // Name the closest branch: the one with the fewest complaints.
    const best = msgs.slice().sort((a, b) => a.length - b.length)[0];
    if (best?.length)
      return best.map((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] })).join('; ');
  }
  return `${key}: ${issue.message}`;
}

/** Validates a parsed config object; throws ConfigError listing each bad key. */
export function parseConfig(raw: unknown, source = 'config'): EdgeConfig {
  const r = configSchema.safeParse(raw);
  // A copy: zod shares its `.default({...})` objects between parses, callers may adjust theirs.
  if (r.success) return structuredClone(r.data);
  const lines = r.error.issues.slice(0, 10).map((i) => `  ${describeIssue(i)}`);
  throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
}

export function parseConfigText(text: string, source = 'config'): EdgeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, source);
}

export function loadConfig(path: string): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  return parseConfigText(text, path);
}

/** Values an installer must replace: what `gridlayer commission` writes and what docs show. */
const PLACEHOLDER = /^\s*$|^(change[-_ ]?me|changeit|todo|xxx+|secret|password)$|^<.*>$/i;

function unreadableFile(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return `${path} is not a file`;
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (err) {
    return `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

/**
 * What makes a well-formed config unable to run on site: placeholder secrets and missing TLS files.
 * Checked by `gridlayer edge --check` (the systemd unit's ExecStartPre) and before the agent starts.
 */
export function deploymentProblems(cfg: EdgeConfig): string[] {
  const problems: string[] = [];
  const u = cfg.uplink;
  if (u.password !== undefined && PLACEHOLDER.test(u.password))
    problems.push(
      `uplink.password: "${u.password}" is a placeholder: set the secret the cloud issued for ${cfg.site}`,
    );
  if (u.username !== undefined && u.password === undefined && u.cert === undefined)
    problems.push('uplink.password: missing (the broker refuses a gateway login without its secret)');
  for (const k of ['ca', 'cert', 'key'] as const) {
    const path = u[k];
    const why = path === undefined ? undefined : unreadableFile(path);
    if (why) problems.push(`uplink.${k}: ${why}`);
  }
  cfg.devices.forEach((d, i) => {
    if (d.protocol === 'opcua' && d.password !== undefined && PLACEHOLDER.test(d.password))
      problems.push(`devices.${i}.password: "${d.password}" is a placeholder`);
  });
  return problems;
}

/** loadConfig plus deploymentProblems: throws a ConfigError listing every problem. */
export function loadDeployableConfig(path: string): EdgeConfig {
  const cfg = loadConfig(path);
  const problems = deploymentProblems(cfg);
  if (problems.length)
    throw new ConfigError(`${path} cannot run as is:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return cfg;
}
