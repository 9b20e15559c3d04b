import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatIssues, MAX_PAYLOAD_BYTES } from '../protocols/mqtt/payloads.ts';
import { crossFieldIssues } from './config-checks.ts';
import { forecastSettingsSchema } from './forecast-service/settings.ts';
import { networkSettingsSchema } from './grid/settings.ts';
import { DEFAULT_MARKET_SETTINGS, marketSettingsSchema } from './market/index.ts';
import { vppConfigSchema } from './vpp/service.ts';

/** Every listener binds loopback unless the operator names an interface (e.g. 0.0.0.0 for all). */
const listener = z
  .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) })
  .strict();

const DEFAULT_MQTT_TCP = { host: '127.0.0.1', port: 1883 };

const tlsListener = listener
  .extend({
    /**
     * PEM files. Gateways may log in with a certificate from the gateway CA (enrolment.gatewayCa)
     * instead of a password; `ca`: another CA whose client certificates count the same way.
     */
    cert: z.string(),
    key: z.string(),
    ca: z.string().optional(),
    /** true: a gateway on this listener must present a valid certificate; passwords alone are refused. */
    requireClientCertificate: z.boolean().default(false),
  })
  .strict();

const sqliteTs = z
  .object({
    backend: z.literal('sqlite'),
    path: z.string().default('data/timeseries.db'),
    synchronous: z.enum(['full', 'normal']).default('full'),
  })
  .strict();
const influxV1 = z
  .object({
    backend: z.literal('influxdb'),
    apiVersion: z.literal(1),
    url: z.url(),
    database: z.string().min(1),
    retentionPolicy: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    createDatabase: z.boolean().default(true),
  })
  .strict();
const influxV2 = z
  .object({
    backend: z.literal('influxdb'),
    apiVersion: z.literal(2),
    url: z.url(),
    org: z.string().min(1),
    bucket: z.string().min(1),
    token: z.string().min(1),
  })
  .strict();

