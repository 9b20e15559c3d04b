/**
 * The edge agent: wires configuration, device drivers, the poll scheduler, the store-and-forward
 * buffer, the MQTT uplink, the control cycle, the local Modbus proxy and the HTTP endpoint, with one
 * start and one stop.
 */
import pino, { type Logger } from 'pino';
import { ModbusClient, type Transport } from '../protocols/modbus/client.ts';
import {
  type Capabilities,
  type Sample,
  SCHEMA_VERSION,
  SUPPORTED_SCHEMA_VERSIONS,
} from '../protocols/mqtt/payloads.ts';
import { LifecycleList } from '../runtime/lifecycle.ts';
import { type RawBatch, TelemetryBuffer } from './buffer.ts';
import type { DeviceConfig, EdgeConfig, ModbusDeviceConfig } from './config.ts';
import { Controller } from './control/controller.ts';
import { CommandLedger, ledgerPathFor } from './control/ledger.ts';
import { SunSpecDriver } from './drivers/sunspec.ts';
import type { DeviceDriver, Reading } from './drivers/types.ts';
import { ExceptionFilter } from './exceptions.ts';
import { EdgeMetrics, startHttp } from './http.ts';
import { type ModbusProxy, startProxy } from './proxy.ts';
import { inDropoutWindow, knownUnitIds } from './quirks.ts';
import { PollScheduler } from './scheduler.ts';
import { Uplink } from './uplink.ts';
import { within } from './within.ts';

export const AGENT_VERSION = '0.1.0';
/** Time one stop step gets at most (the device connections close in parallel within one step). */
export const STOP_STEP_MS = 3000;
/**
 * Upper bound on stop() as a whole (runtime/lifecycle.ts shortens later steps to keep it).
 * deploy/edge/gridlayer-edge.service gives TimeoutStopSec=15 s, well above it.
 */
export const STOP_BOUND_MS = STOP_STEP_MS + 2000;
/** Samples per MQTT batch: keeps payloads well under the schema's 256 KiB bound. */
const MAX_SAMPLES_PER_BATCH = 400;
/**
 * Report by exception publishes a poll's changes as their own batch only while the outbox holds no more
 * than this many (the uplink's in-flight window): with a backlog, or offline, they are staged and
 * sealed with the others every batchMs, so an outage fills the outbox no faster than before.
 */
const DIRECT_MAX_BACKLOG = 8;

interface DeviceSlot {
  driver: DeviceDriver;
  cfg: DeviceConfig;
  latest?: { reading: Reading; atMs: number; sampledAtMs: number };
  /** When the running poll started: no value it returns was sampled earlier (the controller needs it). */
  pollStartedMs?: number;
  staleSent: boolean;
}

export interface AgentOptions {
  config: EdgeConfig;
  log?: Logger;
}

export class EdgeAgent {
  readonly config: EdgeConfig;
  readonly log: Logger;
  readonly metrics = new EdgeMetrics();
  readonly buffer: TelemetryBuffer;
  readonly uplink: Uplink;
  readonly controller: Controller;
  /** Command answers, held setpoints and lapses, next to the buffer (control/ledger.ts). */
  readonly ledger: CommandLedger;
  readonly scheduler = new PollScheduler<Reading>({ maxBackoffMs: 30_000 });
  readonly devices = new Map<string, DeviceSlot>();
  /** Set when telemetry.report is 'exception' (the default); absent: every sample, batched. */
  readonly exceptions?: ExceptionFilter;
  private readonly lines = new Map<string, ModbusClient>();
  private batchTimer?: NodeJS.Timeout;
  private http?: Awaited<ReturnType<typeof startHttp>>;
  proxy?: ModbusProxy;
  httpPort?: number;
  private started = false;
  private stopping?: Promise<void>;
  private readonly parts: LifecycleList;

