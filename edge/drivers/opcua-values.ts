/**
 * Numbers ↔ OPC UA values by the node's own DataType. A server answers BadTypeMismatch to a Double
 * written into a UInt16 or Int32 node, so a setpoint is encoded in the type the node declares, rounded
 * to an integer where the type is one and range-checked first: an out-of-range value is refused with
 * the node and the range named, never wrapped or truncated by the encoder.
 */
import { coerceInt64, coerceUInt64, DataType, Variant } from 'node-opcua';

const INT_RANGE: Partial<Record<DataType, [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
  [DataType.Int64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [DataType.UInt64]: [0, Number.MAX_SAFE_INTEGER],
};
const FLOAT_MAX = 3.4028234663852886e38;

/** The Variant to write `value` into a node of built-in type `dataType`; throws naming `node` when it cannot. */
export function encodeForNode(node: string, dataType: DataType, value: number | boolean): Variant {
  const typeName = DataType[dataType] ?? `DataType ${dataType}`;
  if (dataType === DataType.Boolean) {
    if (typeof value !== 'boolean') throw new Error(`${node} is Boolean: cannot write the number ${value}`);
    return new Variant({ dataType, value });
  }
  // A switch (connect) on an integer node: 1 = on, 0 = off.
  const x = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  if (!Number.isFinite(x)) throw new Error(`${node}: cannot write ${x}`);
  const range = INT_RANGE[dataType];
  if (range) {
    const n = Math.round(x);
    if (n < range[0] || n > range[1])
      throw new Error(`${node}: ${x} is out of range for ${typeName} (${range[0]}..${range[1]})`);
    if (dataType === DataType.Int64) return new Variant({ dataType, value: coerceInt64(n) });
    if (dataType === DataType.UInt64) return new Variant({ dataType, value: coerceUInt64(n) });
    return new Variant({ dataType, value: n });
  }
  if (dataType === DataType.Float) {
    if (Math.abs(x) > FLOAT_MAX) throw new Error(`${node}: ${x} is out of range for Float`);
    return new Variant({ dataType, value: x });
  }
  if (dataType === DataType.Double) return new Variant({ dataType, value: x });
  throw new Error(
    `${node} has DataType ${typeName}: only Boolean, integer, Float and Double nodes are written`,
  );
}

/** A node's value as a number (64-bit integers arrive as [high, low] words); NaN when it is not one. */
export function numberOf(value: unknown): number {
  if (Array.isArray(value) && value.length === 2 && value.every((w) => typeof w === 'number'))
    return value[0] * 2 ** 32 + value[1];
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  return Number.NaN;
}
