/**
 * The canonical DER data model: what every driver (SunSpec, OPC UA) normalizes to, in SI units.
 * Power signs follow ./sign-convention.ts.
 */
export const DEVICE_KINDS = ['inverter', 'battery', 'meter'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

export const CANONICAL_POINTS = {
  w: { unit: 'W', description: 'active power (see sign convention)' },
  var: { unit: 'var', description: 'reactive power (see sign convention)' },
  va: { unit: 'VA', description: 'apparent power' },
  pf: { unit: '', description: 'power factor, -1..1' },
  hz: { unit: 'Hz', description: 'grid frequency' },
  v: { unit: 'V', description: 'average phase-to-neutral voltage' },
  a: { unit: 'A', description: 'total AC current' },
  wh_out: { unit: 'Wh', description: 'lifetime energy delivered (generated, discharged, exported)' },
  wh_in: { unit: 'Wh', description: 'lifetime energy absorbed (charged, imported)' },
  soc_pct: { unit: '%', description: 'battery state of charge' },
  soh_pct: { unit: '%', description: 'battery state of health' },
  wh_capacity: { unit: 'Wh', description: 'usable battery energy capacity' },
  temp_c: { unit: '°C', description: 'device (cabinet) temperature' },
  w_lim_pct: { unit: '%', description: 'active power limit in effect, % of rated power' },
  dc_w: { unit: 'W', description: 'DC power' },
  state: { unit: '', description: 'operating state: 0 off, 1 standby, 2 running, 3 throttled, 4 fault' },
} as const;

export type CanonicalPoint = keyof typeof CANONICAL_POINTS;
export const CANONICAL_POINT_NAMES = Object.keys(CANONICAL_POINTS) as CanonicalPoint[];

/** good: fresh and valid; stale: last known value, device not answering; invalid: failed validation. */
export type Quality = 'good' | 'stale' | 'invalid';

/** Nameplate ratings a control loop clamps to. All optional: not every device declares each. */
export interface Nameplate {
  w_max?: number;
  va_max?: number;
  var_max?: number;
  /** Battery: maximum charge power (positive number, W). */
  w_charge_max?: number;
  /** Battery: maximum discharge power (positive number, W). */
  w_discharge_max?: number;
  wh_capacity?: number;
}
