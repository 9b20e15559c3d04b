/**
 * The site controller: a fixed ~1 s cycle on a frozen snapshot of the latest readings. It keeps the
 * cloud's setpoints until they expire (or the uplink has been gone too long), runs the default mode
 * otherwise, writes only what changed (or what the device's revert timer needs refreshed), reads back
 * and acknowledges each command with the value actually applied or the reason it was refused.
 */
import type { Logger } from 'pino';
import type { Ack } from '../../protocols/mqtt/payloads.ts';
import { SCHEMA_VERSION } from '../../protocols/mqtt/payloads.ts';
import { type DeviceDriver, type Reading, type Setpoint, SetpointExpiredError } from '../drivers/types.ts';
import { validateCommand } from './commands.ts';
import {
  type ControlSettings,
  type Decision,
  decide,
  type RemoteSetpoints,
  type Snapshot,
} from './decide.ts';
import { CommandLedger, type HeldKind, type InFlight, type Lapse } from './ledger.ts';

export interface ControllerSettings extends ControlSettings {
  enabled: boolean;
  cycleMs: number;
  uplinkLossS: number;
  /**
   * A battery's response time to a new power setpoint (ms): readings sampled earlier than the write's
   * acknowledgement plus this still show the old power. Default 250 ms.
   */
  setpointSettleMs?: number;
}

/** ControllerSettings.setpointSettleMs when not set; also the config default (edge/config.ts). */
export const DEFAULT_SETPOINT_SETTLE_MS = 250;

export interface ControllerDeps {
  site: string;
  settings: ControllerSettings;
  drivers(): DeviceDriver[];
  /** `sampledAtMs`: when the poll that produced the reading started (defaults to `atMs`). */
  latest(id: string): { reading: Reading; atMs: number; pollMs: number; sampledAtMs?: number } | undefined;
  uplink(): { connected: boolean; lastDisconnectMs?: number };
  /** `repeat`: the same answer again, for a command delivered twice (nothing was applied again). */
  sendAck(ack: Ack, repeat?: boolean): void;
  /** A command id arrived again (already answered, or still being applied). */
  onDuplicate?(commandId: string): void;
  onModeChange?(mode: 'default' | 'remote'): void;
  /** A lapse was recorded that the cloud should hear of now (in an online status). */
  onLapse?(): void;
  /** Answers and held setpoints that survive a restart; in memory when not given (tests). */
  ledger?: CommandLedger;
  log: Logger;
  now?: () => number;
}

interface RemoteEntry {
  commandId: string;
  w: number;
  expiresAt: number;
}

/** A constant-var or constant-PF setpoint held until it expires (re-written before the device reverts). */
interface ReactiveEntry {
  commandId: string;
  sp: Extract<Setpoint, { type: 'reactive_power' | 'power_factor' }>;
  expiresAt: number;
  atMs: number;
}

interface PendingAck {
  devices: Set<string>;
  applied: Record<string, number | boolean>;
  notes: string[];
  key: 'w';
  multi: boolean;
}

interface Written {
  value: number;
  atMs: number;
  /** From when readings can show `value` (see ControllerSettings.setpointSettleMs). */
  settledAt: number;
}

export interface ControllerStats {
  cycles: number;
  writes: number;
  writeErrors: number;
  commands: Record<'applied' | 'refused' | 'expired', number>;
}

export class Controller {
  private readonly battery = new Map<string, RemoteEntry>();
  private readonly pvLimit = new Map<string, RemoteEntry>();
  private readonly reactive = new Map<string, ReactiveEntry>();
  private readonly pending = new Map<string, PendingAck>();
  private readonly written = new Map<string, Written>();
  /** Command id → ack (QoS 1 redelivery, the cloud's re-send), held setpoints, lapses: persistent. */
  readonly ledger: CommandLedger;
  private readonly applying = new Set<string>(); // immediate commands being written right now
  private timer?: NodeJS.Timeout;
  private busy = false;
  /** Immediate commands the last process died writing: settled by reading their devices back. */
  private unsettled: InFlight[];
  /** Devices whose var/PF setpoint lapsed with the restart: told `reactive_default` once they are open. */
  private readonly resetReactive: Set<string>;
  mode: 'default' | 'remote' = 'default';
  lastDecision?: Decision;
  readonly stats: ControllerStats = {
    cycles: 0,
    writes: 0,
    writeErrors: 0,
    commands: { applied: 0, refused: 0, expired: 0 },
  };

