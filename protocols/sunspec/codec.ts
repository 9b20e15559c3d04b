/**
 * SunSpec register codec: decodes a model's register block into named points and encodes writes.
 *
 * Rules that matter in the field:
 * - "Not implemented" sentinels become absent values (`undefined`), never numbers.
 * - A scaled point is absent when its scale factor is absent or out of the SunSpec range (-10..10):
 *   a value with an unknown scale is a silent wrong value waiting to happen.
 * - Scale factors are looked up by name in the point's group, then in enclosing groups.
 */
import type { GroupDef, ModelDef, PointDef, PointType } from './types.ts';

export type PointValue = number | string;
export type Registers = ArrayLike<number>;

export interface DecodedGroup {
  /** Point name → value; absent (undefined) when not implemented or invalid. Pads are omitted. */
  values: Record<string, PointValue | undefined>;
  /** Nested (repeating) group name → instances. */
  groups: Record<string, DecodedGroup[]>;
}

export interface DecodeIssue {
  /** Dotted path of the point or group, e.g. `W` or `Crv[1].Pt[0].V`. */
  path: string;
  /** Register offset from the model's first register (the ID register). */
  offset: number;
  message: string;
}

export interface DecodedModel extends DecodedGroup {
  id: number;
  /** Declared model length (registers after the ID and L header). */
  length: number;
  issues: DecodeIssue[];
}

export class SunSpecCodecError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
    this.name = 'SunSpecCodecError';
  }
}

const SF_MIN = -10;
const SF_MAX = 10;

const f32 = new DataView(new ArrayBuffer(8));

/** Reads a point's raw value; `undefined` for the type's "not implemented" sentinel. */
function readRaw(type: PointType, r: Registers, at: number, size: number): number | string | undefined {
  switch (type) {
    case 'int16':
    case 'sunssf': {
      const v = r[at];
      return v === 0x8000 ? undefined : v > 0x7fff ? v - 0x10000 : v;
    }
    case 'uint16':
    case 'enum16':
    case 'bitfield16': {
      const v = r[at];
      return v === 0xffff ? undefined : v;
    }
    case 'count':
      return r[at];
    case 'acc16': {
      const v = r[at];
      return v === 0 ? undefined : v;
    }
    case 'int32': {
      const hi = r[at];
      const lo = r[at + 1];
      if (hi === 0x8000 && lo === 0) return undefined;
      return ((hi << 16) | lo) >> 0;
    }
    case 'uint32':
    case 'enum32':
    case 'bitfield32': {
      const hi = r[at];
      const lo = r[at + 1];
      return hi === 0xffff && lo === 0xffff ? undefined : hi * 0x10000 + lo;
    }
    case 'acc32': {
      const v = r[at] * 0x10000 + r[at + 1];
      return v === 0 ? undefined : v;
    }
    case 'int64':
    case 'uint64':
    case 'acc64': {
      const a = r[at];
      const b = r[at + 1];
      const c = r[at + 2];
      const d = r[at + 3];
      if (type === 'int64' && a === 0x8000 && b === 0 && c === 0 && d === 0) return undefined;
      if (type === 'uint64' && a === 0xffff && b === 0xffff && c === 0xffff && d === 0xffff) return undefined;
      if (type === 'acc64' && a === 0 && b === 0 && c === 0 && d === 0) return undefined;
      // Exact up to 2^53 (9e15 Wh); beyond that energy counters are not physically plausible.
      if (type === 'int64' && a > 0x7fff)
        return -(
          (((0xffff - a) * 0x10000 + (0xffff - b)) * 0x10000 + (0xffff - c)) * 0x10000 +
          (0xffff - d) +
          1
        );
      return ((a * 0x10000 + b) * 0x10000 + c) * 0x10000 + d;
    }
    case 'float32': {
      f32.setUint16(0, r[at]);
      f32.setUint16(2, r[at + 1]);
      const v = f32.getFloat32(0);
      return Number.isNaN(v) ? undefined : v;
    }
    case 'float64': {
      for (let i = 0; i < 4; i++) f32.setUint16(i * 2, r[at + i]);
      const v = f32.getFloat64(0);
      return Number.isNaN(v) ? undefined : v;
    }
    case 'string': {
      let s = '';
      let any = false;
      for (let i = 0; i < size; i++) {
        const v = r[at + i];
        if (v !== 0) any = true;
        s += String.fromCharCode(v >> 8, v & 0xff);
      }
      if (!any) return undefined;
      return s.replace(/\0+$/, '').replace(/\0/g, ' ').trim();
    }
    case 'pad':
      return undefined;
  }
}