export const cloudConfigSchema = z
  .object({
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level'),
    broker: z
      .discriminatedUnion('mode', [
        z
          .object({
            mode: z.literal('embedded'),
            /** Plain MQTT. Default 127.0.0.1:1883, or off when `tls` is configured; null: off. */
            tcp: listener.nullable().optional(),
            tls: tlsListener.optional(),
            /** With `tls` configured, a `tcp` listener is refused unless this is true. */
            allowPlaintextWithTls: z.boolean().default(false),
            ws: listener.optional(),
            /** SQLite file keeping persistent sessions and queued QoS 1 messages (':memory:' keeps nothing). */
            sessionsPath: z.string().default('data/broker-sessions.db'),
            /** Largest MQTT packet accepted (checked from the fixed header, before it is buffered). */
            maxPacketBytes: z
              .number()
              .int()
              .min(1024)
              .default(MAX_PAYLOAD_BYTES + 4096),
            loginThrottle: z
              .object({
                /** Failed logins per source address and window before further attempts are refused unchecked. */
                maxFailures: z.number().int().min(1).default(20),
                windowSeconds: z.number().min(0.1).max(3600).default(60),
              })
              .strict()
              .default({ maxFailures: 20, windowSeconds: 60 }),
          })
          .strict()
          .describe('The MQTT broker built into the cloud service'),
        z
          .object({
            mode: z.literal('external'),
            /** mqtt://, mqtts://, ws:// or wss:// URL of e.g. Mosquitto. */
            url: z.string().regex(/^(mqtts?|wss?):\/\//),
            username: z.string().optional(),
            password: z.string().optional(),
            /** CA file to verify a TLS broker with. */
            ca: z.string().optional(),
            clientId: z.string().default('gridlayer-cloud'),
          })
          .strict()
          .describe('An external MQTT broker (e.g. Mosquitto) the cloud connects to as a client'),
      ])
      .describe('MQTT broker the gateways connect to: embedded (default) or external')
      .prefault({ mode: 'embedded' }),
    storage: z
      .object({
        timeseries: z
          .union([sqliteTs, influxV1, influxV2])
          .describe('Telemetry time-series store: SQLite (default) or InfluxDB 1.x/2.x')
          .default({ backend: 'sqlite', path: 'data/timeseries.db', synchronous: 'full' }),
        registry: z
          .discriminatedUnion('backend', [
            z.object({ backend: z.literal('sqlite'), path: z.string().default('data/registry.db') }).strict(),
            z.object({ backend: z.literal('postgres'), connectionString: z.string().min(1) }).strict(),
          ])
          .describe(
            'Registry (sites, devices, users, tokens, commands, audit, market and forecast records): SQLite (default) or PostgreSQL',
          )
          .default({ backend: 'sqlite', path: 'data/registry.db' }),
      })
      .strict()
      .describe('Where telemetry and the registry are stored')
      .default({
        timeseries: { backend: 'sqlite', path: 'data/timeseries.db', synchronous: 'full' },
        registry: { backend: 'sqlite', path: 'data/registry.db' },
      }),
    ingest: z
      .object({
        /** Points per storage write. */
        maxBatchPoints: z.number().int().min(1).default(10_000),
        /** Minimum spacing of small commits (fewer than smallBatchPoints); busy commits never wait. */
        flushIntervalMs: z.number().int().min(0).default(20),
        smallBatchPoints: z.number().int().min(1).default(1000),
        /** Deprecated and ignored (the group commit replaced the idle timer); accepted so old configs still start. */
        flushIdleMs: z.number().int().min(0).optional(),
        /** Above this many buffered points, new messages wait (back-pressure onto the broker/gateways). */
        maxBufferedPoints: z.number().int().min(1).default(200_000),
        /** Clock-skew allowance: samples dated more than this after the cloud's clock are quarantined. */
        maxFutureMs: z.number().int().min(0).default(300_000),
        /** Quarantine rows kept per site and window; past it refused values are counted (metric, WARN), not kept. */
        quarantineMaxPerSite: z.number().int().min(0).default(10_000),
        quarantineWindowSeconds: z.number().int().min(1).max(86_400).default(3600),
      })
      .strict()
      .describe('Telemetry ingest from MQTT into the time-series store')
      .default({
        maxBatchPoints: 10_000,
        flushIntervalMs: 20,
        smallBatchPoints: 1000,
        maxBufferedPoints: 200_000,
        maxFutureMs: 300_000,
        quarantineMaxPerSite: 10_000,
        quarantineWindowSeconds: 3600,
      }),
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Browser sessions of the operator app (POST /api/v1/auth/login): httpOnly cookie + CSRF header. */
        sessions: z
          .object({
            /** A session unused this long ends (30 min). */
            idleSeconds: z.number().int().min(1).default(1800),
            /** A session ends this long after sign-in however much it is used (12 h). */
            absoluteSeconds: z.number().int().min(1).default(43_200),
            /**
             * Secure attribute of the cookies: auto = when the request came over TLS (directly, or
             * X-Forwarded-Proto: https from the TLS-terminating proxy); always; never (plain-HTTP demos).
             */
            secureCookie: z.enum(['auto', 'always', 'never']).default('auto'),
          })
          .strict()
          .prefault({}),
        /** The fleet view (GET /fleet/*, /alarms): when a site counts as stale, how long a refusal is an alarm. */
        fleet: z
          .object({
            /** An online site with no status or telemetry for this long is stale (2 min). */
            staleSeconds: z.number().int().min(1).default(120),
            /** A refused command stays an alarm of its site this long (24 h). */
            refusedAlarmSeconds: z.number().int().min(1).default(86_400),
          })
          .strict()
          .prefault({}),
        /** Live updates (GET /events, Server-Sent Events). */
        events: z
          .object({
            heartbeatSeconds: z.number().int().min(1).max(300).default(15),
            /** A client that falls this far behind (bytes not yet taken by its socket) is dropped. */
            maxBufferedBytes: z.number().int().min(1024).default(1_000_000),
          })
          .strict()
          .prefault({}),
        /** PEM files: HTTPS only. Gateways present their enrolment codes here, so a reachable API needs it. */
        tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
      })
      .strict()
      .describe('HTTP API listener (HTTPS with tls), browser sessions, fleet view and live events')
      .prefault({}),
    enrolment: z
      .object({
        /** Lifetime of an enrolment code issued without its own ttlSeconds (24 h). */
        codeTtlSeconds: z.number().int().min(60).default(86_400),
        /** Longest lifetime a code may be issued with (30 days). */
        maxCodeTtlSeconds: z
          .number()
          .int()
          .min(60)
          .default(30 * 86_400),
        /** The broker URL an enrolled gateway is told to use (e.g. mqtts://mqtt.example.net:8883). */
        brokerUrl: z
          .string()
          .regex(/^(mqtts?|wss?):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL')
          .optional(),
        /** PEM file of the CA that signed the broker's certificate, handed to an enrolled gateway. */
        brokerCa: z.string().optional(),
        /**
         * The CA that signs enrolled gateways' certificate requests (PEM files, made on first start
         * when both are missing; give every cloud node the same pair).
         */
        gatewayCa: z
          .object({ cert: z.string(), key: z.string() })
          .strict()
          .default({ cert: 'data/gateway-ca.pem', key: 'data/gateway-ca-key.pem' }),
        /** Lifetime of a gateway certificate (the gateway rotates it before then). */
        certificateDays: z.number().int().min(1).max(3650).default(365),
        /** Per source address: after maxFailures refused codes within windowSeconds, 429 for a window. */
        throttle: z
          .object({
            maxFailures: z.number().int().min(1).default(5),
            windowSeconds: z.number().int().min(1).max(86_400).default(300),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .describe('Gateway enrolment: one-time code lifetimes, what an enrolled gateway is told, throttle')
      .prefault({}),
    auth: z
      .object({
        /**
         * When no user exists yet, an `operator` user is created with this API token (format
         * glt_<id>_<secret>), so a fresh install can be administered. Prefer the env variable
         * GRIDLAYER_BOOTSTRAP_TOKEN over writing it in a file.
         */
        bootstrapToken: z.string().optional(),
        /** Lifetime of a token issued without its own ttlSeconds (90 days). The bootstrap token never expires. */
        tokenDefaultTtlSeconds: z
          .number()
          .int()
          .min(60)
          .default(90 * 86_400),
        /** Longest lifetime a token may be issued with (365 days). */
        tokenMaxTtlSeconds: z
          .number()
          .int()
          .min(60)
          .default(365 * 86_400),
        /** Per source address: after maxFailures failed API authentications within windowSeconds, 429 for a window. */
        throttle: z
          .object({
            maxFailures: z.number().int().min(1).default(20),
            windowSeconds: z.number().int().min(1).max(86_400).default(60),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .describe('API authentication: bearer tokens and their lifetimes, failed-login throttle')
      .prefault({}),
    commands: z
      .object({
        defaultTtlSeconds: z.number().int().min(1).default(300),
        maxTtlSeconds: z.number().int().min(1).default(86_400),
        expiryCheckMs: z.number().int().min(10).default(1000),
      })
      .strict()
      .describe('Setpoint commands to gateways: time-to-live limits and the expiry sweep')
      .default({ defaultTtlSeconds: 300, maxTtlSeconds: 86_400, expiryCheckMs: 1000 }),
    market: marketSettingsSchema
      .default(DEFAULT_MARKET_SETTINGS)
      .describe('Flexibility market: organizational model, actors, gate closures, fees, feeder model'),
    forecast: forecastSettingsSchema.prefault({}).describe('Scheduled load and PV forecasts'),
    network: networkSettingsSchema
      .prefault({})
      .describe('Distribution feeder model for power flow and limits'),
    /** VPP dispatch loop (cloud/vpp/dispatch.ts DEFAULT_DISPATCH_OPTIONS for the defaults). */
    vpp: vppConfigSchema.default({}).describe('VPP dispatch loop'),
  })
  .strict()
  .describe('gridlayer cloud service configuration (YAML or JSON)');

export type CloudConfig = z.infer<typeof cloudConfigSchema>;
export type CloudConfigInput = z.input<typeof cloudConfigSchema>;

/** Validates a config object; relative paths are resolved against `baseDir`. Throws one readable error. */
export function parseCloudConfig(input: unknown, baseDir = process.cwd()): CloudConfig {
  const r = cloudConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new Error(`invalid cloud config: ${formatIssues(r.error)}`);
  // A copy: zod hands out its .default() objects themselves, and the path resolution below would
  // otherwise rewrite the schema's defaults (a second config parsed in the process, or the generated
  // JSON Schema, then saw the first one's absolute paths).
  const c = structuredClone(r.data);
  const contradictions = crossFieldIssues(c);
  if (contradictions.length) throw new Error(`invalid cloud config: ${contradictions.join('; ')}`);
  const abs = (p: string) => (p === ':memory:' ? p : resolve(baseDir, p));
  if (c.storage.timeseries.backend === 'sqlite') c.storage.timeseries.path = abs(c.storage.timeseries.path);
  if (c.storage.registry.backend === 'sqlite') c.storage.registry.path = abs(c.storage.registry.path);
  if (c.broker.mode === 'embedded') {
    const b = c.broker;
    if (b.tcp === undefined) b.tcp = b.tls ? null : { ...DEFAULT_MQTT_TCP };
    else if (b.tcp && b.tls && !b.allowPlaintextWithTls)
      throw new Error(
        'invalid cloud config: broker.tcp (plaintext MQTT) is set next to broker.tls: remove broker.tcp, or set broker.allowPlaintextWithTls: true to keep both',
      );
    b.sessionsPath = abs(b.sessionsPath);
  }
  if (c.broker.mode === 'embedded' && c.broker.tls) {
    const t = c.broker.tls;
    t.cert = abs(t.cert);
    t.key = abs(t.key);
    if (t.ca) t.ca = abs(t.ca);
  }
  if (c.broker.mode === 'external' && c.broker.ca) c.broker.ca = abs(c.broker.ca);
  if (c.api.tls) c.api.tls = { cert: abs(c.api.tls.cert), key: abs(c.api.tls.key) };
  if (c.enrolment.brokerCa) c.enrolment.brokerCa = abs(c.enrolment.brokerCa);
  c.enrolment.gatewayCa = { cert: abs(c.enrolment.gatewayCa.cert), key: abs(c.enrolment.gatewayCa.key) };
  if (c.market.networkFile) c.market.networkFile = abs(c.market.networkFile);
  if (c.market.networkFile && c.network.feeder)
    throw new Error(
      'invalid cloud config: market.networkFile (deprecated) and network.feeder both name a feeder: keep only network.feeder',
    );
  if (c.network.feeder) c.network.feeder.dir = abs(c.network.feeder.dir);
  c.auth.bootstrapToken ??= process.env.GRIDLAYER_BOOTSTRAP_TOKEN || undefined;
  return c;
}

/** Loads a YAML config file (paths in it are relative to the file), or the embedded defaults. */
export function loadCloudConfig(file?: string): CloudConfig {
  if (!file) return parseCloudConfig({});
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read cloud config ${file}: ${(err as Error).message}`);
  }
  return parseCloudConfig(doc, dirname(resolve(file)));
}
