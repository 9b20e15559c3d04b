/**
 * The canonical DER data model: what every driver (SunSpec, OPC UA) normalizes to, in SI units.
 * Power signs follow ./sign-convention.ts.
 */
export const DEVICE_KINDS = ['inverter', 'battery', 'meter'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/**
 * `min`/`max`: the physically plausible range of each point (inclusive, in its unit). The cloud refuses
 * (quarantines, with the reason) a value outside it instead of storing it; see plausibility.ts, which
 * also bounds power by the device's nameplate when it is known. Bounds are deliberately wide: they catch
 * wrong scale factors, sentinels and garbage (1e308, -500 %), not merely unusual operation.
 */
export const CANONICAL_POINTS = {
  w: { unit: 'W', min: -1e8, max: 1e8, description: 'active power (see sign convention)' },
  var: { unit: 'var', min: -1e8, max: 1e8, description: 'reactive power (see sign convention)' },
  va: { unit: 'VA', min: 0, max: 1e8, description: 'apparent power' },
  pf: { unit: '', min: -1, max: 1, description: 'power factor, -1..1' },
  hz: { unit: 'Hz', min: 40, max: 70, description: 'grid frequency' },
  v: { unit: 'V', min: 0, max: 50_000, description: 'average phase-to-neutral voltage' },
  a: { unit: 'A', min: -1e5, max: 1e5, description: 'total AC current' },
  wh_out: {
    unit: 'Wh',
    min: 0,
    max: 1e15,
    description: 'lifetime energy delivered (generated, discharged, exported)',
  },
  wh_in: { unit: 'Wh', min: 0, max: 1e15, description: 'lifetime energy absorbed (charged, imported)' },
  soc_pct: { unit: '%', min: 0, max: 100, description: 'battery state of charge' },
  soh_pct: { unit: '%', min: 0, max: 100, description: 'battery state of health' },
  wh_capacity: { unit: 'Wh', min: 0, max: 1e10, description: 'usable battery energy capacity' },
  temp_c: { unit: '°C', min: -60, max: 200, description: 'device (cabinet) temperature' },
  w_lim_pct: { unit: '%', min: 0, max: 100, description: 'active power limit in effect, % of rated power' },
  dc_w: { unit: 'W', min: -1e8, max: 1e8, description: 'DC power' },
  state: {
    unit: '',
    min: 0,
    max: 4,
    description: 'operating state: 0 off, 1 standby, 2 running, 3 throttled, 4 fault',
  },
} as const;

/**
 * Fleet-wide physical cap on any power point (|w|, |var|, va, |dc_w|): no single device or meter on a
 * distribution feeder handles more than 100 MW. The ranges above use it.
 */
export const FLEET_POWER_CAP_W = 1e8;
/**
 * With a known nameplate, |power| may exceed the rating by this factor (measurement error, short
 * overload, a meter seeing the whole site) before it counts as implausible.
 */
export const NAMEPLATE_MARGIN = 1.5;

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