function scale(raw: number, sf: number): number {
  // Division for negative exponents keeps 2301 * 10^-1 = 230.1 exact rather than 230.10000000000002.
  return sf >= 0 ? raw * 10 ** sf : raw / 10 ** -sf;
}

type SfScope = { values: Record<string, PointValue | undefined>; defs: Map<string, number> }[];

interface Ctx {
  r: Registers;
  /** Registers available: the block may be shorter than the model definition (truncated devices). */
  end: number;
  issues: DecodeIssue[];
  modelLength: number;
}

function groupFixedSize(g: GroupDef): number {
  let n = 0;
  for (const p of g.points) n += p.size;
  return n;
}

/** Decodes one group instance at register `at`; returns the register just past it. */
function decodeGroup(
  g: GroupDef,
  ctx: Ctx,
  at: number,
  path: string,
  scope: SfScope,
  out: DecodedGroup,
): number {
  const values = out.values;
  const sfOffsets = new Map<string, number>();
  let off = at;
  // Pass 1: raw values (scale factors may follow the points they scale).
  for (const p of g.points) {
    if (p.type !== 'pad') {
      if (off + p.size <= ctx.end) {
        values[p.name] = readRaw(p.type, ctx.r, off, p.size);
        if (p.type === 'sunssf') sfOffsets.set(p.name, off);
      } else {
        values[p.name] = undefined;
        ctx.issues.push({
          path: path + p.name,
          offset: off,
          message: 'beyond the end of the register block (truncated model)',
        });
      }
    }
    off += p.size;
  }
  const myScope: SfScope = [{ values, defs: sfOffsets }, ...scope];
  // Pass 2: apply scale factors and validate.
  off = at;
  for (const p of g.points) {
    const raw = values[p.name];
    if (p.type === 'sunssf' && typeof raw === 'number' && (raw < SF_MIN || raw > SF_MAX)) {
      ctx.issues.push({
        path: path + p.name,
        offset: off,
        message: `scale factor ${raw} outside ${SF_MIN}..${SF_MAX}`,
      });
      values[p.name] = undefined;
    } else if (p.type === 'float32' && typeof raw === 'number' && !Number.isFinite(raw)) {
      ctx.issues.push({ path: path + p.name, offset: off, message: 'non-finite float' });
      values[p.name] = undefined;
    }
    off += p.size;
  }
  off = at;
  for (const p of g.points) {
    const raw = values[p.name];
    if (p.sf !== undefined && typeof raw === 'number') {
      const sf = lookupSf(myScope, p.sf);
      if (sf === undefined) {
        values[p.name] = undefined;
        ctx.issues.push({
          path: path + p.name,
          offset: off,
          message: `scale factor ${p.sf} unknown: value withheld`,
        });
      } else values[p.name] = scale(raw, sf);
    }
    off += p.size;
  }
  // Nested groups.
  for (const sub of g.groups ?? []) {
    const n = repeatCount(sub, myScope, ctx, off, path);
    const list: DecodedGroup[] = [];
    for (let i = 0; i < n && off < ctx.end; i++) {
      const inst: DecodedGroup = { values: {}, groups: {} };
      off = decodeGroup(sub, ctx, off, `${path}${sub.name}[${i}].`, myScope, inst);
      list.push(inst);
    }
    out.groups[sub.name] = list;
  }
  return off;
}

function lookupSf(scope: SfScope, name: string): number | undefined {
  for (const s of scope) {
    if (name in s.values) {
      const v = s.values[name];
      return typeof v === 'number' ? v : undefined;
    }
  }
  return undefined;
}

