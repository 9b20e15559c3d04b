/**
 * The fault-injection fleet: the cloud, simulated sites and their edge agents as real processes (as in
 * harness.ts), optionally behind an external Mosquitto, with two wire relays as the ground truth:
 *
 * - an MQTT relay between the gateways and the broker (test-support/mqtt-tap.ts) records every
 *   telemetry batch the broker acknowledged with a PUBACK (= the edge may delete it from its outbox),
 *   every command delivered and every ack published;
 * - a Modbus relay in front of each simulated site (test-support/modbus-tap.ts) records every register
 *   write the edge sent to the device.
 *
 * A seeded plan (test-support/fault-schedule.ts) then kills -9, freezes and restarts the parts while
 * reactive-power commands with short expiries are sent, and `account()` counts, per sample and per
 * command, what the cloud's API shows against what the wire saw.
 */
import { randomBytes } from 'node:crypto';
import { mosquittoAcl, mosquittoConf } from '../cloud/broker/mosquitto-acl.ts';
import { ModbusClient } from '../protocols/modbus/client.ts';
import { MAX_PAYLOAD_BYTES } from '../protocols/mqtt/payloads.ts';
import { locatePoint } from '../protocols/sunspec/codec.ts';
import { discoverUnit, readModelRegisters } from '../protocols/sunspec/discovery.ts';
import { type FaultKind, FaultLog, type FaultPlan, planFaults } from '../test-support/fault-schedule.ts';
import { ModbusTap } from '../test-support/modbus-tap.ts';
import { type RunningMosquitto, startMosquitto } from '../test-support/mosquitto.ts';
import { MqttTap } from '../test-support/mqtt-tap.ts';
import { freePort } from '../test-support/ports.ts';
import { waitForPort } from '../test-support/process.ts';
import { ProcessController } from '../test-support/process-control.ts';
import { HilCloud, type HilSite, hilDir, startSite, waitUntil } from './harness.ts';

const NOON = '2026-06-21T11:30:00Z';
/**
 * Time allowed between the edge's expiry check and its write (or ack) reaching the wire: the same
 * process, a few event-loop turns on a busy 2-core machine. A command applied seconds late (after a
 * restart, a redelivery, a frozen edge) is far beyond it.
 */
export const EXPIRY_SLACK_MS = 250;

export interface FaultFleetOptions {
  seed: number;
  sites: string[];
  broker: 'embedded' | 'mosquitto';
  /** Faults drawn freely on top of the coverage set (every kind on every part class once). */
  extraFaults: number;
  /** Also SIGKILL Mosquitto (it acknowledges before it persists: see docs/fault-injection.md). */
  killBroker?: boolean;
}

interface FleetSite {
  id: string;
  site: HilSite;
  httpPort: number;
  modbus: ModbusTap;
  /** Register address of model 704 VarSet (int32) on unit 1, the PV inverter. */
  varSetAddress: number;
}

export interface IssuedCommand {
  id: string;
  site: string;
  var: number;
  issuedAt: number;
  expiresAt: number;
}

/**
 * Final command statuses (docs/cloud.md): applied and acknowledged; refused with a reason; expired;
 * lapsed (applied, then dropped early at the site and shown so, possibly re-asserted under a new id);
 * failed (never handed to the broker).
 */
const FINAL = ['acknowledged', 'refused', 'expired', 'lapsed', 'failed'];

export class FaultFleet {
  readonly log = new FaultLog();
  readonly tmp = hilDir();
  cloud!: HilCloud;
  mosquitto?: RunningMosquitto;
  mqtt!: MqttTap;
  readonly sites: FleetSite[] = [];
  readonly parts = new Map<string, ProcessController>();
  readonly commands: IssuedCommand[] = [];
  plan!: FaultPlan;
  /** Commands the plan wanted while the cloud was down: not sent, counted. */
  skippedCommands = 0;
  /** Every command posted (site, distinct value), answered or not. */
  readonly attempted: Array<{ site: string; var: number }> = [];
  private readonly posting: Promise<void>[] = [];
  startedAt = 0;
  private down = new Set<string>();