  constructor(opts: AgentOptions) {
    this.config = opts.config;
    this.log = opts.log ?? pino({ level: opts.config.log.level, base: { site: opts.config.site } });
    this.parts = new LifecycleList(this.log, STOP_BOUND_MS, STOP_STEP_MS);
    const c = this.config;
    this.buffer = new TelemetryBuffer({
      path: c.buffer.path,
      maxBatches: c.buffer.maxBatches,
      drop: c.buffer.drop,
      synchronous: c.buffer.synchronous,
    });
    this.ledger = new CommandLedger(ledgerPathFor(c.buffer.path));
    if (c.telemetry.report === 'exception')
      this.exceptions = new ExceptionFilter({
        heartbeatMs: c.telemetry.heartbeatMs,
        deadband: c.telemetry.deadband,
      });
    this.uplink = new Uplink({
      ...c.uplink,
      site: c.site,
      agentVersion: AGENT_VERSION,
      buffer: this.buffer,
      capabilities: () => this.capabilities(),
      mode: () => this.controller?.mode ?? 'default',
      lapsed: () => this.controller?.lapses() ?? [],
      log: this.log.child({ part: 'uplink' }),
    });
    this.controller = new Controller({
      site: c.site,
      settings: {
        ...c.control,
        importMaxW: c.limits.import_w_max,
        exportMaxW: c.limits.export_w_max,
      },
      drivers: () => [...this.devices.values()].filter((s) => isOpen(s.driver)).map((s) => s.driver),
      latest: (id) => {
        const s = this.devices.get(id);
        return s?.latest ? { ...s.latest, pollMs: s.cfg.pollMs } : undefined;
      },
      uplink: () => this.uplink,
      sendAck: (ack, repeat) => {
        if (!repeat) this.metrics.commands.inc({ status: ack.status });
        this.uplink.publishAck(ack, () => this.ledger.markDelivered(ack.commandId));
      },
      onDuplicate: () => this.metrics.commands.inc({ status: 'duplicate' }),
      ledger: this.ledger,
      onLapse: () => this.uplink.publishStatus(),
      onModeChange: (mode) => {
        this.metrics.mode.set(mode === 'remote' ? 1 : 0);
        this.uplink.publishStatus();
      },
      log: this.log.child({ part: 'control' }),
    });
  }

  /** One Modbus connection per line: a TCP host:port or a serial port (RS-485: one master, one transaction at a time). */
  private line(cfg: ModbusDeviceConfig): ModbusClient {
    const transport: Transport =
      cfg.protocol === 'modbus-tcp'
        ? { kind: 'tcp', host: cfg.host, port: cfg.port }
        : {
            kind: 'rtu',
            path: cfg.serial.path,
            baudRate: cfg.serial.baud,
            parity: cfg.serial.parity,
            stopBits: cfg.serial.stopBits,
            dataBits: cfg.serial.dataBits,
          };
    const key =
      transport.kind === 'tcp' ? `tcp:${transport.host}:${transport.port}` : `rtu:${transport.path}`;
    let client = this.lines.get(key);
    if (!client) {
      client = new ModbusClient({ transport, timeoutMs: cfg.timeoutMs });
      this.lines.set(key, client);
    }
    return client;
  }

  private async unitsOf(cfg: ModbusDeviceConfig, line: ModbusClient): Promise<number[]> {
    if (cfg.unit !== undefined) return [cfg.unit];
    const u = cfg.units;
    if (Array.isArray(u)) return u;
    const range = u === 'scan' || u === undefined ? [1, 16] : u.scan;
    const candidates = [
      ...new Set([
        ...knownUnitIds(),
        ...Array.from({ length: range[1] - range[0] + 1 }, (_, i) => range[0] + i),
      ]),
    ];
    const found: number[] = [];
    const { discoverUnit } = await import('../protocols/sunspec/discovery.ts');
    for (const unit of candidates) {
      const d = await discoverUnit(line, unit);
      if (d.base !== undefined) found.push(unit);
    }
    this.log.info({ device: cfg.id, units: found }, 'unit scan finished');
    return found;
  }

  private async buildDrivers(): Promise<void> {
    for (const cfg of this.config.devices) {
      if (cfg.protocol === 'opcua') {
        // Loaded only when configured: node-opcua is large and most gateways speak only Modbus.
        const { OpcuaDriver } = await import('./drivers/opcua.ts');
        this.addDevice(new OpcuaDriver(cfg, this.log.child({ device: cfg.id })), cfg);
        continue;
      }
      const line = this.line(cfg);
      const units = await this.unitsOf(cfg, line);
      for (const unit of units) {
        if (cfg.readOnly) line.setUnitReadOnly(unit);
        const id = cfg.unit !== undefined ? cfg.id : `${cfg.id}-${unit}`;
        const driver = new SunSpecDriver({
          id,
          unit,
          io: line,
          protocol: cfg.protocol === 'modbus-tcp' ? 'sunspec-tcp' : 'sunspec-rtu',
          kind: cfg.kind,
          revertS: cfg.revertS,
          readOnly: cfg.readOnly,
        });
        this.addDevice(driver, { ...cfg, id });
      }
    }
  }

