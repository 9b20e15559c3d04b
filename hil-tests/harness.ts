/**
 * Hardware-in-the-loop harness: every part runs as its own real process through the `gridlayer` CLI
 * (cloud, simulated sites, edge agents), on free loopback ports in a temp folder, exactly as deployed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newOperatorToken } from '../cli/fleet.ts';
import { httpsJson } from '../edge/enrol.ts';
import { ModbusClient } from '../protocols/modbus/client.ts';
import { scanUnit } from '../protocols/sunspec/scan.ts';
import { freePort } from '../test-support/ports.ts';
import { type ManagedProcess, startProcess, waitForPort } from '../test-support/process.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'gridlayer.js');

export function gridlayer(args: string[]): ManagedProcess {
  return startProcess(process.execPath, [BIN, ...args]);
}

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface HilCloudOptions {
  /** PEM files: the broker then listens with TLS only (no plain TCP listener). */
  tls?: { cert: string; key: string; requireClientCertificate?: boolean };
  /** Use an external broker (e.g. Mosquitto) instead of the embedded one: its URL and the cloud's login. */
  externalBroker?: { url: string; username: string; password: string };
  /** PEM files: the API then speaks HTTPS only; `ca` is what the test trusts for it. */
  apiTls?: { cert: string; key: string; ca: string };
  /** More top-level YAML lines of the cloud config, written at each start (the ports are known then). */
  extraConfig?: (cloud: HilCloud) => string[];
}

export class HilCloud {
  proc?: ManagedProcess;
  readonly token = newOperatorToken();
  apiPort = 0;
  mqttPort = 0;

  constructor(
    readonly dir: string,
    readonly opts: HilCloudOptions = {},
  ) {}

  get apiUrl(): string {
    return `${this.opts.apiTls ? 'https' : 'http'}://127.0.0.1:${this.apiPort}/api/v1`;
  }

  get mqttUrl(): string {
    if (this.opts.externalBroker) return this.opts.externalBroker.url;
    return `${this.opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.mqttPort}`;
  }

  private brokerConfig(): string {
    const ext = this.opts.externalBroker;
    if (ext) return `broker: ${JSON.stringify({ mode: 'external', ...ext })}`;
    return this.opts.tls
      ? `broker: { mode: embedded, tcp: null, tls: ${JSON.stringify({ host: '127.0.0.1', port: this.mqttPort, ...this.opts.tls })} }`
      : `broker: { mode: embedded, tcp: { host: 127.0.0.1, port: ${this.mqttPort} } }`;
  }

