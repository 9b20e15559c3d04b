/**
 * A whole working system on one machine, on embedded defaults: the cloud (embedded broker and
 * storage), and N simulated sites, each with its simulated inverter, battery and meter on its own
 * Modbus TCP port and its own edge agent connected over MQTT with the site's credentials.
 * `gridlayer start` (npm start) runs it; hardware-in-the-loop tests and benchmarks reuse it.
 *
 * Sites are provisioned the way an operator would: through the REST API with an operator token.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseCloudConfig } from '../cloud/config.ts';
import { type CloudService, startCloud } from '../cloud/service.ts';
import { EdgeAgent } from '../edge/agent.ts';
import { parseConfig } from '../edge/config.ts';
import { WholesaleMarket } from '../sim-devices/iso/wholesale.ts';
import { SimSite, type SimSiteOptions } from '../sim-devices/site.ts';

export interface FleetOptions {
  sites: number;
  apiPort: number;
  mqttPort: number;
  /** Site k's Modbus TCP port is simBasePort + k; 0 = any free port. */
  simBasePort: number;
  /** Working folder for storage and edge buffers; default: a fresh temp folder removed on stop. */
  dataDir?: string;
  /** Operator API token (glt_<id>_<secret>); default: a random one. */
  token?: string;
  speed?: number;
  startMs?: number;
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
  /** Edge control settings shared by all sites. */
  exportMaxW?: number;
  pollMs?: number;
  sim?: Partial<SimSiteOptions>;
  /** Cloud config keys merged over the fleet's (top-level keys replace; e.g. the demo's market, network, forecast). */
  cloud?: Record<string, unknown>;
}

/** The simulator options of fleet site k (1-based): the demo's history runs the same models. */
export function simOptionsFor(o: FleetOptions, k: number): SimSiteOptions {
  return {
    port: o.simBasePort === 0 ? 0 : o.simBasePort + k,
    seed: k,
    speed: o.speed ?? 1,
    startMs: o.startMs,
    serialPrefix: `site-${k}`.toUpperCase(),
    ...o.sim,
  };
}

export interface FleetSite {
  id: string;
  sim: SimSite;
  agent: EdgeAgent;
  gateway: { username: string; password: string };
}

export interface Fleet {
  cloud: CloudService;
  apiUrl: string;
  mqttUrl: string;
  token: string;
  sites: FleetSite[];
  dataDir: string;
  /** When startFleet was called (epoch ms): before any site's first live sample. */
  startedAt: number;
  /** Authorized fetch against the API, JSON in and out; throws on an HTTP error with its body. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export function newOperatorToken(): string {
  return `glt_${randomBytes(6).toString('hex')}_${randomBytes(24).toString('base64url')}`;
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const startedAt = Date.now();
  const ownDir = !o.dataDir;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'gridlayer-'));
  mkdirSync(dataDir, { recursive: true });
  const token = o.token ?? newOperatorToken();
  const level = o.logLevel ?? 'warn';
  const cloud = await startCloud(
    parseCloudConfig(
      {
        logLevel: level,
        broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: o.mqttPort } },
        storage: {
          timeseries: { backend: 'sqlite', path: join(dataDir, 'timeseries.db'), synchronous: 'full' },
          registry: { backend: 'sqlite', path: join(dataDir, 'registry.db') },
        },
        api: { host: '127.0.0.1', port: o.apiPort },
        auth: { bootstrapToken: token },
        ...o.cloud,
      },
      dataDir,
    ),
    // The simulated ISO is the market's wholesale counterpart (the cloud only knows the interface).
    { iso: new WholesaleMarket({ seed: 1 }) },
  );
  const apiUrl = cloud.apiUrl.replace(/\/api\/v1$/, '');
  const mqttUrl = `mqtt://127.0.0.1:${cloud.broker.tcp}`;
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${cloud.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  const sites: FleetSite[] = [];
  const stopAll = async () => {
    for (const s of sites) {
      await s.agent.stop().catch(() => undefined);
      await s.sim.stop().catch(() => undefined);
    }
    await cloud.stop();
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    for (let k = 1; k <= o.sites; k++) {
      const id = `site-${k}`;
      const sim = new SimSite(simOptionsFor(o, k));
      await sim.start();
      const { gateway } = await api<{ gateway: { username: string; password: string } }>('POST', '/sites', {
        id,
        name: `Simulated site ${k}`,
      });
      const config = parseConfig(
        {
          site: id,
          uplink: {
            url: mqttUrl,
            username: gateway.username,
            password: gateway.password,
            clientId: `gw-${id}`,
          },
          buffer: { path: join(dataDir, `${id}-buffer.db`) },
          ...(o.exportMaxW !== undefined && { limits: { export_w_max: o.exportMaxW } }),
          log: { level: level === 'silent' ? 'fatal' : level },
          // Every agent's health/metrics endpoint on its own free port (the default 9102 is per gateway).
          http: { port: 0 },
          devices: [
            ['pv', 1],
            ['battery', 2],
            ['meter', 3],
          ].map(([name, unit]) => ({
            id: name,
            protocol: 'modbus-tcp',
            host: '127.0.0.1',
            port: sim.port,
            unit,
            pollMs: o.pollMs ?? 1000,
          })),
        },
        `fleet site ${id}`,
      );
      const agent = new EdgeAgent({
        config,
        log: pino({ level: level === 'silent' ? 'silent' : level, base: { site: id } }),
      });
      await agent.start();
      sites.push({ id, sim, agent, gateway });
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { cloud, apiUrl, mqttUrl, token, sites, dataDir, startedAt, api, stop: stopAll };
}