  private addDevice(driver: DeviceDriver, cfg: DeviceConfig): void {
    const slot: DeviceSlot = { driver, cfg, staleSent: false };
    this.devices.set(driver.id, slot);
    this.scheduler.add({
      id: driver.id,
      intervalMs: cfg.pollMs,
      timeoutMs: Math.max(cfg.timeoutMs * 4, cfg.pollMs),
      run: async () => {
        if (!isOpen(driver)) {
          await driver.open();
          this.log.info(
            {
              device: driver.id,
              kind: driver.kind,
              identity: driver.identity,
              nameplate: driver.nameplate,
              controls: driver.controls,
            },
            'device identified',
          );
          this.uplink.publishCapabilities();
        }
        slot.pollStartedMs = Date.now();
        return driver.poll();
      },
      expectedOutage: (now) => driver instanceof SunSpecDriver && inDropoutWindow(driver.quirks, now),
    });
  }

  capabilities(): Capabilities {
    return {
      v: SCHEMA_VERSION,
      site: this.config.site,
      ts: Date.now(),
      devices: [...this.devices.values()]
        .filter((s) => isOpen(s.driver))
        .map(({ driver: d }) => ({
          id: d.id,
          kind: d.kind,
          protocol: d.protocol,
          ...(d.identity.manufacturer && { manufacturer: d.identity.manufacturer.slice(0, 64) }),
          ...(d.identity.model && { model: d.identity.model.slice(0, 64) }),
          ...(d.identity.serial && { serial: d.identity.serial.slice(0, 64) }),
          ...(d.identity.firmware && { firmware: d.identity.firmware.slice(0, 64) }),
          nameplate: d.nameplate,
          controls: this.config.control.enabled ? d.controls : [],
          ...(d.identity.models && { models: d.identity.models }),
        })),
      limits: { ...this.config.limits },
    };
  }

  private onReading(id: string, reading: Reading): void {
    const slot = this.devices.get(id);
    if (!slot) return;
    const atMs = Date.now();
    slot.latest = { reading, atMs, sampledAtMs: slot.pollStartedMs ?? atMs };
    slot.staleSent = false;
    const sample: Sample = { ts: reading.ts, device: id, values: reading.values };
    if (Object.keys(reading.quality).length) sample.quality = reading.quality;
    if (Object.keys(sample.values).length || sample.quality) this.report(sample);
  }

  /**
   * Makes what a poll reports durable before the poll cycle returns (edge/buffer.ts states the
   * guarantee). Batch mode: the whole sample is staged, sealed into an MQTT batch in flush(). Report by
   * exception: only what moved beyond its deadband (everything at the heartbeat) is kept, and while the
   * uplink is up with no backlog it goes into the outbox as its own batch and is published at once. A
   * buffer that cannot be written (disk full) is logged and counted; the poll loop goes on.
   */
  private report(polled: Sample): void {
    let sample = polled;
    let direct = false;
    let batch: RawBatch | undefined;
    if (this.exceptions) {
      const r = this.exceptions.filter(polled, Date.now());
      if (!r) return;
      sample = r.sample;
      direct = this.uplink.connected && this.uplink.backlog <= DIRECT_MAX_BACKLOG;
    }
    try {
      if (direct) {
        // Staged samples (from an outage) are older: they take the lower seqs.
        if (this.buffer.stagedSamples) this.buffer.seal(false, MAX_SAMPLES_PER_BATCH);
        batch = this.buffer.appendBatch([sample], false);
      } else this.buffer.stage([sample]);
      this.log.debug({ device: sample.device, ts: sample.ts }, 'sample buffered');
    } catch (err) {
      this.metrics.bufferErrors.inc();
      this.log.error({ err, device: sample.device, ts: sample.ts }, 'sample not buffered');
      // Not reported after all: the device's next sample goes out whole.
      this.exceptions?.reset(sample.device);
      return;
    }
    if (direct) {
      this.metrics.bufferBatches.set(this.buffer.size);
      if (batch) this.uplink.offer(batch);
      else this.uplink.pump();
    }
  }

