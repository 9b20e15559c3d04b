import type { Access, GroupDef, ModelDef, PointDef, PointType } from './types.ts';

/**
 * Small builders that keep model definitions readable: one line per point.
 * Sizes default from the type; strings and pads must give theirs.
 */
const DEFAULT_SIZE: Partial<Record<PointType, number>> = {
  int16: 1,
  uint16: 1,
  count: 1,
  acc16: 1,
  enum16: 1,
  bitfield16: 1,
  sunssf: 1,
  pad: 1,
  int32: 2,
  uint32: 2,
  acc32: 2,
  enum32: 2,
  bitfield32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  acc64: 4,
  float64: 4,
};

export interface PointOpts {
  sf?: string;
  units?: string;
  access?: Access;
  size?: number;
  mandatory?: boolean;
  static?: boolean;
  symbols?: Record<string, number>;
  value?: number;
}

export function pt(name: string, type: PointType, opts: PointOpts = {}): PointDef {
  const size = opts.size ?? DEFAULT_SIZE[type];
  if (size === undefined) throw new Error(`point ${name}: type ${type} needs an explicit size`);
  return {
    name,
    type,
    size,
    access: opts.access ?? 'R',
    ...(opts.sf !== undefined && { sf: opts.sf }),
    ...(opts.units !== undefined && { units: opts.units }),
    ...(opts.mandatory && { mandatory: true }),
    ...(opts.static && { static: true }),
    ...(opts.symbols && { symbols: opts.symbols }),
    ...(opts.value !== undefined && { value: opts.value }),
  };
}

/** Read-write point shorthand. */
export function rw(name: string, type: PointType, opts: PointOpts = {}): PointDef {
  return pt(name, type, { ...opts, access: 'RW' });
}

export function str(name: string, size: number, opts: PointOpts = {}): PointDef {
  return pt(name, 'string', { ...opts, size });
}

export function group(
  name: string,
  points: PointDef[],
  opts: { count?: number | string; groups?: GroupDef[] } = {},
): GroupDef {
  return {
    name,
    points,
    ...(opts.count !== undefined && { count: opts.count }),
    ...(opts.groups && { groups: opts.groups }),
  };
}

/** A model: prepends the mandatory `ID` and `L` header points to the top-level group. */
export function model(
  id: number,
  name: string,
  label: string,
  points: PointDef[],
  groups?: GroupDef[],
): ModelDef {
  const header = [
    pt('ID', 'uint16', { mandatory: true, static: true, value: id }),
    pt('L', 'uint16', { mandatory: true, static: true }),
  ];
  return { id, label, group: group(name, [...header, ...points], groups ? { groups } : {}) };
}