  constructor(readonly opts: FaultFleetOptions) {}

  async start(): Promise<void> {
    const o = this.opts;
    const passwords = Object.fromEntries(o.sites.map((s) => [s, randomBytes(12).toString('hex')]));
    if (o.broker === 'mosquitto') {
      const cloudPw = randomBytes(12).toString('hex');
      this.mosquitto = await startMosquitto({
        users: { 'gridlayer-cloud': cloudPw, ...passwords },
        acl: mosquittoAcl('gridlayer-cloud'),
        // The config operators are told to use (`gridlayer cloud --print-mosquitto-conf`).
        conf: ({ port, passwordFile, aclFile }) =>
          mosquittoConf({
            port,
            host: '127.0.0.1',
            passwordFile,
            aclFile,
            maxPacketBytes: MAX_PAYLOAD_BYTES + 4096,
          }),
        persistence: true,
      });
      this.cloud = new HilCloud(this.tmp.dir, {
        externalBroker: { url: this.mosquitto.url, username: 'gridlayer-cloud', password: cloudPw },
      });
    } else {
      this.cloud = new HilCloud(this.tmp.dir);
    }
    await this.cloud.start();
    const brokerPort = this.mosquitto?.port ?? this.cloud.mqttPort;
    this.mqtt = new MqttTap({ host: '127.0.0.1', port: brokerPort });
    await this.mqtt.start();

    const cloud = this.cloud;
    this.parts.set(
      'cloud',
      new ProcessController({
        name: 'cloud',
        start: () => cloud.start(),
        stop: () => cloud.stop(),
        get proc() {
          return cloud.proc;
        },
      }),
    );
    const mosq = this.mosquitto;
    if (mosq)
      this.parts.set(
        'broker',
        new ProcessController({
          name: 'broker',
          start: () => mosq.relaunch(),
          stop: () => mosq.process.stop(),
          get proc() {
            return mosq.process;
          },
        }),
      );

    for (const id of o.sites) {
      const simPort = await freePort();
      const modbus = new ModbusTap({ host: '127.0.0.1', port: simPort });
      await modbus.start();
      const httpPort = await freePort();
      const site = await startSite(this.cloud, this.tmp.dir, id, {
        start: NOON,
        httpPort,
        modbusPort: simPort,
        edgeModbusPort: modbus.port,
        // Long enough that a cloud outage of the plan does not end remote control by itself.
        uplinkLossS: 60,
        uplink: {
          url: `mqtt://127.0.0.1:${this.mqtt.port}`,
          ...(o.broker === 'mosquitto' && { username: id, password: passwords[id] }),
        },
      });
      await waitForPort(httpPort, site.edge, 30000);
      const varSetAddress = await locateVarSet(simPort);
      this.sites.push({ id, site, httpPort, modbus, varSetAddress });
      this.parts.set(
        `edge:${id}`,
        new ProcessController({
          name: `edge:${id}`,
          start: async () => {
            await site.startEdge();
            await waitForPort(httpPort, site.edge, 30000);
          },
          stop: async () => site.edge?.stop(),
          get proc() {
            return site.edge;
          },
        }),
      );
      this.parts.set(
        `device:${id}`,
        new ProcessController({
          name: `device:${id}`,
          start: () => site.startSim(),
          stop: () => site.sim.stop(),
          get proc() {
            return site.sim;
          },
        }),
      );
    }
    for (const s of this.sites)
      await waitUntil(
        `${s.id}: three devices registered`,
        async () => {
          const d = await this.cloud.ok<Array<{ controls: string[] }>>('GET', `/sites/${s.id}/devices`);
          return d.length === 3 ? d : undefined;
        },
        30000,
      );
  }