  /** A device stopped answering: publish its last values once, flagged stale. */
  private onFailure(id: string, err: Error, failures: number): void {
    const slot = this.devices.get(id);
    this.metrics.deviceUp.set({ device: id }, 0);
    this.metrics.polls.inc({ device: id, result: 'error' });
    const level = failures <= 1 || failures % 10 === 0 ? 'warn' : 'debug';
    this.log[level]({ device: id, failures, err: err.message }, 'poll failed');
    if (!slot?.latest || slot.staleSent) return;
    slot.staleSent = true;
    const values = slot.latest.reading.values;
    const quality = Object.fromEntries(Object.keys(values).map((k) => [k, 'stale' as const]));
    if (Object.keys(values).length) this.report({ ts: Date.now(), device: id, values, quality });
  }

  /** Seals the staged samples into outbox batches (one MQTT message each) and nudges the uplink. */
  flush(): void {
    try {
      this.buffer.seal(!this.uplink.connected, MAX_SAMPLES_PER_BATCH);
    } catch (err) {
      this.metrics.bufferErrors.inc();
      this.log.error({ err }, 'staged samples not sealed into batches (kept staged)');
    }
    this.metrics.bufferBatches.set(this.buffer.size);
    this.metrics.bufferStaged.set(this.buffer.stagedSamples);
    this.metrics.bufferDropped.set(this.buffer.dropped);
    this.metrics.uplinkUp.set(this.uplink.connected ? 1 : 0);
    this.uplink.pump();
  }

  health() {
    const states = this.scheduler.states();
    const devices = Object.fromEntries(
      states.map((s) => [
        s.id,
        {
          ok: s.ok,
          failures: s.failures,
          lastOk: s.lastOkMs && new Date(s.lastOkMs).toISOString(),
          error: s.lastError,
        },
      ]),
    );
    return {
      ok: this.started && states.some((s) => s.ok && s.lastOkMs !== undefined),
      site: this.config.site,
      version: AGENT_VERSION,
      uplink: {
        connected: this.uplink.connected,
        connects: this.uplink.connects,
        failures: this.uplink.failures,
        ...(this.uplink.lastError && { lastError: this.uplink.lastError }),
        schema: { edge: SUPPORTED_SCHEMA_VERSIONS, cloud: this.uplink.cloudSpeaks ?? null },
      },
      buffer: { batches: this.buffer.size, staged: this.buffer.stagedSamples, dropped: this.buffer.dropped },
      mode: this.controller.mode,
      devices,
    };
  }

