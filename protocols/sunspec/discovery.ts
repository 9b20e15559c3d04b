/**
 * SunSpec discovery and model reads over any RegisterIO (Modbus TCP or RTU).
 *
 * Discovery finds the `SunS` marker at base 40000, 0 or 50000, then walks the model chain (ID, L,
 * body…) to the 0xFFFF end marker. It never throws for device misbehaviour: what could be read is
 * returned together with errors that name the endpoint, unit and address.
 */
import { MAX_READ_REGISTERS, ModbusError, type RegisterIO } from '../modbus/client.ts';
import { type DecodedModel, decodeModel } from './codec.ts';
import { getModel } from './models/index.ts';
import type { ModelDef } from './types.ts';

export const SUNS_MARKER = [0x5375, 0x6e53] as const; // "SunS"
export const BASE_ADDRESSES = [40000, 0, 50000] as const;
export const END_MODEL_ID = 0xffff;
/** A real device has a handful of models; a chain longer than this is garbage. */
const MAX_MODELS = 64;

export interface ModelLocation {
  id: number;
  /** Address of the model's ID register. */
  address: number;
  /** Declared length L (registers after ID and L). */
  length: number;
  /** Our definition, when we know the model; unknown models are skipped by length. */
  def?: ModelDef;
}

export interface DiscoveryResult {
  endpoint: string;
  unit: number;
  /** Base address where `SunS` was found; undefined when the unit is not a SunSpec device. */
  base?: number;
  models: ModelLocation[];
  /** True when the chain ended with the 0xFFFF end marker. */
  complete: boolean;
  errors: string[];
}

export async function discoverUnit(
  io: RegisterIO,
  unit: number,
  bases: readonly number[] = BASE_ADDRESSES,
): Promise<DiscoveryResult> {
  const result: DiscoveryResult = { endpoint: io.endpoint, unit, models: [], complete: false, errors: [] };
  for (const base of bases) {
    try {
      const marker = await io.readHolding(unit, base, 2);
      if (marker[0] === SUNS_MARKER[0] && marker[1] === SUNS_MARKER[1]) {
        result.base = base;
        break;
      }
    } catch (err) {
      // A unit that does not answer at all will not answer at the next base either: don't wait 3×.
      if (err instanceof ModbusError && (err.kind === 'timeout' || err.kind === 'connection')) {
        result.errors.push(err.message);
        return result;
      }
      // An exception (illegal address) just means "not here": try the next base.
    }
  }
  if (result.base === undefined) {
    result.errors.push(`${io.endpoint} unit ${unit}: no SunS marker at ${bases.join(', ')}`);
    return result;
  }

  let address = result.base + 2;
  for (let n = 0; n < MAX_MODELS; n++) {
    if (address + 1 > 0xffff) {
      result.errors.push(`${io.endpoint} unit ${unit}: model chain runs past the register map at ${address}`);
      return result;
    }
    let header: number[];
    try {
      header = await io.readHolding(unit, address, 2);
    } catch (err) {
      result.errors.push(
        `${io.endpoint} unit ${unit}: model chain broken at ${address} (no end marker): ${(err as Error).message}`,
      );
      return result;
    }
    const [id, length] = header;
    if (id === END_MODEL_ID) {
      result.complete = true;
      return result;
    }
    if (id === 0) {
      result.errors.push(
        `${io.endpoint} unit ${unit}: model id 0 at ${address}: missing end marker or garbage`,
      );
      return result;
    }
    if (address + 2 + length > 0x10000) {
      result.errors.push(
        `${io.endpoint} unit ${unit}: model ${id} at ${address} declares length ${length}, past the end of the register map`,
      );
      return result;
    }
    const def = getModel(id);
    result.models.push({ id, address, length, ...(def && { def }) });
    address += 2 + length;
  }
  result.errors.push(`${io.endpoint} unit ${unit}: more than ${MAX_MODELS} models: chain looks like garbage`);
  return result;
}

/**
 * Plans the reads of a model block so that every point is read in the same transaction as the
 * top-level scale factor that scales it, whenever the pair fits in one read (≤125 registers).
 * Returns [offset, length] pairs relative to the model's ID register.
 */
export function planReads(def: ModelDef | undefined, total: number): Array<[number, number]> {
  const spans: Array<[number, number]> = []; // [first, last] registers that must travel together
  if (def) {
    const offsets = new Map<string, number>();
    let off = 0;
    for (const p of def.group.points) {
      offsets.set(p.name, off);
      off += p.size;
    }
    off = 0;
    for (const p of def.group.points) {
      const sfAt = p.sf !== undefined ? offsets.get(p.sf) : undefined;
      if (sfAt !== undefined) {
        const a = Math.min(off, sfAt);
        const b = Math.max(off + p.size - 1, sfAt);
        if (b - a + 1 <= MAX_READ_REGISTERS && b < total) spans.push([a, b]);
      }
      off += p.size;
    }
  }
  const reads: Array<[number, number]> = [];
  let start = 0;
  while (start < total) {
    let end = Math.min(start + MAX_READ_REGISTERS, total); // exclusive
    let moved = true;
    while (moved && end < total) {
      moved = false;
      for (const [a, b] of spans) {
        if (a < end && b >= end && a > start) {
          end = a;
          moved = true;
        }
      }
    }
    reads.push([start, end - start]);
    start = end;
  }
  return reads;
}

/** Offsets of the model's top-level scale factors (scale factors are top-level in every model we know). */
function sfOffsets(def: ModelDef): number[] {
  const out: number[] = [];
  let off = 0;
  for (const p of def.group.points) {
    if (p.type === 'sunssf') out.push(off);
    off += p.size;
  }
  return out;
}

/**
 * Reads one model's registers (ID, L and body). When the model needs several reads, the scale factors
 * are read again at the end and the whole model re-read if any changed in between, so no value is
 * ever combined with a scale factor from another moment.
 */
export async function readModelRegisters(
  io: RegisterIO,
  unit: number,
  loc: ModelLocation,
): Promise<number[]> {
  const total = loc.length + 2;
  const plan = planReads(loc.def, total);
  for (let attempt = 0; attempt < 3; attempt++) {
    const regs: number[] = [];
    for (const [off, len] of plan) regs.push(...(await io.readHolding(unit, loc.address + off, len)));
    if (plan.length === 1 || !loc.def) return regs;
    const sfs = sfOffsets(loc.def).filter((o) => o < total);
    if (sfs.length === 0) return regs;
    const first = Math.min(...sfs);
    const last = Math.max(...sfs);
    if (last - first + 1 > MAX_READ_REGISTERS) return regs;
    const again = await io.readHolding(unit, loc.address + first, last - first + 1);
    if (sfs.every((o) => again[o - first] === regs[o])) return regs;
  }
  throw new ModbusError(
    `${io.endpoint} unit ${unit}: scale factors of model ${loc.id} at ${loc.address} keep changing between reads`,
    'exception',
    unit,
    loc.address,
  );
}

export interface ModelReading {
  location: ModelLocation;
  registers?: number[];
  decoded?: DecodedModel;
  error?: string;
}

/** Reads and decodes a model; errors come back in the result, naming endpoint, unit and address. */
export async function readModel(io: RegisterIO, unit: number, loc: ModelLocation): Promise<ModelReading> {
  try {
    const registers = await readModelRegisters(io, unit, loc);
    if (!loc.def) return { location: loc, registers };
    const decoded = decodeModel(loc.def, registers);
    return { location: loc, registers, decoded };
  } catch (err) {
    return { location: loc, error: (err as Error).message };
  }
}