  /** Starts (or restarts, on the same ports and data) the cloud process. */
  async start(): Promise<void> {
    if (!this.apiPort) [this.apiPort, this.mqttPort] = [await freePort(), await freePort()];
    const config = join(this.dir, 'cloud.yaml');
    writeFileSync(
      config,
      [
        'logLevel: warn',
        this.brokerConfig(),
        `api: ${JSON.stringify({ host: '127.0.0.1', port: this.apiPort, ...(this.opts.apiTls && { tls: { cert: this.opts.apiTls.cert, key: this.opts.apiTls.key } }) })}`,
        ...(this.opts.extraConfig?.(this) ?? []),
        `auth: { bootstrapToken: ${this.token} }`,
        'storage:',
        '  timeseries: { backend: sqlite, path: data/ts.db, synchronous: full }',
        '  registry: { backend: sqlite, path: data/registry.db }',
        'commands: { expiryCheckMs: 200 }',
        // A fast closed loop for tests; commands outlive two loop periods.
        'vpp: { loopMs: 1000, commandTtlS: 4, staleMs: 3000, settleMs: 4000, baselineMinutes: 1 }',
        '',
      ].join('\n'),
    );
    this.proc = gridlayer(['cloud', '--config', config]);
    await waitForPort(this.apiPort, this.proc, 30000);
    if (!this.opts.externalBroker) await waitForPort(this.mqttPort, this.proc, 30000);
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  async api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    token = this.token,
  ): Promise<{ status: number; body: T }> {
    if (this.opts.apiTls)
      return httpsJson<T>(`${this.apiUrl}${path}`, {
        method,
        token,
        ca: readFileSync(this.opts.apiTls.ca, 'utf8'),
        ...(body !== undefined && { body: typeof body === 'string' ? JSON.parse(body) : body }),
      });
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async ok<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.api<T>(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
}

export interface HilSite {
  id: string;
  modbusPort: number;
  sim: ManagedProcess;
  edge?: ManagedProcess;
  edgeConfig: string;
  startEdge(): Promise<void>;
  /** Starts the simulated site again on the same port (after it was killed or stopped). */
  startSim(): Promise<void>;
  stop(): Promise<void>;
}

/** A simulated site (`gridlayer sim site`) and its edge agent (`gridlayer edge`), provisioned via the API. */
export async function startSite(
  cloud: HilCloud,
  dir: string,
  id: string,
  opts: {
    speed?: number;
    start?: string;
    pollMs?: number;
    uplinkLossS?: number;
    /** Merged into the edge's `uplink` section (TLS files, a wrong password …). */
    uplink?: Record<string, unknown>;
    /** The edge's health/metrics port (default: any free one, not reported). */
    httpPort?: number;
    /** The simulated site's Modbus port (default: a free one). */
    modbusPort?: number;
    /** The port the edge reaches its devices on (default: modbusPort; e.g. a relay in front of it). */
    edgeModbusPort?: number;
    /** The edge's log level (default warn). */
    logLevel?: string;
  } = {},
): Promise<HilSite> {
  const modbusPort = opts.modbusPort ?? (await freePort());
  const runSim = async () => {
    const p = gridlayer([
      'sim',
      'site',
      '--modbus-port',
      String(modbusPort),
      '--seed',
      String(id.length),
      ...(opts.speed ? ['--speed', String(opts.speed)] : []),
      ...(opts.start ? ['--start', opts.start] : []),
    ]);
    await waitForPort(modbusPort, p, 30000);
    return p;
  };
  const sim = await runSim();
  const devicePort = opts.edgeModbusPort ?? modbusPort;
  const { gateway } = await cloud.ok<{ gateway: { username: string; password: string } }>('POST', '/sites', {
    id,
  });
  const edgeConfig = join(dir, `${id}.yaml`);
  const pollMs = opts.pollMs ?? 500;
  writeFileSync(
    edgeConfig,
    [
      `site: ${id}`,
      `uplink: ${JSON.stringify({
        url: cloud.mqttUrl,
        username: gateway.username,
        password: gateway.password,
        clientId: `gw-${id}`,
        batchMs: 500,
        reconnectMs: 500,
        ...opts.uplink,
      })}`,
      `buffer: { path: ${join(dir, `${id}-buffer.db`)} }`,
      `http: { port: ${opts.httpPort ?? 0} }`,
      `log: { level: ${opts.logLevel ?? 'warn'} }`,
      `control: { cycleMs: 500, uplinkLossS: ${opts.uplinkLossS ?? 60}, deadbandW: 0 }`,
      'devices:',
      `  - { id: pv, protocol: modbus-tcp, host: 127.0.0.1, port: ${devicePort}, unit: 1, pollMs: ${pollMs} }`,
      `  - { id: battery, protocol: modbus-tcp, host: 127.0.0.1, port: ${devicePort}, unit: 2, pollMs: ${pollMs} }`,
      `  - { id: meter, protocol: modbus-tcp, host: 127.0.0.1, port: ${devicePort}, unit: 3, pollMs: ${pollMs} }`,
      '',
    ].join('\n'),
  );
  const site: HilSite = {
    id,
    modbusPort,
    sim,
    edgeConfig,
    async startEdge() {
      site.edge = gridlayer(['edge', '--config', edgeConfig]);
    },
    async startSim() {
      site.sim = await runSim();
    },
    async stop() {
      await site.edge?.stop();
      site.sim.child.kill('SIGCONT');
      await site.sim.stop();
    },
  };
  await site.startEdge();
  return site;
}

export function hilDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-hil-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads one SunSpec point straight from a simulated device's registers (undefined when absent). */
export async function readRegister(
  port: number,
  unit: number,
  model: number,
  point: string,
): Promise<number | undefined> {
  const io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port }, timeoutMs: 1000 });
  try {
    const v = (await scanUnit(io, unit)).models.find((m) => m.id === model)?.decoded?.values[point];
    return typeof v === 'number' ? v : undefined;
  } finally {
    await io.close();
  }
}
