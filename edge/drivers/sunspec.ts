import { AsyncLocalStorage } from 'node:async_hooks';
/**
 * SunSpec device driver (inverter, battery, meter) over any Modbus line. Learns the device from what
 * it advertises — 7xx (IEEE 1547-2018) models preferred, 1xx otherwise — reads only the models it needs
 * each poll, normalizes them to canonical points and writes setpoints with the device's own revert timer.
 */
import type { DeviceKind, Nameplate } from '../../protocols/canonical/points.ts';
import { ModbusError, type RegisterIO } from '../../protocols/modbus/client.ts';
import type { CommandType } from '../../protocols/mqtt/payloads.ts';
import { type DecodedModel, decodeModel, encodeWrite } from '../../protocols/sunspec/codec.ts';
import { discoverUnit, type ModelLocation, readModelRegisters } from '../../protocols/sunspec/discovery.ts';
import { type Quirks, quirksFor } from '../quirks.ts';
import { nameplateFrom, normalize } from './normalize.ts';
import {
  type Applied,
  type ApplyOptions,
  controlOf,
  type DeviceDriver,
  type DeviceIdentity,
  type Reading,
  type Setpoint,
  SetpointExpiredError,
} from './types.ts';

const MEASUREMENT_PREF = [701, 103, 102, 101, 113, 112, 111];
const METER_PREF = [203, 204, 202, 201, 213, 214, 212, 211];
const STORAGE_PREF = [802, 713, 124];

export interface SunSpecDriverOptions {
  id: string;
  unit: number;
  io: RegisterIO;
  protocol: 'sunspec-tcp' | 'sunspec-rtu';
  kind?: DeviceKind;
  revertS?: number;
  readOnly?: boolean;
  now?: () => number;
}

export class SunSpecError extends Error {}

/** The running apply()'s check that its command is still in force (see ApplyOptions), per async chain. */
const applyGuard = new AsyncLocalStorage<(() => boolean) | undefined>();

/** Kind from the models a device advertises. */
export function kindFromModels(ids: number[]): DeviceKind | undefined {
  if (ids.some((id) => METER_PREF.includes(id))) return 'meter';
  if (ids.some((id) => STORAGE_PREF.includes(id))) return 'battery';
  if (ids.some((id) => MEASUREMENT_PREF.includes(id))) return 'inverter';
  return undefined;
}

export class SunSpecDriver implements DeviceDriver {
  readonly id: string;
  readonly protocol: 'sunspec-tcp' | 'sunspec-rtu';
  readonly unit: number;
  readonly io: RegisterIO;
  kind: DeviceKind = 'inverter';
  identity: DeviceIdentity = {};
  nameplate: Nameplate = {};
  controls: CommandType[] = [];
  quirks: Quirks = {};
  readonly revertS: number;
  /** Where `SunS` was found. */
  base?: number;
  models: ModelLocation[] = [];
  /** Latest raw registers per model id (also what the local Modbus proxy re-serves). */
  readonly cache = new Map<number, number[]>();
  /** When each cached model was last read from (or written to) the device, epoch ms. */
  readonly cacheAt = new Map<number, number>();
  private pollModels: ModelLocation[] = [];
  private opened = false;
  private readonly now: () => number;
  private readonly readOnly: boolean;
  private revertArmed = new Set<string>();
  /** Lowest |PF| the device is rated for, over- and under-excited (702 PFOvrExtRtg / PFUndExtRtg). */
  pfMin: { over?: number; under?: number } = {};

