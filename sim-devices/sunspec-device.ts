/**
 * A simulated SunSpec device: a register map at base 40000 ("SunS", models, end marker) that behaves
 * like real hardware on the wire — reads outside the map and writes to read-only or out-of-range
 * points get Modbus exceptions — plus typed access to its points for the device's physics.
 */
import {
  decodeModel,
  encodeModel,
  encodeRaw,
  type GroupInput,
  type PointValue,
} from '../protocols/sunspec/codec.ts';
import { getModel } from '../protocols/sunspec/models/index.ts';
import type { GroupDef, ModelDef, PointDef } from '../protocols/sunspec/types.ts';

export const SUNSPEC_BASE = 40000;

/** Modbus exception codes a device answers with. */
export const ILLEGAL_ADDRESS = 0x02;
export const ILLEGAL_VALUE = 0x03;

export class ModbusException extends Error {
  constructor(
    readonly modbusErrorCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface RegisterSlot {
  model: SimModel;
  point: PointDef;
  /** Offset of the point's first register from the model's ID register. */
  pointOffset: number;
  /** Top-level point name, or undefined for points inside repeating groups. */
  topLevel: boolean;
}

/** One model inside a device's register map. */
export class SimModel {
  /** Top-level point → offset from the model's ID register. */
  private readonly offsets = new Map<string, number>();
  private readonly points = new Map<string, PointDef>();

  constructor(
    readonly def: ModelDef,
    readonly address: number,
    readonly length: number,
    private readonly regs: Uint16Array,
  ) {
    let off = 0;
    for (const p of def.group.points) {
      this.offsets.set(p.name, off);
      this.points.set(p.name, p);
      off += p.size;
    }
  }

  get id(): number {
    return this.def.id;
  }

  /** Current value of a top-level point in engineering units (scale factor applied). */
  get(name: string): PointValue | undefined {
    return this.decode().values[name];
  }

  decode() {
    return decodeModel(this.def, this.regs.subarray(this.address, this.address + this.length + 2));
  }

  /** Sets a top-level point (device side: no access check), scaled with the current scale factor. */
  set(name: string, value: PointValue | undefined): void {
    const p = this.points.get(name);
    const off = this.offsets.get(name);
    if (!p || off === undefined) throw new Error(`model ${this.def.id} has no point ${name}`);
    let sf: number | undefined;
    if (p.sf !== undefined) {
      const sfOff = this.offsets.get(p.sf);
      if (sfOff !== undefined) {
        const raw = this.regs[this.address + sfOff];
        sf = raw === 0x8000 ? undefined : raw > 0x7fff ? raw - 0x10000 : raw;
      }
    }
    const words = encodeRaw(p, value, sf);
    this.regs.set(words, this.address + off);
  }

  setMany(values: Record<string, PointValue | undefined>): void {
    for (const [k, v] of Object.entries(values)) this.set(k, v);
  }
}

export interface ModelSpec {
  id: number;
  input: GroupInput;
}

/** Validates a client's write to a point; returns a reason to refuse it, or undefined to accept. */
export type WriteValidator = (
  model: SimModel,
  point: string,
  value: PointValue | undefined,
) => string | undefined;

export abstract class SimSunSpecDevice {
  readonly regs = new Uint16Array(0x10000);
  readonly models: SimModel[] = [];
  private readonly slots = new Map<number, RegisterSlot>();
  readonly mapEnd: number;
  /** Set false to make the device stop answering (unplugged). */
  online = true;
  protected validators: WriteValidator[] = [];

  constructor(specs: ModelSpec[]) {
    this.regs.set([0x5375, 0x6e53], SUNSPEC_BASE);
    let addr = SUNSPEC_BASE + 2;
    for (const spec of specs) {
      const def = getModel(spec.id);
      if (!def) throw new Error(`no SunSpec model definition ${spec.id}`);
      const words = encodeModel(def, spec.input);
      this.regs.set(words, addr);
      const model = new SimModel(def, addr, words.length - 2, this.regs);
      this.models.push(model);
      this.indexSlots(model, def.group, spec.input, 0, true);
      addr += words.length;
    }
    this.regs.set([0xffff, 0], addr);
    this.mapEnd = addr + 2;
  }

  private indexSlots(model: SimModel, g: GroupDef, input: GroupInput, at: number, topLevel: boolean): number {
    let off = at;
    for (const p of g.points) {
      for (let i = 0; i < p.size; i++)
        this.slots.set(model.address + off + i, { model, point: p, pointOffset: off, topLevel });
      off += p.size;
    }
    for (const sub of g.groups ?? []) {
      for (const inst of input.groups?.[sub.name] ?? []) off = this.indexSlots(model, sub, inst, off, false);
    }
    return off;
  }

  model(id: number): SimModel {
    const m = this.models.find((x) => x.id === id);
    if (!m) throw new Error(`device has no model ${id}`);
    return m;
  }

  hasModel(id: number): boolean {
    return this.models.some((m) => m.id === id);
  }

  /** Modbus read of holding registers. */
  read(address: number, length: number): number[] {
    if (address < SUNSPEC_BASE || address + length > this.mapEnd) {
      throw new ModbusException(ILLEGAL_ADDRESS, `read ${address}+${length} outside the register map`);
    }
    return Array.from(this.regs.subarray(address, address + length));
  }

  /**
   * Modbus write: every register touched must belong to a read-write point, and every point touched
   * must decode to an acceptable value; otherwise nothing is written (as a real device would).
   */
  write(address: number, values: number[]): void {
    const touched = new Map<string, RegisterSlot>();
    for (let i = 0; i < values.length; i++) {
      const slot = this.slots.get(address + i);
      if (!slot) throw new ModbusException(ILLEGAL_ADDRESS, `write to ${address + i}: not a point`);
      if (slot.point.access !== 'RW') {
        throw new ModbusException(
          ILLEGAL_ADDRESS,
          `write to ${address + i}: ${slot.point.name} is read-only`,
        );
      }
      touched.set(`${slot.model.address + slot.pointOffset}`, slot);
    }
    const backup = this.regs.slice(address, address + values.length);
    this.regs.set(values, address);
    const changed: Array<{ model: SimModel; point: string }> = [];
    for (const slot of touched.values()) {
      if (!slot.topLevel) continue; // curve points: stored as written
      const value = slot.model.get(slot.point.name);
      const reason = this.validateWrite(slot.model, slot.point, value);
      if (reason) {
        this.regs.set(backup, address);
        throw new ModbusException(ILLEGAL_VALUE, `write to ${slot.point.name}: ${reason}`);
      }
      changed.push({ model: slot.model, point: slot.point.name });
    }
    for (const c of changed) this.onWrite(c.model, c.point);
  }

  private validateWrite(model: SimModel, p: PointDef, value: PointValue | undefined): string | undefined {
    if (p.symbols && typeof value === 'number' && !Object.values(p.symbols).includes(value)) {
      if (p.type === 'enum16' || p.type === 'enum32') return `${value} is not a valid ${p.name}`;
    }
    for (const v of this.validators) {
      const reason = v(model, p.name, value);
      if (reason) return reason;
    }
    return undefined;
  }

  /** Called after a client wrote a point (e.g. to start a revert timer). */
  protected onWrite(_model: SimModel, _point: string): void {}

  /** Advances the device's physics to simulated time `nowMs` (dt in simulated seconds). */
  abstract tick(nowMs: number, dtS: number): void;
}

/** Range validator for a point: value must lie in [min, max]. */
export function range(modelId: number, point: string, min: number, max: number): WriteValidator {
  return (m, p, v) =>
    m.id === modelId && p === point && typeof v === 'number' && (v < min || v > max)
      ? `${v} outside ${min}..${max}`
      : undefined;
}

/** A revert timer for a control: when it expires, the device restores its default. */
export class RevertTimer {
  private deadline?: number;

  arm(nowMs: number, seconds: number | undefined): void {
    this.deadline = seconds && seconds > 0 ? nowMs + seconds * 1000 : undefined;
  }

  disarm(): void {
    this.deadline = undefined;
  }

  /** Seconds remaining, or undefined when not armed. */
  remaining(nowMs: number): number | undefined {
    return this.deadline === undefined ? undefined : Math.max(0, Math.ceil((this.deadline - nowMs) / 1000));
  }

  /** True once, when the deadline has passed. */
  expired(nowMs: number): boolean {
    if (this.deadline !== undefined && nowMs >= this.deadline) {
      this.deadline = undefined;
      return true;
    }
    return false;
  }
}