function repeatCount(sub: GroupDef, scope: SfScope, ctx: Ctx, off: number, path: string): number {
  if (sub.count === undefined) return 1;
  if (typeof sub.count === 'string') {
    const v = lookupSf(scope, sub.count);
    if (v === undefined || !Number.isInteger(v) || v < 0) {
      ctx.issues.push({
        path: path + sub.count,
        offset: off,
        message: `repeat count ${sub.count} missing or invalid`,
      });
      return 0;
    }
    return v;
  }
  if (sub.count > 0) return sub.count;
  // count 0: as many instances as fit in the rest of the declared model length.
  const size = groupFixedSize(sub);
  const remaining = ctx.modelLength + 2 - off;
  return size > 0 && remaining > 0 ? Math.floor(remaining / size) : 0;
}

/**
 * Decodes a model's registers, starting at its ID register. `registers` may be shorter or longer than
 * the model definition; missing points are absent and reported in `issues`.
 */
export function decodeModel(def: ModelDef, registers: Registers): DecodedModel {
  if (registers.length < 2)
    throw new SunSpecCodecError(`model ${def.id}: block too short (${registers.length} registers)`);
  if (registers[0] !== def.id) {
    throw new SunSpecCodecError(`model ${def.id}: block starts with model id ${registers[0]}`);
  }
  const length = registers[1];
  const ctx: Ctx = {
    r: registers,
    end: Math.min(registers.length, length + 2),
    issues: [],
    modelLength: length,
  };
  const out: DecodedModel = { id: def.id, length, values: {}, groups: {}, issues: ctx.issues };
  decodeGroup(def.group, ctx, 0, '', [], out);
  return out;
}

/** Registers the model's fixed part needs (without repeating groups whose count depends on data). */
export function fixedLength(def: ModelDef): number {
  return groupFixedSize(def.group) - 2;
}

// ---------------------------------------------------------------------------------------------
// Encoding writes

export interface PointLocation {
  def: PointDef;
  /** Offset from the model's ID register. */
  offset: number;
  /** Decoded scale factor in effect for the point, when it has one. */
  sf?: number;
}

const PATH_PART = /^([A-Za-z0-9_]+)(?:\[(\d+)\])?$/;

/** Finds a point by path (`WMaxLimPct`, `Crv[1].Pt[0].V`) in a model, given its current registers. */
export function locatePoint(def: ModelDef, registers: Registers, path: string): PointLocation {
  const decoded = decodeModel(def, registers);
  const parts = path.split('.');
  let group: GroupDef = def.group;
  let decodedGroup: DecodedGroup = decoded;
  let at = 0;
  const scope: DecodedGroup[] = [decoded];
  for (let i = 0; i < parts.length - 1; i++) {
    const m = PATH_PART.exec(parts[i]);
    if (!m) throw new SunSpecCodecError(`bad path segment ${parts[i]}`, path);
    const [, name, idxStr] = m;
    const idx = idxStr === undefined ? 0 : Number(idxStr);
    // Walk past the group's points and earlier sibling groups to find the instance's offset.
    at += groupFixedSize(group);
    let found: GroupDef | undefined;
    for (const sub of group.groups ?? []) {
      const instances = decodedGroup.groups[sub.name] ?? [];
      if (sub.name === name) {
        if (idx >= instances.length)
          throw new SunSpecCodecError(`${name}[${idx}] does not exist (${instances.length} instances)`, path);
        for (let k = 0; k < idx; k++) at += instanceSize(sub, instances[k]);
        found = sub;
        decodedGroup = instances[idx];
        break;
      }
      for (const inst of instances) at += instanceSize(sub, inst);
    }
    if (!found) throw new SunSpecCodecError(`no group ${name} in model ${def.id}`, path);
    group = found;
    scope.unshift(decodedGroup);
  }
  const leaf = parts[parts.length - 1];
  let off = at;
  for (const p of group.points) {
    if (p.name === leaf) {
      let sf: number | undefined;
      if (p.sf !== undefined) {
        for (const g of scope) {
          if (p.sf in g.values) {
            const v = g.values[p.sf];
            sf = typeof v === 'number' ? v : undefined;
            break;
          }
        }
        if (sf === undefined)
          throw new SunSpecCodecError(`scale factor ${p.sf} of ${path} is unknown: refusing to write`, path);
      }
      return { def: p, offset: off, ...(sf !== undefined && { sf }) };
    }
    off += p.size;
  }
  throw new SunSpecCodecError(`no point ${path} in model ${def.id}`, path);
}