  /** The seeded plan: every part may be hit; the broker only where it is a process of its own. */
  makePlan(): FaultPlan {
    const o = this.opts;
    const all: FaultKind[] = ['kill9', 'stop', 'restart', 'stopkill'];
    const targets: Record<string, FaultKind[]> = { cloud: all };
    if (this.mosquitto) targets.broker = o.killBroker ? all : ['stop', 'restart'];
    for (const id of o.sites) {
      targets[`edge:${id}`] = all;
      targets[`device:${id}`] = ['kill9', 'stop', 'stopkill'];
    }
    this.plan = planFaults({
      seed: o.seed,
      targets,
      extraFaults: o.extraFaults,
      gapMs: [2000, 5000],
      outageMs: [1500, 5000],
      commandTargets: o.sites,
      commandEveryMs: [1200, 2500],
      ttlSeconds: [2, 5],
    });
    return this.plan;
  }

  /** Runs the plan in time order, one step at a time (a fault's end before the next one's start). */
  async run(): Promise<void> {
    const plan = this.plan ?? this.makePlan();
    type Step = { atMs: number; order: number; run: () => Promise<void> };
    const steps: Step[] = [];
    for (const f of plan.faults) {
      const part = this.parts.get(f.target) as ProcessController;
      steps.push({
        atMs: f.atMs,
        order: 0,
        run: async () => {
          this.log.log(`fault start: ${f.kind} ${f.target} for ${f.outageMs} ms`);
          this.down.add(f.target);
          if (f.kind === 'kill9') await part.kill9();
          else if (f.kind === 'stop' || f.kind === 'stopkill') part.freeze();
          else await part.part.stop();
        },
      });
      steps.push({
        atMs: f.atMs + f.outageMs,
        order: 1,
        run: async () => {
          if (f.kind === 'stop') part.thaw();
          else if (f.kind === 'stopkill') {
            part.thaw();
            await sleep(f.killAfterMs ?? 0);
            await part.kill9();
            this.log.log(`fault: ${f.target} continued, killed -9 ${f.killAfterMs} ms later`);
            await part.revive();
          } else await part.revive();
          this.down.delete(f.target);
          this.log.log(`fault end: ${f.target} ${f.kind === 'stop' ? 'continued' : 'running again'}`);
        },
      });
    }
    plan.commands.forEach((c, i) => {
      steps.push({ atMs: c.atMs, order: 2, run: () => this.sendCommand(c.target, c.ttlSeconds, i) });
    });
    steps.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
    this.startedAt = Date.now();
    this.log.log(
      `fault phase: seed ${plan.seed}, ${plan.faults.length} faults, ${plan.commands.length} commands planned, ~${Math.round(plan.durationMs / 1000)} s`,
    );
    for (const s of steps) {
      const wait = this.startedAt + s.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      await s.run();
    }
  }

