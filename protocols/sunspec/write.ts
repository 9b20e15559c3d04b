import type { RegisterIO } from '../modbus/client.ts';
import { decodeModel, encodeWrite, type PointValue } from './codec.ts';
import { type ModelLocation, readModelRegisters } from './discovery.ts';

/**
 * Writes one point of a model and reads it back. The current registers are read first so the write
 * is scaled with the scale factor in effect on the device; the value actually applied (the device
 * may round or refuse) is returned from the read-back.
 */
export async function writePoint(
  io: RegisterIO,
  unit: number,
  loc: ModelLocation,
  path: string,
  value: PointValue,
): Promise<PointValue | undefined> {
  if (!loc.def) throw new Error(`model ${loc.id} at ${loc.address}: unknown model, cannot write ${path}`);
  const before = await readModelRegisters(io, unit, loc);
  const w = encodeWrite(loc.def, before, path, value);
  await io.writeHolding(unit, loc.address + w.offset, w.registers);
  const after = await readModelRegisters(io, unit, loc);
  const decoded = decodeModel(loc.def, after);
  return path.includes('.') ? undefined : decoded.values[path];
}