function instanceSize(g: GroupDef, inst: DecodedGroup): number {
  let n = groupFixedSize(g);
  for (const sub of g.groups ?? []) for (const i of inst.groups[sub.name] ?? []) n += instanceSize(sub, i);
  return n;
}

const INT_RANGE: Partial<Record<PointType, [number, number, number | undefined]>> = {
  // [min, max, sentinel that may not be written]
  int16: [-0x8000, 0x7fff, -0x8000],
  uint16: [0, 0xffff, 0xffff],
  count: [0, 0xffff, undefined],
  enum16: [0, 0xffff, 0xffff],
  bitfield16: [0, 0xffff, 0xffff],
  int32: [-0x80000000, 0x7fffffff, -0x80000000],
  uint32: [0, 0xffffffff, 0xffffffff],
  enum32: [0, 0xffffffff, 0xffffffff],
  bitfield32: [0, 0xffffffff, 0xffffffff],
};

/** Encodes a point value into registers. Throws a SunSpecCodecError naming the point when it cannot. */
export function encodeValue(loc: PointLocation, value: PointValue, path = loc.def.name): number[] {
  const p = loc.def;
  if (p.access !== 'RW') throw new SunSpecCodecError(`${path} is read-only`, path);
  if (p.type === 'string') {
    if (typeof value !== 'string') throw new SunSpecCodecError(`${path} takes a string`, path);
    if (!/^[\x20-\x7e]*$/.test(value))
      throw new SunSpecCodecError(`${path}: only printable ASCII allowed`, path);
    if (value.length > p.size * 2)
      throw new SunSpecCodecError(`${path}: at most ${p.size * 2} characters`, path);
    const regs: number[] = [];
    for (let i = 0; i < p.size; i++)
      regs.push(((value.charCodeAt(2 * i) || 0) << 8) | (value.charCodeAt(2 * i + 1) || 0));
    return regs;
  }
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new SunSpecCodecError(`${path} takes a finite number`, path);
  if (p.type === 'float32') {
    if (Math.abs(value) > 3.4e38) throw new SunSpecCodecError(`${path}: ${value} out of float32 range`, path);
    f32.setFloat32(0, value);
    return [f32.getUint16(0), f32.getUint16(2)];
  }
  const range = INT_RANGE[p.type];
  if (!range) throw new SunSpecCodecError(`${path}: writing ${p.type} points is not supported`, path);
  const raw = loc.sf === undefined ? value : loc.sf >= 0 ? value / 10 ** loc.sf : value * 10 ** -loc.sf;
  const rounded = Math.round(raw);
  if (Math.abs(rounded - raw) > 1e-6 * Math.max(1, Math.abs(raw))) {
    throw new SunSpecCodecError(
      `${path}: ${value} is not representable with scale factor ${loc.sf ?? 0}`,
      path,
    );
  }
  const [min, max, sentinel] = range;
  if (rounded < min || rounded > max || rounded === sentinel) {
    const lo = loc.sf === undefined ? min : scale(min, loc.sf);
    const hi = loc.sf === undefined ? max : scale(max, loc.sf);
    throw new SunSpecCodecError(`${path}: ${value} out of range ${lo}..${hi}`, path);
  }
  if (
    p.symbols &&
    (p.type === 'enum16' || p.type === 'enum32') &&
    !Object.values(p.symbols).includes(rounded)
  ) {
    throw new SunSpecCodecError(
      `${path}: ${rounded} is not one of ${Object.entries(p.symbols)
        .map(([k, v]) => `${v}=${k}`)
        .join(', ')}`,
      path,
    );
  }
  const u = rounded < 0 ? rounded + (p.size === 1 ? 0x10000 : 0x100000000) : rounded;
  return p.size === 1 ? [u] : [Math.floor(u / 0x10000), u % 0x10000];
}