  constructor(private readonly deps: ControllerDeps) {
    this.ledger = deps.ledger ?? new CommandLedger(':memory:');
    // A new process follows no remote setpoint yet: what the last one held has lapsed (the cloud is
    // told in the next online status and re-asserts what it still wants).
    // The constant var/PF the last process kept on its devices: ended here, as the lapse says.
    this.resetReactive = new Set(this.ledger.heldReactive(this.now()));
    const lapsed = this.ledger.lapseHeld(this.now(), 'edge agent restarted: default mode');
    if (lapsed.length)
      deps.log.warn({ commands: lapsed.map((l) => l.commandId) }, 'remote setpoints lapsed by the restart');
    this.unsettled = this.ledger.inflight();
    if (this.unsettled.length)
      deps.log.warn(
        { commands: this.unsettled.map((f) => f.commandId) },
        'the agent stopped while writing these commands: reading the devices back',
      );
  }

  /**
   * A command the last process was writing when it died has no answer: whether the devices took it is
   * read back from them (once they are open) rather than guessed. Taken: a held var/PF setpoint has
   * lapsed with the restart (reported in the next status); a volt-var or connect stays in force and is
   * acknowledged `applied`. Not taken: refused (or expired, past its expiry), nothing written now.
   * A driver that cannot read back leaves the outcome unknown, reported as a lapse that says so.
   */
  private async settleInflight(byId: Map<string, DeviceDriver>): Promise<void> {
    for (const f of [...this.unsettled]) {
      if (!f.targets.every((t) => byId.has(t.device))) continue; // not open yet: next cycle
      const taken: string[] = [];
      const unknown: string[] = [];
      try {
        for (const t of f.targets) {
          const d = byId.get(t.device) as DeviceDriver;
          const held = d.holds ? await d.holds(t.sp) : undefined;
          if (held === undefined) unknown.push(t.device);
          else if (held) taken.push(t.device);
        }
      } catch (err) {
        this.deps.log.warn(
          { command: f.commandId, err: (err as Error).message },
          'read-back failed: retrying',
        );
        continue;
      }
      this.unsettled.splice(this.unsettled.indexOf(f), 1);
      const now = this.now();
      const sp = f.targets[0].sp;
      const heldKind = sp.type === 'reactive_power' || sp.type === 'power_factor';
      if (taken.length || unknown.length) {
        const what = taken.length
          ? `the agent restarted while writing it; read back, ${taken.join(', ')} held it`
          : `the agent restarted while writing it; ${unknown.join(', ')} cannot be read back: whether it was taken is unknown`;
        if (heldKind || unknown.length) {
          // Default mode, as the lapse says: the device's own reactive default, not the dead command.
          if (heldKind)
            for (const id of taken)
              await (byId.get(id) as DeviceDriver).apply({ type: 'reactive_default' }).catch((err: Error) => {
                this.deps.log.warn({ device: id, err: err.message }, 'reactive default after restart failed');
              });
          this.ledger.lapseInflight(f.commandId, [...taken, ...unknown], 'reactive', {
            at: now,
            reason: `${what}: default mode`,
          });
          this.deps.log.warn(
            { command: f.commandId, taken, unknown },
            'in-flight command lapsed by the restart',
          );
          this.deps.onLapse?.();
        } else this.ack({ commandId: f.commandId, status: 'applied', reason: what }, f.expiresAt);
        continue;
      }
      this.ack(
        {
          commandId: f.commandId,
          status: now >= f.expiresAt ? 'expired' : 'refused',
          reason: 'the agent restarted before the device took it: nothing applied',
        },
        f.expiresAt,
      );
    }
  }

  /** Remote setpoints dropped before their expiry, for the cloud (newest first). */
  lapses(): Lapse[] {
    return this.ledger.lapses();
  }

  private uplinkLost(now: number): boolean {
    const up = this.deps.uplink();
    return (
      !up.connected &&
      up.lastDisconnectMs !== undefined &&
      now - up.lastDisconnectMs > this.deps.settings.uplinkLossS * 1000
    );
  }

