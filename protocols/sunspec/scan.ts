/**
 * Scans SunSpec devices on one Modbus endpoint: discovery plus a read and decode of every model.
 * This is what an installer's `gridlayer scan` and the commissioning wizard show.
 */
import type { RegisterIO } from '../modbus/client.ts';
import type { DecodedModel } from './codec.ts';
import { discoverUnit, type ModelLocation, readModel } from './discovery.ts';

export interface ScannedModel {
  id: number;
  address: number;
  length: number;
  /** Model label when known. */
  label?: string;
  decoded?: DecodedModel;
  /** Raw registers for models we do not know. */
  raw?: number[];
  error?: string;
}

export interface ScannedUnit {
  unit: number;
  base?: number;
  complete: boolean;
  /** Identity from model 1, when readable. */
  identity?: { manufacturer?: string; model?: string; serial?: string; version?: string };
  models: ScannedModel[];
  errors: string[];
}

export interface ScanProgress {
  unit: number;
  done: number;
  total: number;
}

export async function scanUnits(
  io: RegisterIO,
  units: readonly number[],
  onProgress?: (p: ScanProgress) => void,
): Promise<ScannedUnit[]> {
  const out: ScannedUnit[] = [];
  for (const [i, unit] of units.entries()) {
    onProgress?.({ unit, done: i, total: units.length });
    out.push(await scanUnit(io, unit));
  }
  onProgress?.({ unit: units[units.length - 1], done: units.length, total: units.length });
  return out;
}

export async function scanUnit(io: RegisterIO, unit: number): Promise<ScannedUnit> {
  const found = await discoverUnit(io, unit);
  const result: ScannedUnit = {
    unit,
    base: found.base,
    complete: found.complete,
    models: [],
    errors: [...found.errors],
  };
  for (const loc of found.models) {
    const m = await scanModel(io, unit, loc);
    if (m.error) result.errors.push(m.error);
    result.models.push(m);
  }
  const common = result.models.find((m) => m.id === 1)?.decoded?.values;
  if (common) {
    const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
    result.identity = {
      manufacturer: s(common.Mn),
      model: s(common.Md),
      serial: s(common.SN),
      version: s(common.Vr),
    };
  }
  return result;
}

async function scanModel(io: RegisterIO, unit: number, loc: ModelLocation): Promise<ScannedModel> {
  const base: ScannedModel = {
    id: loc.id,
    address: loc.address,
    length: loc.length,
    ...(loc.def && { label: loc.def.label }),
  };
  const r = await readModel(io, unit, loc);
  if (r.error) return { ...base, error: r.error };
  if (r.decoded) return { ...base, decoded: r.decoded };
  return { ...base, raw: r.registers };
}
