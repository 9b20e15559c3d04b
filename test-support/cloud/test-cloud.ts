/** Test helpers for the cloud suites: throwaway TLS material, a cloud on temp storage, fake gateways. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino, { type Logger } from 'pino';
import { type CloudConfigInput, parseCloudConfig } from '../../cloud/config.ts';
import { type CloudService, startCloud } from '../../cloud/service.ts';
import type { WholesaleGateway } from '../../protocols/market/wholesale.ts';
import { capabilitiesSchema, telemetryBatchSchema } from '../../protocols/mqtt/payloads.ts';

export const BOOTSTRAP_TOKEN = 'glt_testadmin_0123456789abcdefghijklmnopqrstuv';

/**
 * A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI
 * (Debian's openssl package).
 */
/**
 * The openssl command line, as a test runs it. node-opcua-crypto, loaded by the OPC UA tests in the
 * same mocha process, restores an unset OPENSSL_CONF as the string "undefined", which openssl then
 * fails to open: such a value is dropped here.
 */
export function openssl(args: string[], cwd: string): string {
  const env = { ...process.env };
  if (env.OPENSSL_CONF === 'undefined') delete env.OPENSSL_CONF;
  return execFileSync('openssl', args, { stdio: 'pipe', cwd, env }).toString();
}

export function makeTlsMaterial(dir: string): { ca: string; cert: string; key: string } {
  const p = (f: string) => join(dir, f);
  const ossl = (...args: string[]) => openssl(args, dir);
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=gridlayer test CA',
  );
  ossl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
    '-subj',
    '/CN=localhost',
  );
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ossl(
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('server.pem'),
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
  );
  return { ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key') };
}

export interface TestCloud {
  cloud: CloudService;
  dir: string;
  api<T = unknown>(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown },
  ): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export async function startTestCloud(
  overrides: Partial<CloudConfigInput> = {},
  dir?: string,
  opts: { iso?: WholesaleGateway; logger?: Logger } = {},
): Promise<TestCloud> {
  const ownDir = !dir;
  const d = dir ?? mkdtempSync(join(tmpdir(), 'gridlayer-cloud-'));
  const config = parseCloudConfig(
    {
      logLevel: 'silent',
      broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 } },
      api: { host: '127.0.0.1', port: 0 },
      auth: { bootstrapToken: BOOTSTRAP_TOKEN },
      storage: {
        timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
        registry: { backend: 'sqlite', path: 'registry.db' },
      },
      commands: { expiryCheckMs: 50 },
      ...overrides,
      // Test clouds run the market clock under the test's control: the metered-settlement
      // scheduler's timer would act on it at random moments. Its own tests opt in.
      market: {
        ...overrides.market,
        meteredSettlement: { auto: false, ...overrides.market?.meteredSettlement },
      },
    },
    d,
  );
  const cloud = await startCloud(config, { logger: opts.logger ?? pino({ level: 'silent' }), iso: opts.iso });
  return {
    cloud,
    dir: d,
    async api(method, path, opts = {}) {
      const res = await fetch(`${cloud.apiUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${opts.token ?? BOOTSTRAP_TOKEN}`,
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body: body as never };
    },
    async stop() {
      await cloud.stop();
      if (ownDir) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** A fake gateway: a real mqtt.js client logged in as its site. */
export async function connectGateway(
  url: string,
  site: string,
  password: string,
  extra: IClientOptions = {},
): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    username: site,
    password,
    clientId: `${site}:${Math.random().toString(36).slice(2, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
    ...extra,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  return client;
}

/** Resolves true when the client's connection closes within ms, false otherwise. */
export function closedWithin(client: MqttClient, ms: number): Promise<boolean> {
  if (!client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Messages a gateway sends, built and checked with the shared protocols/ schemas. */
export const telemetry = (site: string, seq: number, ts: number, w: number) =>
  JSON.stringify(
    telemetryBatchSchema.parse({
      v: 1,
      site,
      seq,
      samples: [{ ts, device: 'inv1', values: { w, v: 231.2 } }],
    }),
  );

export const capabilities = (site: string) =>
  JSON.stringify(
    capabilitiesSchema.parse({
      v: 1,
      site,
      ts: Date.now(),
      devices: [
        {
          id: 'inv1',
          kind: 'inverter',
          protocol: 'sunspec-tcp',
          manufacturer: 'SimCo',
          nameplate: { w_max: 8000 },
          controls: ['active_power_limit'],
        },
        {
          id: 'bat1',
          kind: 'battery',
          protocol: 'sunspec-rtu',
          nameplate: { wh_capacity: 10000 },
          controls: ['battery_power'],
        },
      ],
    }),
  );