/**
 * Plans a write of `value` to the point at `path`, given the model's current registers (so the scale
 * factor in effect is known). Returns the register offset from the model's ID register and the words.
 */
export function encodeWrite(
  def: ModelDef,
  registers: Registers,
  path: string,
  value: PointValue,
): { offset: number; registers: number[] } {
  const loc = locatePoint(def, registers, path);
  return { offset: loc.offset, registers: encodeValue(loc, value, path) };
}

/** Point values for building a register block: engineering units, scale factors among the values. */
export interface GroupInput {
  values: Record<string, PointValue | undefined>;
  groups?: Record<string, GroupInput[]>;
}

/**
 * Encodes a whole model (ID, L and body) from engineering values — the device side of the codec,
 * used by simulated devices and tests. Unset points get their "not implemented" sentinel; repeating
 * groups get as many instances as given. L is computed from what was encoded.
 */
export function encodeModel(def: ModelDef, input: GroupInput): number[] {
  const out: number[] = [];
  encodeGroupInto(def.group, input, [], out);
  out[0] = def.id;
  out[1] = out.length - 2;
  return out;
}

function encodeGroupInto(
  g: GroupDef,
  input: GroupInput,
  scope: Record<string, PointValue | undefined>[],
  out: number[],
) {
  const myScope = [input.values, ...scope];
  for (const p of g.points) {
    let sf: number | undefined;
    if (p.sf !== undefined) {
      for (const s of myScope) {
        if (p.sf in s) {
          const v = s[p.sf];
          sf = typeof v === 'number' ? v : undefined;
          break;
        }
      }
    }
    out.push(...encodeRaw(p, input.values[p.name], sf));
  }
  for (const sub of g.groups ?? []) {
    for (const inst of input.groups?.[sub.name] ?? []) encodeGroupInto(sub, inst, myScope, out);
  }
}

/** Encodes one point without access checks (device side); `undefined` writes the sentinel. */
export function encodeRaw(p: PointDef, value: PointValue | undefined, sf?: number): number[] {
  if (value === undefined) return sentinel(p);
  if (typeof value === 'string' || p.type === 'float32' || p.type === 'float64') {
    return encodeValue({ def: { ...p, access: 'RW', symbols: undefined }, offset: 0 }, value);
  }
  const raw = Math.round(sf === undefined ? value : sf >= 0 ? value / 10 ** sf : value * 10 ** -sf);
  switch (p.type) {
    case 'sunssf':
    case 'int16':
      return [(raw + 0x10000) & 0xffff];
    case 'acc16':
      return [raw & 0xffff];
    case 'acc32': {
      const v = raw >>> 0;
      return [Math.floor(v / 0x10000), v % 0x10000];
    }
    case 'acc64':
    case 'uint64':
    case 'int64': {
      let v = raw < 0 ? 2 ** 64 + raw : raw;
      const words = [0, 0, 0, 0];
      for (let i = 3; i >= 0; i--) {
        words[i] = v % 0x10000;
        v = Math.floor(v / 0x10000);
      }
      return words;
    }
    default:
      return encodeValue({ def: { ...p, access: 'RW', symbols: undefined }, offset: 0 }, raw);
  }
}

export function sentinel(p: PointDef): number[] {
  switch (p.type) {
    case 'int16':
    case 'sunssf':
    case 'pad':
      return [0x8000];
    case 'uint16':
    case 'enum16':
    case 'bitfield16':
      return [0xffff];
    case 'int32':
      return [0x8000, 0];
    case 'uint32':
    case 'enum32':
    case 'bitfield32':
      return [0xffff, 0xffff];
    case 'float32':
      return [0x7fc0, 0];
    case 'int64':
      return [0x8000, 0, 0, 0];
    case 'uint64':
      return [0xffff, 0xffff, 0xffff, 0xffff];
    case 'float64':
      return [0x7ff8, 0, 0, 0];
    default:
      return new Array(p.size).fill(0);
  }
}
