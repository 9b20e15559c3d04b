/** Test helpers for the edge agent: an in-process aedes broker that records every publish, and configs. */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { type EdgeConfig, parseConfig } from '../../edge/config.ts';

export interface Recorded {
  topic: string;
  payload: Buffer;
  json: any;
  retain: boolean;
}

export class TestBroker {
  broker?: Aedes;
  server?: Server;
  port = 0;
  readonly messages: Recorded[] = [];

  /** Starts (or restarts on the same port) an aedes broker with in-memory persistence. */
  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    broker.on('publish', (packet, client) => {
      if (!client) return; // the broker's own $SYS messages
      let json: unknown;
      try {
        json = JSON.parse(packet.payload.toString());
      } catch {
        json = undefined;
      }
      this.messages.push({
        topic: packet.topic,
        payload: Buffer.from(packet.payload),
        json,
        retain: packet.retain,
      });
    });
    const server = createServer(broker.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.broker = broker;
    this.server = server;
  }

  /** Stops the broker and drops every client connection (a broker crash, as the agent sees it). */
  async stop(): Promise<void> {
    const { broker, server } = this;
    this.broker = undefined;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
    }
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Publishes as the cloud would (through the broker, to subscribed clients). */
  publish(topic: string, payload: unknown): Promise<void> {
    const broker = this.broker;
    if (!broker) throw new Error('broker stopped');
    return new Promise((resolve, reject) =>
      broker.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
          qos: 1,
          retain: false,
          dup: false,
        } as never,
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  of(kind: string): Recorded[] {
    return this.messages.filter((m) => m.topic.endsWith(`/${kind}`));
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function tempDir(prefix = 'gridlayer-edge-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A validated agent config for tests: fast polling, temp buffer, HTTP on a free port. */
export function testConfig(
  over: Record<string, unknown> & { devices: unknown[]; url: string; dir: string },
): EdgeConfig {
  const { url, dir, devices, ...rest } = over;
  return parseConfig({
    site: 'site-t1',
    uplink: {
      url,
      clientId: `edge-test-${Math.random().toString(36).slice(2, 8)}`,
      batchMs: 200,
      reconnectMs: 200,
    },
    buffer: { path: join(dir, 'buffer.db') },
    http: { port: 0 },
    log: { level: 'error' },
    // These tests read whole samples (every point of every poll); report-by-exception.test.ts and
    // exceptions.test.ts cover the default, telemetry.report 'exception'.
    telemetry: { report: 'batch' },
    devices,
    ...rest,
  });
}

export function simDevices(port: number, extra: Record<string, unknown> = {}) {
  return [
    {
      id: 'pv1',
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      unit: 1,
      pollMs: 250,
      timeoutMs: 300,
      ...extra,
    },
    {
      id: 'bat1',
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      unit: 2,
      pollMs: 250,
      timeoutMs: 300,
      ...extra,
    },
    {
      id: 'meter1',
      protocol: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      unit: 3,
      pollMs: 250,
      timeoutMs: 300,
      ...extra,
    },
  ];
}

/** A socat pty pair: two linked serial devices, like two ends of an RS-485 cable. */
export async function ptyPair(dir: string): Promise<{ a: string; b: string; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const a = join(dir, 'ttyA');
  const b = join(dir, 'ttyB');
  const child = spawn(
    '/usr/bin/socat',
    ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
    { stdio: 'ignore' },
  );
  await waitFor('socat ptys', () => existsSync(a) && existsSync(b), 10_000, 20);
  return {
    a,
    b,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Serves simulated SunSpec devices (unit id → device) as Modbus RTU slaves on a serial port. */
export async function serveRtu(
  units: ReadonlyMap<
    number,
    { online: boolean; read(a: number, n: number): number[]; write(a: number, v: number[]): void }
  >,
  path: string,
  baudRate: number,
): Promise<{ close(): Promise<void> }> {
  const { ServerSerial } = await import('../../protocols/modbus/lib.ts');
  const dev = (unit: number) => {
    const d = units.get(unit);
    return d?.online ? d : undefined; // absent or unplugged: silence, as on a real bus
  };
  const vector = {
    getMultipleHoldingRegisters: (
      addr: number,
      len: number,
      unit: number,
      cb: (e: unknown, v?: number[]) => void,
    ) => {
      const d = dev(unit);
      if (!d) return;
      try {
        cb(null, d.read(addr, len));
      } catch (err) {
        cb(err);
      }
    },
    setRegisterArray: (addr: number, values: number[], unit: number, cb: (e: unknown) => void) => {
      const d = dev(unit);
      if (!d) return;
      try {
        d.write(addr, values);
        cb(null);
      } catch (err) {
        cb(err);
      }
    },
    setRegister: (addr: number, value: number, unit: number, cb: (e: unknown) => void) => {
      const d = dev(unit);
      if (!d) return;
      try {
        d.write(addr, [value]);
        cb(null);
      } catch (err) {
        cb(err);
      }
    },
  };
  const server = new ServerSerial(vector as never, { path, baudRate, unitID: 255 } as never);
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', (err: Error) => reject(err));
  });
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