  constructor(private readonly opts: SunSpecDriverOptions) {
    this.id = opts.id;
    this.unit = opts.unit;
    this.io = opts.io;
    this.protocol = opts.protocol;
    this.revertS = opts.revertS ?? 60;
    this.readOnly = opts.readOnly === true;
    this.now = opts.now ?? Date.now;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  has(id: number): boolean {
    return this.models.some((m) => m.id === id);
  }

  private loc(id: number): ModelLocation | undefined {
    return this.models.find((m) => m.id === id && m.def);
  }

  async open(): Promise<void> {
    const d = await discoverUnit(this.io, this.unit);
    if (d.base === undefined || d.models.length === 0) {
      throw new SunSpecError(d.errors[0] ?? `${this.io.endpoint} unit ${this.unit}: not a SunSpec device`);
    }
    this.base = d.base;
    this.models = d.models;
    // Read every known model once: identity, nameplate, and a full register image for the proxy.
    const decoded: DecodedModel[] = [];
    for (const m of this.models) {
      if (!m.def) continue;
      const regs = await readModelRegisters(this.io, this.unit, m);
      this.remember(m.id, regs);
      decoded.push(decodeModel(m.def, regs));
    }
    const common = decoded.find((m) => m.id === 1)?.values ?? {};
    const str = (x: unknown) => (typeof x === 'string' && x.trim() ? x.trim() : undefined);
    this.identity = {
      manufacturer: str(common.Mn),
      model: str(common.Md),
      serial: str(common.SN),
      firmware: str(common.Vr),
      models: this.models.map((m) => m.id),
    };
    this.quirks = quirksFor(this.identity);
    const ids = this.models.map((m) => m.id);
    const kind = this.opts.kind ?? kindFromModels(ids);
    if (!kind)
      throw new SunSpecError(
        `${this.io.endpoint} unit ${this.unit}: no inverter, storage or meter model (${ids.join(', ')})`,
      );
    this.kind = kind;
    this.nameplate = nameplateFrom(
      [702, 120, 802, 713, 124].flatMap((id) => decoded.filter((m) => m.id === id)),
    );
    const r702 = decoded.find((m) => m.id === 702)?.values ?? {};
    const pfRtg = (x: unknown) => (typeof x === 'number' && x > 0 && x <= 1 ? x : undefined);
    this.pfMin = { over: pfRtg(r702.PFOvrExtRtg), under: pfRtg(r702.PFUndExtRtg) };
    this.pollModels = this.choosePollModels();
    this.controls = this.readOnly ? [] : this.chooseControls();
    this.opened = true;
  }

  private first(pref: number[]): ModelLocation | undefined {
    for (const id of pref) {
      const l = this.loc(id);
      if (l) return l;
    }
    return undefined;
  }

  private usesLegacyControls(): boolean {
    return this.quirks.preferLegacyControls === true || !this.has(704);
  }

  private choosePollModels(): ModelLocation[] {
    const out: Array<ModelLocation | undefined> = [];
    if (this.kind === 'meter') out.push(this.first(METER_PREF));
    else {
      out.push(this.first(MEASUREMENT_PREF));
      if (this.kind === 'battery') out.push(this.first(STORAGE_PREF));
      if (this.kind === 'inverter') out.push(this.usesLegacyControls() ? this.loc(123) : this.loc(704));
    }
    return out.filter((m): m is ModelLocation => m !== undefined);
  }

  private chooseControls(): CommandType[] {
    const c: CommandType[] = [];
    const legacy = this.usesLegacyControls();
    if (this.kind === 'meter') return c;
    if (this.kind === 'inverter' && (legacy ? this.has(123) : this.has(704))) c.push('active_power_limit');
    if (this.kind === 'battery' && (this.has(704) || this.has(124))) c.push('battery_power');
    if (this.has(704)) c.push('reactive_power', 'power_factor');
    if (this.has(705)) c.push('volt_var');
    if (this.has(123)) c.push('connect');
    return c;
  }

  async poll(): Promise<Reading> {
    if (!this.opened) await this.open();
    const decoded: DecodedModel[] = [];
    for (const m of this.pollModels) {
      const regs = await readModelRegisters(this.io, this.unit, m);
      this.remember(m.id, regs);
      if (m.def) decoded.push(decodeModel(m.def, regs));
    }
    return normalize(decoded, {
      kind: this.kind,
      nameplate: this.nameplate,
      quirks: this.quirks,
      ts: this.now(),
    });
  }

  /** Re-reads one model and returns its decoded values. */
  async readValues(modelId: number): Promise<DecodedModel> {
    const m = this.loc(modelId);
    if (!m?.def) throw new SunSpecError(`${this.id}: device has no model ${modelId}`);
    const regs = await readModelRegisters(this.io, this.unit, m);
    this.remember(m.id, regs);
    return decodeModel(m.def, regs);
  }

  private remember(modelId: number, regs: number[]): void {
    this.cache.set(modelId, regs);
    this.cacheAt.set(modelId, this.now());
  }

  /**
   * Writes one point, rounding to what the point's scale factor can represent. `cyclic: false`
   * points (flash-backed on some devices) are skipped when they already hold the value.
   */
  async writePoint(modelId: number, path: string, value: number): Promise<void> {
    const stillWanted = applyGuard.getStore();
    if (stillWanted && !stillWanted()) throw new SetpointExpiredError(this.id);
    const m = this.loc(modelId);
    if (!m?.def) throw new SunSpecError(`${this.id}: device has no model ${modelId}`);
    let regs = this.cache.get(modelId);
    if (!regs) {
      regs = await readModelRegisters(this.io, this.unit, m);
      this.remember(modelId, regs);
    }
    if (this.quirks.noCyclicWrite?.includes(`${modelId}.${path}`)) {
      if (decodeModel(m.def, regs).values[path] === value) return;
    }
    let plan: { offset: number; registers: number[] };
    try {
      plan = encodeWrite(m.def, regs, path, value);
    } catch {
      // Round to the scale factor's resolution (e.g. 0.1 % for SF -1) and try once more.
      const sf = scaleOf(m.def, regs, path);
      const step = 10 ** sf;
      plan = encodeWrite(m.def, regs, path, Math.round(value / step) * step);
    }
    // The client asks stillWanted again when the write's turn on the line comes (after this read too).
    try {
      await this.io.writeHolding(this.unit, m.address + plan.offset, plan.registers, {
        stillWanted,
      });
    } catch (err) {
      if (err instanceof ModbusError && err.kind === 'not-wanted') throw new SetpointExpiredError(this.id);
      throw err;
    }
    const next = regs.slice();
    next.splice(plan.offset, plan.registers.length, ...plan.registers);
    this.cache.set(modelId, next);
  }

  /** Writes a revert timeout once per point (it is a configuration value, not a setpoint). */
  private async armRevert(modelId: number, point: string): Promise<void> {
    const key = `${modelId}.${point}`;
    if (this.revertArmed.has(key)) return;
    await this.writePoint(modelId, point, this.revertS);
    this.revertArmed.add(key);
  }

  /**
   * Constant var, constant PF and volt-var are mutually exclusive (IEEE 1547-2018 §5.3): devices
   * refuse enabling one while another is on, or silently keep following the old one. Switch the
   * others off first.
   */
  private async disableOtherReactiveModes(keep: 'var' | 'pf' | 'voltvar'): Promise<void> {
    const c = (await this.readValues(704)).values;
    if (keep !== 'var' && c.VarSetEna === 1) await this.writePoint(704, 'VarSetEna', 0);
    if (keep !== 'pf' && c.PFWInjEna === 1) await this.writePoint(704, 'PFWInjEna', 0);
    if (keep !== 'pf' && c.PFWAbsEna === 1) await this.writePoint(704, 'PFWAbsEna', 0);
    if (keep !== 'voltvar' && this.has(705) && (await this.readValues(705)).values.Ena === 1)
      await this.writePoint(705, 'Ena', 0);
  }

  async apply(sp: Setpoint, opts: ApplyOptions = {}): Promise<Applied> {
    // The check travels with this apply's own async calls: the control cycle may apply another
    // setpoint to the same device meanwhile, with a check of its own (or none).
    return applyGuard.run(opts.stillWanted, () => this.applyNow(sp));
  }

  private async applyNow(sp: Setpoint): Promise<Applied> {
    if (!this.opened) await this.open();
    if (!this.controls.includes(controlOf(sp))) {
      throw new SunSpecError(
        `${this.id} does not accept ${sp.type}${this.readOnly ? ' (read-only device)' : ''}`,
      );
    }
    switch (sp.type) {
      case 'active_power_limit': {
        const wMax = this.nameplate.w_max;
        if (!wMax) throw new SunSpecError(`${this.id}: no rated power known: cannot express a limit in %`);
        const pctv = Math.max(0, Math.min(100, (sp.w / wMax) * 100));
        if (this.usesLegacyControls()) {
          await this.armRevert(123, 'WMaxLimPct_RvrtTms');
          await this.writePoint(123, 'WMaxLimPct', pctv);
          await this.writePoint(123, 'WMaxLim_Ena', 1);
          const v = (await this.readValues(123)).values;
          const got = v.WMaxLim_Ena === 1 ? Number(v.WMaxLimPct) : 100;
          return { w: round((got / 100) * wMax), pct: got };
        }
        await this.armRevert(704, 'WMaxLimPctRvrtTms');
        await this.writePoint(704, 'WMaxLimPct', pctv);
        await this.writePoint(704, 'WMaxLimPctEna', 1);
        const v = (await this.readValues(704)).values;
        const got = v.WMaxLimPctEna === 1 ? Number(v.WMaxLimPct) : 100;
        return { w: round((got / 100) * wMax), pct: got };
      }
      case 'battery_power': {
        if (this.has(704) && !this.quirks.preferLegacyControls) {
          await this.armRevert(704, 'WSetRvrtTms');
          // Mode and enable are written every time: the device's revert timer may have cleared them.
          await this.writePoint(704, 'WSetMod', 1);
          await this.writePoint(704, 'WSet', Math.round(sp.w));
          await this.writePoint(704, 'WSetEna', 1);
          const v = (await this.readValues(704)).values;
          return { w: v.WSetEna === 1 && v.WSetMod === 1 ? Number(v.WSet) : 0 };
        }
        const dis = this.nameplate.w_discharge_max ?? this.nameplate.w_max;
        const cha = this.nameplate.w_charge_max ?? this.nameplate.w_max;
        if (!dis || !cha) throw new SunSpecError(`${this.id}: no charge/discharge rating known`);
        await this.armRevert(124, 'InOutWRte_RvrtTms');
        if (sp.w > 0) {
          await this.writePoint(124, 'OutWRte', Math.min(100, (sp.w / dis) * 100));
          await this.writePoint(124, 'StorCtl_Mod', 2);
        } else if (sp.w < 0) {
          await this.writePoint(124, 'InWRte', Math.min(100, (-sp.w / cha) * 100));
          await this.writePoint(124, 'StorCtl_Mod', 1);
        } else await this.writePoint(124, 'StorCtl_Mod', 0);
        const v = (await this.readValues(124)).values;
        const mode = Number(v.StorCtl_Mod ?? 0);
        const w = mode & 2 ? (Number(v.OutWRte) / 100) * dis : mode & 1 ? -(Number(v.InWRte) / 100) * cha : 0;
        return { w: round(w) };
      }
      case 'reactive_power': {
        await this.disableOtherReactiveModes('var');
        await this.armRevert(704, 'VarSetRvrtTms');
        await this.writePoint(704, 'VarSetMod', 4);
        await this.writePoint(704, 'VarSet', Math.round(sp.var));
        await this.writePoint(704, 'VarSetEna', 1);
        const v = (await this.readValues(704)).values;
        return { var: v.VarSetEna === 1 ? Number(v.VarSet) : 0 };
      }
      case 'power_factor': {
        await this.disableOtherReactiveModes('pf');
        await this.armRevert(704, 'PFWInjRvrtTms');
        // Below its rated minimum a device refuses the write or silently saturates: clamp here.
        const min = (sp.pf < 0 ? this.pfMin.under : this.pfMin.over) ?? 0;
        await this.writePoint(704, 'PFWInj.PF', Math.max(min, Math.abs(sp.pf)));
        await this.writePoint(704, 'PFWInj.Ext', sp.pf < 0 ? 1 : 0);
        await this.writePoint(704, 'PFWInjEna', 1);
        const d = await this.readValues(704);
        const g = d.groups.PFWInj?.[0]?.values ?? {};
        const pf = Number(g.PF ?? 1);
        return { pf: g.Ext === 1 ? -pf : pf, enabled: d.values.PFWInjEna === 1 };
      }
      case 'reactive_default': {
        const c = (await this.readValues(704)).values;
        if (c.VarSetEna === 1) await this.writePoint(704, 'VarSetEna', 0);
        if (c.PFWInjEna === 1) await this.writePoint(704, 'PFWInjEna', 0);
        const v = (await this.readValues(704)).values;
        return { var_mode: v.VarSetEna === 1, pf_mode: v.PFWInjEna === 1 };
      }
      case 'volt_var': {
        if (sp.enabled && this.has(704)) await this.disableOtherReactiveModes('voltvar');
        await this.writePoint(705, 'Ena', sp.enabled ? 1 : 0);
        return { enabled: (await this.readValues(705)).values.Ena === 1 };
      }
      case 'connect': {
        await this.writePoint(123, 'Conn', sp.connected ? 1 : 0);
        return { connected: (await this.readValues(123)).values.Conn === 1 };
      }
    }
  }

  async holds(sp: Setpoint): Promise<boolean> {
    const near = (a: unknown, b: number, tol: number) => typeof a === 'number' && Math.abs(a - b) <= tol;
    switch (sp.type) {
      case 'reactive_power':
        return near((await this.readValues(704)).values.VarSet, Math.round(sp.var), 0.5);
      case 'power_factor': {
        const g = (await this.readValues(704)).groups.PFWInj?.[0]?.values ?? {};
        return near(g.PF, Math.abs(sp.pf), 0.0005) && g.Ext === (sp.pf < 0 ? 1 : 0);
      }
      case 'volt_var':
        return (await this.readValues(705)).values.Ena === (sp.enabled ? 1 : 0);
      case 'connect':
        return (await this.readValues(123)).values.Conn === (sp.connected ? 1 : 0);
      default:
        // Powers are reshaped every control cycle (limits, shares): a read-back cannot name the command.
        throw new SunSpecError(`${this.id}: no read-back of ${sp.type} setpoints`);
    }
  }

  async close(): Promise<void> {
    this.opened = false;
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

function scaleOf(
  def: import('../../protocols/sunspec/types.ts').ModelDef,
  regs: number[],
  path: string,
): number {
  const leaf = path.split('.').pop() ?? path;
  const all = [def.group.points, ...(def.group.groups ?? []).map((g) => g.points)].flat();
  const p = all.find((x) => x.name === leaf);
  if (!p?.sf) return 0;
  const v = decodeModel(def, regs).values[p.sf];
  return typeof v === 'number' ? v : 0;
}