  private lossReason(): string {
    return `uplink lost for more than ${this.deps.settings.uplinkLossS} s: default mode`;
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.cycle(), this.deps.settings.cycleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stores the answer (before it leaves: a restart must find it) and sends it. */
  private ack(a: Omit<Ack, 'v' | 'site' | 'ts'>, expiresAt: number | undefined): void {
    const ack: Ack = { v: SCHEMA_VERSION, site: this.deps.site, ts: this.now(), ...a };
    if (ack.reason && ack.reason.length > 500) ack.reason = `${ack.reason.slice(0, 497)}...`;
    this.ledger.recordAck(ack, expiresAt, ack.ts);
    this.stats.commands[ack.status]++;
    this.deps.log.info(
      { command: ack.commandId, status: ack.status, applied: ack.applied, reason: ack.reason },
      'command acknowledged',
    );
    this.deps.sendAck(ack);
  }

  /** Handles one raw command payload from the uplink. */
  async handleCommand(payload: Buffer | string): Promise<void> {
    const drivers = this.deps.drivers();
    const v = validateCommand(payload, {
      site: this.deps.site,
      now: this.now(),
      devices: drivers.map((d) => ({
        id: d.id,
        kind: d.kind,
        controls: this.deps.settings.enabled ? d.controls : [],
      })),
    });
    // A command id seen before (QoS 1 redelivery, or the cloud re-sending open commands on reconnect)
    // gets its first answer again, even if it has expired since: never applied twice, never two verdicts.
    const id = v.ok ? v.command.id : v.commandId;
    if (id !== undefined) {
      const previous = this.ledger.ack(id);
      if (previous || this.pending.has(id) || this.applying.has(id)) this.deps.onDuplicate?.(id);
      if (previous) {
        this.deps.log.info(
          { command: id, status: previous.status },
          'command delivered again; same ack re-sent',
        );
        this.deps.sendAck(previous, true);
        return;
      }
      if (this.pending.has(id) || this.applying.has(id)) return; // its ack is on the way
      // The last process died writing it (the broker delivers it again after the restart): the
      // read-back settles it, or already has as a lapse. Writing it now would apply it twice.
      const readBack = this.unsettled.some((f) => f.commandId === id);
      if (readBack || this.ledger.lapsedWithoutAck(id)) {
        this.deps.onDuplicate?.(id);
        this.deps.log.info(
          { command: id },
          readBack
            ? 'command delivered again while its devices are read back; not applied again'
            : 'command delivered again after its lapse by the restart; not applied again',
        );
        return;
      }
    }
    if (!v.ok) {
      this.deps.log.warn({ reason: v.reason, command: v.commandId }, 'command refused');
      if (v.commandId)
        this.ack({ commandId: v.commandId, status: v.status, reason: v.reason }, salvageExpiry(payload));
      else this.stats.commands.refused++;
      return;
    }
    const c = v.command;
    const byId = new Map(drivers.map((d) => [d.id, d]));
    if (c.type === 'battery_power' || c.type === 'active_power_limit') {
      const targets = v.devices.map((id) => byId.get(id) as DeviceDriver);
      // A site-wide value is shared in proportion to the devices' ratings.
      const rating = (d: DeviceDriver) =>
        c.type === 'battery_power'
          ? ((c.w >= 0 ? d.nameplate.w_discharge_max : d.nameplate.w_charge_max) ?? d.nameplate.w_max ?? 1)
          : (d.nameplate.w_max ?? 1);
      const total = targets.reduce((a, d) => a + rating(d), 0) || 1;
      const store = c.type === 'battery_power' ? this.battery : this.pvLimit;
      for (const d of targets) {
        store.set(d.id, {
          commandId: c.id,
          w: targets.length === 1 ? c.w : (c.w * rating(d)) / total,
          expiresAt: c.expiresAt,
        });
        this.ledger.hold(d.id, c.type === 'battery_power' ? 'battery' : 'pvLimit', c.id, c.expiresAt);
      }
      this.pending.set(c.id, {
        devices: new Set(v.devices),
        applied: {},
        notes: [],
        key: 'w',
        multi: targets.length > 1,
      });
      await this.cycle();
      return;
    }
    // Immediate commands: clamp, write, read back, acknowledge.
    const applied: Record<string, number | boolean> = {};
    const notes: string[] = [];
    this.applying.add(c.id);
    try {
      const targets: { device: string; sp: Setpoint }[] = [];
      for (const id of v.devices) {
        const d = byId.get(id) as DeviceDriver;
        let sp: Setpoint;
        if (c.type === 'reactive_power') {
          const lim = d.nameplate.var_max ?? d.nameplate.va_max;
          if (lim === undefined)
            throw new Error(`${id}: no reactive power rating known: refusing an unbounded write`);
          const x = Math.max(-lim, Math.min(lim, c.var));
          if (x !== c.var) notes.push(`${id}: clamped ${c.var} var to ${x} var (rated ±${lim})`);
          sp = { type: 'reactive_power', var: Math.round(x) };
        } else if (c.type === 'power_factor') sp = { type: 'power_factor', pf: c.pf };
        else if (c.type === 'volt_var') sp = { type: 'volt_var', enabled: c.enabled };
        else sp = { type: 'connect', connected: c.connected };
        targets.push({ device: id, sp });
      }
      // Written ahead: a kill between a register write and the ack must not leave the outcome unknown.
      this.ledger.beginApply({ commandId: c.id, targets, expiresAt: c.expiresAt, startedAt: this.now() });
      for (const { device: id, sp } of targets) {
        const d = byId.get(id) as DeviceDriver;
        const got = await d.apply(sp, { stillWanted: () => this.now() < c.expiresAt });
        // Constant var / PF hold until the command expires; volt-var replaces them (modes are exclusive).
        if (sp.type === 'reactive_power' || sp.type === 'power_factor') {
          this.reactive.set(id, { commandId: c.id, sp, expiresAt: c.expiresAt, atMs: this.now() });
          this.ledger.hold(id, 'reactive', c.id, c.expiresAt);
        } else if (sp.type === 'volt_var' && sp.enabled) {
          const held = this.reactive.get(id);
          this.reactive.delete(id);
          if (held) this.ledger.release(id, 'reactive', held.commandId);
        }
        if (sp.type === 'power_factor' && typeof got.pf === 'number' && Math.abs(got.pf - sp.pf) > 0.0005)
          notes.push(`${id}: power factor ${sp.pf} outside the device's rating: applied ${got.pf}`);
        for (const [k, x] of Object.entries(got)) applied[v.devices.length > 1 ? `${id}.${k}` : k] = x;
      }
      this.ack(
        {
          commandId: c.id,
          status: 'applied',
          applied,
          ...(notes.length && { reason: notes.join('; ') }),
        },
        c.expiresAt,
      );
    } catch (err) {
      if (err instanceof SetpointExpiredError) {
        // Nothing was written after the expiry; what a device took before it is reported with it.
        this.ack(
          {
            commandId: c.id,
            status: 'expired',
            reason: err.message,
            ...(Object.keys(applied).length && { applied }),
          },
          c.expiresAt,
        );
        return;
      }
      this.ack(
        {
          commandId: c.id,
          status: 'refused',
          reason: `write failed: ${(err as Error).message}`,
          ...(Object.keys(applied).length && { applied }),
        },
        c.expiresAt,
      );
    } finally {
      this.applying.delete(c.id);
    }
  }

  /** Drops remote setpoints that expired or that the uplink loss makes unsafe to keep. */
  private expire(now: number): void {
    const lost = this.uplinkLost(now);
    for (const [kind, store] of [
      ['battery', this.battery],
      ['pvLimit', this.pvLimit],
    ] as const) {
      for (const [id, e] of store) {
        if (e.expiresAt <= now || lost) {
          store.delete(id);
          const early = e.expiresAt > now;
          const waiting = this.pending.get(e.commandId);
          if (!early && waiting?.devices.has(id)) {
            // Expired before this device could be written (e.g. it was frozen): say so, once.
            this.pending.delete(e.commandId);
            this.ack(
              {
                commandId: e.commandId,
                status: 'expired',
                reason: `${id}: command expired before the device could be written`,
                ...(Object.keys(waiting.applied).length && { applied: waiting.applied }),
              },
              e.expiresAt,
            );
          }
          this.ledger.release(
            id,
            kind,
            e.commandId,
            early ? { at: now, reason: this.lossReason() } : undefined,
          );
          this.deps.log.info(
            { device: id, command: e.commandId, reason: lost ? 'uplink lost' : 'expired' },
            'remote setpoint dropped: default mode',
          );
        }
      }
    }
  }

  snapshot(now: number): Snapshot {
    const snap: Snapshot = { ts: now, pv: [], batteries: [] };
    for (const d of this.deps.drivers()) {
      const l = this.deps.latest(d.id);
      // Fresh = newer than three poll intervals (and at least 3 s); stale data must not steer the site.
      const fresh = l !== undefined && now - l.atMs <= Math.max(3 * l.pollMs, 3000);
      const good = (p: keyof Reading['values']) =>
        fresh && l && l.reading.quality[p] === undefined ? l.reading.values[p] : undefined;
      const sampledAt = l?.sampledAtMs ?? l?.atMs;
      if (d.kind === 'meter' && snap.meterW === undefined) {
        snap.meterW = good('w');
        if (snap.meterW !== undefined) snap.meterSampledAt = sampledAt;
      }
      if (d.kind === 'inverter' && d.controls.includes('active_power_limit') && d.nameplate.w_max) {
        snap.pv.push({ id: d.id, w: good('w'), wMax: d.nameplate.w_max });
      }
      if (d.kind === 'battery' && d.controls.includes('battery_power')) {
        const np = d.nameplate;
        const w = good('w');
        const last = this.written.get(d.id);
        snap.batteries.push({
          id: d.id,
          w,
          socPct: good('soc_pct'),
          chargeMaxW: np.w_charge_max ?? np.w_max ?? 0,
          dischargeMaxW: np.w_discharge_max ?? np.w_max ?? 0,
          ...(w !== undefined && sampledAt !== undefined && { sampledAt }),
          ...(last && { lastSetpoint: { w: last.value, settledAt: last.settledAt } }),
        });
      }
    }
    return snap;
  }

  remoteSetpoints(): RemoteSetpoints {
    const r: RemoteSetpoints = { battery: {}, pvLimit: {} };
    for (const [id, e] of this.battery) r.battery[id] = e.w;
    for (const [id, e] of this.pvLimit) r.pvLimit[id] = e.w;
    return r;
  }

  /** One control cycle. Cycles never overlap: a slow write delays the next cycle, never doubles it. */
  async cycle(): Promise<void> {
    if (this.busy || !this.deps.settings.enabled) return;
    this.busy = true;
    try {
      const now = this.now();
      this.stats.cycles++;
      this.expire(now);
      const snap = this.snapshot(now);
      const decision = decide(snap, this.remoteSetpoints(), this.deps.settings);
      this.lastDecision = decision;
      if (decision.mode !== this.mode) {
        this.mode = decision.mode;
        this.deps.log.info({ mode: this.mode }, 'control mode changed');
        this.deps.onModeChange?.(this.mode);
      }
      const byId = new Map(this.deps.drivers().map((d) => [d.id, d]));
      if (this.unsettled.length) await this.settleInflight(byId);
      for (const id of this.resetReactive) {
        const d = byId.get(id);
        if (!d || this.reactive.has(id)) {
          if (this.reactive.has(id)) this.resetReactive.delete(id); // a new command took over
          continue;
        }
        try {
          await d.apply({ type: 'reactive_default' });
          this.resetReactive.delete(id);
          this.deps.log.info({ device: id }, 'reactive setpoint of the last process ended: device default');
        } catch (err) {
          this.deps.log.warn(
            { device: id, err: (err as Error).message },
            'reactive default after restart failed',
          );
        }
      }
      const jobs: Array<[string, Setpoint, RemoteEntry | undefined, number]> = [];
      for (const [id, w] of Object.entries(decision.battery))
        jobs.push([
          id,
          { type: 'battery_power', w },
          this.battery.get(id),
          Math.max(this.deps.settings.deadbandW, 1),
        ]);
      for (const p of snap.pv) {
        const w = decision.pvLimit[p.id];
        jobs.push([
          p.id,
          { type: 'active_power_limit', w },
          this.pvLimit.get(p.id),
          Math.max(this.deps.settings.deadbandW, p.wMax * 0.005),
        ]);
      }
      for (const [id, sp, remote, band] of jobs) {
        const d = byId.get(id);
        if (!d) continue;
        const value = (sp as { w: number }).w;
        const pendingAck = remote && this.pending.get(remote.commandId);
        const last = this.written.get(id);
        const refreshMs = ((d.revertS ?? 60) * 1000) / 2;
        const due =
          !last ||
          Math.abs(last.value - value) >= band ||
          now - last.atMs >= refreshMs ||
          pendingAck?.devices.has(id);
        if (!due) continue;
        try {
          const got = await d.apply(
            sp,
            remote ? { stillWanted: () => this.now() < remote.expiresAt } : undefined,
          );
          this.stats.writes++;
          // A refresh of (about) the same value changes nothing the readings could lag behind.
          const settledAt =
            last && Math.abs(last.value - value) < band
              ? last.settledAt
              : this.now() + (this.deps.settings.setpointSettleMs ?? DEFAULT_SETPOINT_SETTLE_MS);
          this.written.set(id, { value, atMs: now, settledAt });
          if (pendingAck && remote) {
            pendingAck.devices.delete(id);
            pendingAck.applied[pendingAck.multi ? `${id}.w` : 'w'] = got.w as number;
            for (const n of decision.notes[id] ?? [])
              pendingAck.notes.push(pendingAck.multi ? `${id}: ${n}` : n);
            if (pendingAck.devices.size === 0) {
              this.pending.delete(remote.commandId);
              this.ack(
                {
                  commandId: remote.commandId,
                  status: 'applied',
                  applied: pendingAck.applied,
                  ...(pendingAck.notes.length && { reason: pendingAck.notes.join('; ') }),
                },
                remote.expiresAt,
              );
            }
          }
        } catch (err) {
          this.stats.writeErrors++;
          this.deps.log.warn(
            { device: id, setpoint: sp, err: (err as Error).message },
            'control write failed',
          );
          if (pendingAck && remote) {
            this.pending.delete(remote.commandId);
            const kind: HeldKind = sp.type === 'battery_power' ? 'battery' : 'pvLimit';
            (kind === 'battery' ? this.battery : this.pvLimit).delete(id);
            this.ledger.release(id, kind, remote.commandId);
            this.ack(
              {
                commandId: remote.commandId,
                status: 'refused',
                reason: `${id}: write failed: ${(err as Error).message}`,
              },
              remote.expiresAt,
            );
          }
        }
      }
      await this.holdReactive(now, byId);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Constant var / PF setpoints: re-written every revertS/2 so the device's revert timer (the
   * fail-safe for a dead gateway) never fires while the command is valid, and ended explicitly when
   * it expires or the uplink has been lost too long, rather than up to revertS later.
   */
  private async holdReactive(now: number, byId: Map<string, DeviceDriver>): Promise<void> {
    const lost = this.uplinkLost(now);
    for (const [id, e] of this.reactive) {
      const d = byId.get(id);
      if (!d) continue;
      const end = e.expiresAt <= now || lost;
      if (!end && now - e.atMs < ((d.revertS ?? 60) * 1000) / 2) continue;
      try {
        if (end) {
          this.reactive.delete(id);
          this.ledger.release(
            id,
            'reactive',
            e.commandId,
            e.expiresAt > now ? { at: now, reason: this.lossReason() } : undefined,
          );
          await d.apply({ type: 'reactive_default' });
          this.deps.log.info(
            { device: id, command: e.commandId, reason: lost ? 'uplink lost' : 'expired' },
            'reactive setpoint ended: device default',
          );
        } else {
          await d.apply(e.sp, { stillWanted: () => this.now() < e.expiresAt });
          e.atMs = now;
        }
        this.stats.writes++;
      } catch (err) {
        this.stats.writeErrors++;
        this.deps.log.warn(
          { device: id, setpoint: end ? 'reactive_default' : e.sp, err: (err as Error).message },
          'reactive setpoint write failed',
        );
      }
    }
  }
}

/** Best effort: the expiry of an invalid command, to know how long its refusal must be remembered. */
function salvageExpiry(payload: Buffer | string): number | undefined {
  try {
    const e = (JSON.parse(payload.toString()) as { expiresAt?: unknown }).expiresAt;
    return typeof e === 'number' && Number.isFinite(e) ? e : undefined;
  } catch {
    return undefined;
  }
}