  /**
   * Posts a command without holding up the timeline (a cloud whose broker is frozen answers late).
   * Which commands exist is taken from the cloud at the end (collectCommands), so one whose answer was
   * lost in a crash is still accounted for.
   */
  private async sendCommand(site: string, ttlSeconds: number, i: number): Promise<void> {
    // The plan's own outage of the cloud is not a command test: skip, counted.
    if (this.down.has('cloud')) {
      this.skippedCommands++;
      return;
    }
    const value = 200 + 11 * i; // distinct per command: identifies its writes on the Modbus wire
    this.attempted.push({ site, var: value });
    const posting = fetch(`${this.cloud.apiUrl}/sites/${site}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.cloud.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'reactive_power', device: 'pv', var: value, ttlSeconds }),
      signal: AbortSignal.timeout(30_000),
    })
      .then(async (res) => {
        const body = (await res.json()) as { id?: string; status?: string };
        this.log.log(
          `command ${body.id ?? '-'} to ${site}: var ${value}, ttl ${ttlSeconds} s: HTTP ${res.status} ${body.status ?? JSON.stringify(body)}`,
        );
      })
      .catch((err) =>
        this.log.log(`command to ${site} (var ${value}): no answer: ${(err as Error).message}`),
      );
    this.posting.push(posting);
  }

  /** Every command the cloud holds for the fleet's sites, matched to the test's by its distinct value. */
  async collectCommands(): Promise<void> {
    await Promise.all(this.posting);
    this.commands.length = 0;
    for (const s of this.sites) {
      const list = await this.cloud.ok<
        Array<{ id: string; type: string; issuedAt: number; expiresAt: number; command: { var?: number } }>
      >('GET', `/sites/${s.id}/commands?limit=1000`);
      for (const r of list)
        if (r.type === 'reactive_power' && typeof r.command.var === 'number')
          this.commands.push({
            id: r.id,
            site: s.id,
            var: r.command.var,
            issuedAt: r.issuedAt,
            expiresAt: r.expiresAt,
          });
    }
  }

  /** Every part running and unfrozen, then the gateways' backlogs given time to drain. */
  async heal(): Promise<void> {
    for (const p of this.parts.values()) await p.heal();
    this.down.clear();
    this.log.log('healed: every part running');
    for (const s of this.sites)
      await waitUntil(
        `${s.id}: edge connected with an empty backlog`,
        async () => {
          const h = (await (await fetch(`http://127.0.0.1:${s.httpPort}/health`)).json()) as {
            uplink: { connected: boolean };
            buffer: { batches: number };
          };
          return h.uplink.connected && h.buffer.batches <= 2 ? true : undefined;
        },
        60000,
      );
  }

  /**
   * Waits until every command has reached its end (or its expiry is well past), then stops the edges
   * gracefully so no new samples arrive: a stop racing a command's ack is not part of the plan.
   */
  async quiesce(): Promise<void> {
    await this.collectCommands();
    const last = Math.max(0, ...this.commands.map((c) => c.expiresAt));
    await waitUntil(
      'every command final',
      async () => {
        for (const c of this.commands) {
          const r = await this.cloud.ok<{ status: string }>('GET', `/commands/${c.id}`);
          if (!FINAL.includes(r.status)) return undefined;
        }
        return true;
      },
      Math.max(0, last - Date.now()) + 5000,
    ).catch(() => undefined); // still open ones are counted by countCommands
    for (const s of this.sites) await this.parts.get(`edge:${s.id}`)?.stop();
    this.log.log('quiesced: commands final, edges stopped (SIGTERM)');
  }

  async stop(): Promise<void> {
    for (const p of this.parts.values()) await p.stop().catch(() => undefined);
    for (const s of this.sites) await s.modbus.stop();
    await this.mqtt?.stop();
    await this.mosquitto?.stop();
    this.tmp.cleanup();
  }
}