  /** Resolves once every device has answered or failed its first poll (or after a bound). */
  private firstPollRound(): Promise<void> {
    const tried = new Set<string>();
    const maxWaitMs = Math.min(
      30_000,
      Math.max(2000, ...this.config.devices.map((d) => 4 * d.timeoutMs + d.pollMs)),
    );
    return new Promise<void>((resolve) => {
      const check = (id?: string) => {
        if (id) tried.add(id);
        if ([...this.devices.keys()].every((d) => tried.has(d))) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.scheduler.off('result', check);
        this.scheduler.off('failure', check);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      timer.unref();
      this.scheduler.on('result', check);
      this.scheduler.on('failure', check);
      check(); // no device found at all (an empty unit scan)
    }).finally(() => this.log.debug('first poll round done: accepting commands'));
  }

  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (err) {
      // A half-started agent (e.g. its health port taken) must not keep polling and publishing.
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The agent's parts, started in this order from one list (runtime/lifecycle.ts) and stopped in
   * reverse: first every part drains (control, polling and batching stop; then the buffer takes the
   * last samples and acknowledged batches and closes, so nothing polled is lost whatever hangs next),
   * then every part stops (proxy, HTTP, uplink, device connections, and the ledger last: a command
   * arriving while the uplink closes may still write its answer).
   */
  private async startParts(): Promise<void> {
    const c = this.config;
    const p = this.parts;
    await p.start({ name: 'command ledger', start: () => undefined, stop: () => this.ledger.close() });
    await p.start({
      name: 'buffer',
      start: () => {
        // Samples a killed agent had staged but not batched yet: they go out first, flagged replay.
        if (!this.buffer.stagedSamples) return;
        this.log.info({ samples: this.buffer.stagedSamples }, 'sealing samples staged before the restart');
        this.buffer.seal(true, MAX_SAMPLES_PER_BATCH);
      },
      drain: () => {
        try {
          this.flush();
          this.uplink.flushAcks();
        } catch (err) {
          this.log.error({ err: String(err) }, 'stop: flushing the last samples into the buffer failed');
        }
        this.buffer.close();
      },
      stop: () => undefined,
    });
    await p.start({ name: 'devices', start: () => this.buildDrivers(), stop: () => this.closeDevices() });
    this.scheduler.on('result', (id, reading, ms) => {
      this.metrics.polls.inc({ device: id, result: 'ok' });
      this.metrics.pollSeconds.observe({ device: id }, ms / 1000);
      this.metrics.deviceUp.set({ device: id }, 1);
      this.onReading(id, reading);
    });
    this.scheduler.on('failure', (id, err, st) => this.onFailure(id, err, st.failures));
    const ready = this.firstPollRound();
    this.scheduler.on('recovered', (id) => this.log.info({ device: id }, 'device answers again'));
    // Commands waiting for us (broker session, the cloud's re-send) arrive right on connect: before
    // the devices are identified they would be refused as unknown. Held until each device had one try.
    this.uplink.on('command', (payload) => void ready.then(() => this.controller.handleCommand(payload)));
    this.uplink.on('published', () => this.metrics.published.inc());
    // Answers the broker never took (killed before the PUBACK, or sent while offline): send them again.
    this.uplink.on('connect', () => {
      for (const ack of this.ledger.undelivered())
        this.uplink.publishAck(ack, () => this.ledger.markDelivered(ack.commandId));
    });
    await p.start({ name: 'uplink', start: () => this.uplink.start(), stop: () => this.uplink.stop() });
    await p.start({
      name: 'batching',
      start: () => {
        this.batchTimer = setInterval(() => this.flush(), c.uplink.batchMs);
      },
      drain: () => clearInterval(this.batchTimer),
      stop: () => undefined,
    });
    await p.start({
      name: 'polling',
      start: () => this.scheduler.start(),
      drain: () => this.scheduler.stop(),
      stop: () => undefined,
    });
    await p.start({
      name: 'control',
      start: () => {
        if (c.control.enabled) this.controller.start();
      },
      drain: () => this.controller.stop(),
      stop: () => undefined,
    });
    this.http = await p.open(
      'http',
      () =>
        startHttp({
          host: c.http.host,
          port: c.http.port,
          metrics: this.metrics,
          health: () => this.health(),
        }),
      (h) => h.close(),
    );
    this.httpPort = this.http.port;
    const proxy = c.proxy;
    if (proxy)
      this.proxy = await p.open(
        'proxy',
        () =>
          startProxy({
            host: proxy.host,
            port: proxy.port,
            devices: () =>
              [...this.devices.values()]
                .map((s) => s.driver)
                .filter((d): d is SunSpecDriver => d instanceof SunSpecDriver),
            writable: new Set(proxy.writable),
            isDown: (id) => this.scheduler.states().some((s) => s.id === id && !s.ok),
            maxAgeMs: (id) => this.devices.get(id)?.cfg.pollMs ?? 1000,
            log: this.log.child({ part: 'proxy' }),
          }),
        (x) => x.close(),
      );
    this.started = true;
    this.log.info(
      { devices: [...this.devices.keys()], http: this.httpPort, proxy: this.proxy?.port },
      'edge agent started',
    );
  }

  /** Every device and line connection at once, each given STOP_STEP_MS: a frozen one delays no other. */
  private async closeDevices(): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ...[...this.devices.values()].map((s): [string, () => Promise<unknown>] => [
        `device ${s.driver.id}`,
        () => s.driver.close(),
      ]),
      ...[...this.lines.entries()].map(([key, l]): [string, () => Promise<unknown>] => [
        `line ${key}`,
        () => l.close(),
      ]),
    ];
    const results = await Promise.all(
      steps.map(async ([name, fn]) => [name, await within(fn, STOP_STEP_MS)]),
    );
    const unclean = Object.fromEntries(results.filter(([, r]) => r !== 'done'));
    if (Object.keys(unclean).length)
      this.log.warn({ steps: unclean }, 'stop: some device connections did not close cleanly');
  }

  /** Bounded stop (at most STOP_BOUND_MS, each step at most STOP_STEP_MS); see startParts for the order. */
  async stop(): Promise<void> {
    if (!this.stopping) this.started = false;
    this.stopping ??= this.parts.stop().then(() => this.log.info('edge agent stopped'));
    return this.stopping;
  }
}

function isOpen(d: DeviceDriver): boolean {
  return (d as { isOpen?: boolean }).isOpen !== false;
}