/** Where the PV inverter's VarSet sits, read from the device itself (SunSpec discovery + model 704 layout). */
async function locateVarSet(port: number): Promise<number> {
  const io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port }, timeoutMs: 2000 });
  try {
    const found = await discoverUnit(io, 1);
    const loc = found.models.find((m) => m.id === 704);
    if (!loc?.def) throw new Error('the simulated PV inverter has no model 704');
    const regs = await readModelRegisters(io, 1, loc);
    return loc.address + locatePoint(loc.def, regs, 'VarSet').offset;
  } finally {
    await io.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// Accounting

export interface SampleCounts {
  /** Distinct (device, point, ts) values in batches the broker acknowledged. */
  acknowledged: number;
  /** Acknowledged values the API does not show (counted per 1 s bucket). */
  lost: number;
  /** Values the API shows more often than any gateway ever published them. */
  duplicated: number;
  /** Buckets whose stored sum differs from the acknowledged values (a wrong value, or a loss hidden by a duplicate). */
  wrongValue: number;
  batches: number;
  examples: string[];
}

type Bucket = { device: string; point: string; t: number; mean: number; count: number };

/** Acknowledged samples of one site against what the cloud's history API shows, per 1 s bucket. */
export async function countSamples(fleet: FaultFleet, site: string, fromMs: number): Promise<SampleCounts> {
  const key = (device: string, point: string, t: number) => `${device}|${point}|${new Date(t).toISOString()}`;
  const ackedVals = new Map<string, Map<number, number>>(); // bucket → ts → value
  const publishedTs = new Map<string, Set<number>>();
  let batches = 0;
  for (const b of fleet.mqtt.acked.values()) {
    if (b.site !== site) continue;
    batches++;
    for (const s of b.samples)
      for (const [point, value] of Object.entries(s.values)) {
        if (typeof value !== 'number') continue;
        const k = key(s.device, point, Math.floor(s.ts / 1000) * 1000);
        const m = ackedVals.get(k) ?? new Map<number, number>();
        ackedVals.set(k, m);
        m.set(s.ts, value);
      }
  }
  for (const m of fleet.mqtt.published) {
    if (m.site !== site) continue;
    for (const s of m.json.samples ?? [])
      for (const point of Object.keys(s.values ?? {})) {
        const k = key(s.device, point, Math.floor(s.ts / 1000) * 1000);
        const set = publishedTs.get(k) ?? new Set<number>();
        publishedTs.set(k, set);
        set.add(s.ts);
      }
  }
  const rows = await fleet.cloud.ok<Bucket[]>(
    'GET',
    `/sites/${site}/telemetry/history?from=${Math.floor(fromMs / 1000) * 1000 - 60_000}&to=${Date.now() + 1000}&bucket=1`,
  );
  const stored = new Map(rows.map((r) => [key(r.device, r.point, r.t), r]));
  const c: SampleCounts = { acknowledged: 0, lost: 0, duplicated: 0, wrongValue: 0, batches, examples: [] };
  for (const [k, vals] of ackedVals) {
    c.acknowledged += vals.size;
    const got = stored.get(k);
    const n = got?.count ?? 0;
    if (n < vals.size) {
      c.lost += vals.size - n;
      if (c.examples.length < 5) c.examples.push(`lost ${vals.size - n} of ${vals.size} in ${k}`);
    } else if (got) {
      const published = publishedTs.get(k)?.size ?? 0;
      if (n === vals.size) {
        const want = [...vals.values()].reduce((a, v) => a + v, 0);
        const have = got.mean * got.count;
        if (Math.abs(want - have) > 1e-6 * Math.max(1, Math.abs(want))) {
          c.wrongValue++;
          if (c.examples.length < 5) c.examples.push(`sum ${have} stored vs ${want} acknowledged in ${k}`);
        }
      }
      if (n > published) c.duplicated += n - published;
    }
  }
  for (const [k, got] of stored) {
    if (ackedVals.has(k)) continue;
    const published = publishedTs.get(k)?.size ?? 0;
    if (got.count > published) {
      c.duplicated += got.count - published;
      if (c.examples.length < 5) c.examples.push(`${got.count} stored, ${published} ever published in ${k}`);
    }
  }
  return c;
}

export interface CommandVerdict {
  id: string;
  site: string;
  status: string;
  /** Writes of the command's value to the device's VarSet. */
  deviceWrites: number;
  /** Distinct 'applied' acks the edge published (a repeat of the same ack is not counted). */
  appliedAcks: number;
  late: string[];
}

export interface CommandCounts {
  issued: number;
  acknowledged: number;
  expired: number;
  refused: number;
  /** Not in a final state after their expiry. */
  open: number;
  appliedTwice: number;
  appliedLate: number;
  /** Acknowledged in the cloud, but the device never got the value. */
  acknowledgedNotApplied: number;
  /** The device took the value (and answered), the cloud says expired. */
  appliedButExpired: number;
  /** Posted, the device got the value, but the cloud has no such command (lost from its registry). */
  appliedUnknown: number;
  problems: string[];
}

export async function countCommands(fleet: FaultFleet): Promise<CommandCounts> {
  const c: CommandCounts = {
    issued: fleet.commands.length,
    acknowledged: 0,
    expired: 0,
    refused: 0,
    open: 0,
    appliedTwice: 0,
    appliedLate: 0,
    acknowledgedNotApplied: 0,
    appliedButExpired: 0,
    appliedUnknown: 0,
    problems: [],
  };
  const note = (s: string) => {
    if (c.problems.length < 10) c.problems.push(s);
  };
  // A posted command and its re-assertions (same value, new ids, the original expiry) form one chain:
  // the device may take the value once per command of the chain, never after the chain's expiry.
  const chains = new Map<string, IssuedCommand[]>();
  for (const cmd of fleet.commands) {
    const k = `${cmd.site}|${cmd.var}`;
    chains.set(k, [...(chains.get(k) ?? []), cmd]);
  }
  for (const chain of chains.values()) {
    chain.sort((a, b) => a.issuedAt - b.issuedAt);
    const { site, var: value } = chain[0];
    const s = fleet.sites.find((x) => x.id === site) as FleetSite;
    const writes = s.modbus.int32Writes(1, s.varSetAddress).filter((w) => w.value === value);
    const confirmed = writes.filter((w) => w.confirmedAtMs !== undefined);
    const ids = chain.map((x) => x.id).join(' → ');
    const statuses: string[] = [];
    let appliedAcks = 0;
    let late = false;
    for (const cmd of chain) {
      const rec = await fleet.cloud.ok<{ status: string }>('GET', `/commands/${cmd.id}`);
      statuses.push(rec.status);
      if (rec.status === 'acknowledged' || rec.status === 'lapsed') c.acknowledged++;
      else if (rec.status === 'expired') c.expired++;
      else if (rec.status === 'refused') c.refused++;
      if (!FINAL.includes(rec.status)) {
        c.open++;
        note(`${cmd.id} still ${rec.status} after its expiry`);
      }
      const acks = fleet.mqtt.gatewayAcks.filter((a) => a.site === site && a.json.commandId === cmd.id);
      const applied = new Set(
        acks.filter((a) => a.json.status === 'applied').map((a) => a.json.ts as number),
      );
      appliedAcks += applied.size;
      if (applied.size > 1) {
        c.appliedTwice++;
        note(`${cmd.id}: ${applied.size} distinct applied acks`);
      }
      const lateAcks = [...applied].filter((ts) => ts > cmd.expiresAt + EXPIRY_SLACK_MS);
      if (lateAcks.length) {
        late = true;
        note(
          `${cmd.id}: acknowledged as applied after its expiry (${lateAcks.map((t) => `+${t - cmd.expiresAt} ms`).join(', ')})`,
        );
      }
      if (
        (rec.status === 'acknowledged' || rec.status === 'lapsed') &&
        !confirmed.some((w) => w.sentAtMs >= cmd.issuedAt)
      ) {
        c.acknowledgedNotApplied++;
        note(`${cmd.id}: ${rec.status}, but the device never took var ${value}`);
      }
    }
    const expiresAt = Math.max(...chain.map((x) => x.expiresAt));
    if (writes.length > chain.length) {
      c.appliedTwice++;
      note(
        `${ids}: ${writes.length} device writes of var ${value} for ${chain.length} command(s), ${appliedAcks} applied acks`,
      );
    }
    const lateWrites = writes.filter((w) => w.sentAtMs > expiresAt + EXPIRY_SLACK_MS);
    if (lateWrites.length) {
      late = true;
      note(
        `${ids}: var ${value} written after its expiry (${lateWrites.map((w) => `+${w.sentAtMs - expiresAt} ms`).join(', ')})`,
      );
    }
    if (late) c.appliedLate++;
    if (confirmed.length && statuses.every((x) => x === 'expired')) {
      c.appliedButExpired++;
      note(
        `${ids}: the device took var ${value}, the cloud says expired (${appliedAcks} applied acks on the wire)`,
      );
    }
  }
  for (const a of fleet.attempted) {
    if (fleet.commands.some((x) => x.site === a.site && x.var === a.var)) continue;
    const s = fleet.sites.find((x) => x.id === a.site) as FleetSite;
    if (s.modbus.int32Writes(1, s.varSetAddress).some((w) => w.value === a.var)) {
      c.appliedUnknown++;
      note(`var ${a.var} for ${a.site}: written to the device, but the cloud has no such command`);
    }
  }
  return c;
}
