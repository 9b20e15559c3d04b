/**
 * SunSpec → canonical normalization: one table per model family saying which SunSpec point feeds
 * which canonical point and how (scale, sign). Values that fail plausibility checks, or whose scale
 * factor is broken, are withheld and flagged `invalid` — never published as a silent wrong number.
 */
import { implausible } from '../../protocols/canonical/plausibility.ts';
import type { CanonicalPoint, DeviceKind, Nameplate } from '../../protocols/canonical/points.ts';
import { meterPowerFromSunSpec } from '../../protocols/canonical/sign-convention.ts';
import type { DecodedModel } from '../../protocols/sunspec/codec.ts';
import type { Quirks } from '../quirks.ts';
import type { CanonicalValues, Reading } from './types.ts';

type Values = DecodedModel['values'];
interface Rule {
  /** SunSpec points this canonical point comes from (for issue → quality mapping). */
  from: string[];
  get(v: Values, q: Quirks): number | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const avg = (...xs: unknown[]): number | undefined => {
  const ok = xs.map(num).filter((x): x is number => x !== undefined);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : undefined;
};
const pct = (x: number | undefined) => (x === undefined ? undefined : x / 100);

/** InvSt (701) → canonical state: 0 off, 1 standby, 2 running, 3 throttled, 4 fault. */
const STATE_701: Record<number, number> = { 0: 0, 1: 1, 2: 2, 3: 2, 4: 3, 5: 0, 6: 4, 7: 1 };
/** St (10x): 1 off, 2 sleeping, 3 starting, 4 MPPT, 5 throttled, 6 shutting down, 7 fault, 8 standby. */
const STATE_10X: Record<number, number> = { 1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 6: 0, 7: 4, 8: 1 };

const r = (from: string | string[], get: Rule['get']): Rule => ({
  from: Array.isArray(from) ? from : [from],
  get,
});

const DER_701: Partial<Record<CanonicalPoint, Rule>> = {
  w: r('W', (v) => num(v.W)),
  var: r('Var', (v) => num(v.Var)),
  va: r('VA', (v) => num(v.VA)),
  pf: r('PF', (v, q) => (q.pfInPercent ? pct(num(v.PF)) : num(v.PF))),
  a: r('A', (v) => num(v.A)),
  v: r(['LNV', 'VL1', 'VL2', 'VL3'], (v) => num(v.LNV) ?? avg(v.VL1, v.VL2, v.VL3)),
  hz: r('Hz', (v) => num(v.Hz)),
  wh_out: r('TotWhInj', (v) => num(v.TotWhInj)),
  wh_in: r('TotWhAbs', (v) => num(v.TotWhAbs)),
  temp_c: r('TmpCab', (v) => num(v.TmpCab)),
  state: r('InvSt', (v) => STATE_701[num(v.InvSt) ?? -1]),
};

const INVERTER_10X: Partial<Record<CanonicalPoint, Rule>> = {
  w: r('W', (v) => num(v.W)),
  var: r('VAr', (v) => num(v.VAr)),
  va: r('VA', (v) => num(v.VA)),
  // SunSpec 10x PF is in percent by definition.
  pf: r('PF', (v) => pct(num(v.PF))),
  a: r('A', (v) => num(v.A)),
  v: r(['PhVphA', 'PhVphB', 'PhVphC'], (v) => avg(v.PhVphA, v.PhVphB, v.PhVphC)),
  hz: r('Hz', (v) => num(v.Hz)),
  wh_out: r('WH', (v) => num(v.WH)),
  dc_w: r('DCW', (v) => num(v.DCW)),
  temp_c: r('TmpCab', (v) => num(v.TmpCab)),
  state: r('St', (v) => STATE_10X[num(v.St) ?? -1]),
};

/** SunSpec meters (20x, 21x) count import positive; canonical meters count export positive. */
const neg = (x: number | undefined) => (x === undefined ? undefined : meterPowerFromSunSpec(x));
const METER_20X: Partial<Record<CanonicalPoint, Rule>> = {
  w: r('W', (v) => neg(num(v.W))),
  var: r('VAR', (v) => neg(num(v.VAR))),
  va: r('VA', (v) => num(v.VA)),
  pf: r('PF', (v) => pct(num(v.PF))),
  a: r('A', (v) => num(v.A)),
  v: r('PhV', (v) => num(v.PhV) ?? avg(v.PhVphA, v.PhVphB, v.PhVphC)),
  hz: r('Hz', (v) => num(v.Hz)),
  wh_out: r('TotWhExp', (v) => num(v.TotWhExp)),
  wh_in: r('TotWhImp', (v) => num(v.TotWhImp)),
};
// Float meters (21x) use the same point names with PF already in -1..1? No: 21x PF is also percent.
const METER_21X = METER_20X;

const STORAGE_802: Partial<Record<CanonicalPoint, Rule>> = {
  soc_pct: r('SoC', (v) => num(v.SoC)),
  soh_pct: r('SoH', (v) => num(v.SoH)),
  wh_capacity: r('WHRtg', (v) => num(v.WHRtg)),
};
const STORAGE_713: Partial<Record<CanonicalPoint, Rule>> = {
  soc_pct: r('SoC', (v) => num(v.SoC)),
  soh_pct: r('SoH', (v) => num(v.SoH)),
  wh_capacity: r('WHRtg', (v) => num(v.WHRtg)),
};
const STORAGE_124: Partial<Record<CanonicalPoint, Rule>> = {
  soc_pct: r('ChaState', (v) => num(v.ChaState)),
};
const LIMIT_704: Partial<Record<CanonicalPoint, Rule>> = {
  w_lim_pct: r(['WMaxLimPct', 'WMaxLimPctEna'], (v) =>
    num(v.WMaxLimPctEna) === 1 ? num(v.WMaxLimPct) : 100,
  ),
};
const LIMIT_123: Partial<Record<CanonicalPoint, Rule>> = {
  w_lim_pct: r(['WMaxLimPct', 'WMaxLim_Ena'], (v) => (num(v.WMaxLim_Ena) === 1 ? num(v.WMaxLimPct) : 100)),
};

export function rulesFor(modelId: number): Partial<Record<CanonicalPoint, Rule>> | undefined {
  if (modelId === 701) return DER_701;
  if (modelId >= 101 && modelId <= 103) return INVERTER_10X;
  if (modelId >= 111 && modelId <= 113) return INVERTER_10X;
  if (modelId >= 201 && modelId <= 204) return METER_20X;
  if (modelId >= 211 && modelId <= 214) return METER_21X;
  if (modelId === 802) return STORAGE_802;
  if (modelId === 713) return STORAGE_713;
  if (modelId === 124) return STORAGE_124;
  if (modelId === 704) return LIMIT_704;
  if (modelId === 123) return LIMIT_123;
  return undefined;
}

/**
 * Plausible values: a value outside is garbage from the device (wrong scale factor, bad register).
 * The physical ranges are the canonical ones (protocols/canonical/points.ts, the same the cloud
 * enforces); on top, what a gateway knows better: power within the device's own rating (with headroom
 * for measurement noise; meters see the whole site) and a low-voltage connection.
 */
export function plausible(point: CanonicalPoint, x: number, np: Nameplate, kind: DeviceKind): boolean {
  if (implausible(point, x)) return false;
  switch (point) {
    case 'w':
    case 'var':
    case 'va':
    case 'dc_w': {
      const pMax =
        kind === 'meter'
          ? 10_000_000
          : Math.max(np.va_max ?? 0, np.w_max ?? 0, np.w_charge_max ?? 0, np.w_discharge_max ?? 0, 1000) *
              1.5 +
            100;
      return Math.abs(x) <= pMax;
    }
    case 'v':
      return x <= 1000;
    case 'temp_c':
      return x <= 150;
    default:
      return true;
  }
}

/**
 * Turns decoded models (in preference order: the first model providing a point wins) into one
 * canonical reading with quality flags.
 */
export function normalize(
  models: DecodedModel[],
  ctx: { kind: DeviceKind; nameplate: Nameplate; quirks: Quirks; ts: number },
): Reading {
  const values: CanonicalValues = {};
  const quality: Reading['quality'] = {};
  for (const m of models) {
    const rules = rulesFor(m.id);
    if (!rules) continue;
    const bad = new Set(m.issues.map((i) => i.path));
    for (const [point, rule] of Object.entries(rules) as Array<[CanonicalPoint, Rule]>) {
      if (point in values || quality[point] === 'invalid') continue;
      if (rule.from.some((f) => bad.has(f))) {
        quality[point] = 'invalid';
        continue;
      }
      const x = rule.get(m.values, ctx.quirks);
      if (x === undefined) continue; // not implemented by this device: absent, not an error
      if (!plausible(point, x, ctx.nameplate, ctx.kind)) {
        quality[point] = 'invalid';
        continue;
      }
      values[point] = Math.round(x * 1000) / 1000;
    }
  }
  return { ts: ctx.ts, values, quality };
}

/** Nameplate from 702 (preferred), 120, 802/713/124; first model providing a rating wins. */
export function nameplateFrom(models: DecodedModel[]): Nameplate {
  const np: Nameplate = {};
  const set = (k: keyof Nameplate, x: unknown) => {
    const n = num(x);
    if (np[k] === undefined && n !== undefined && n > 0) np[k] = n;
  };
  for (const m of models) {
    const v = m.values;
    if (m.id === 702) {
      set('w_max', v.WMaxRtg ?? v.WMax);
      set('va_max', v.VAMaxRtg ?? v.VAMax);
      set('var_max', v.VarMaxInjRtg ?? v.VarMaxInj);
      set('w_charge_max', v.WChaRteMaxRtg ?? v.WChaRteMax);
      set('w_discharge_max', v.WDisChaRteMaxRtg ?? v.WDisChaRteMax);
    } else if (m.id === 120) {
      set('w_max', v.WRtg);
      set('va_max', v.VARtg);
      set('var_max', v.VArRtgQ1);
      set('w_charge_max', v.MaxChaRte);
      set('w_discharge_max', v.MaxDisChaRte);
      set('wh_capacity', v.WHRtg);
    } else if (m.id === 802) {
      set('w_charge_max', v.WChaRteMax);
      set('w_discharge_max', v.WDisChaRteMax);
      set('wh_capacity', v.WHRtg);
    } else if (m.id === 713) {
      set('wh_capacity', v.WHRtg);
    } else if (m.id === 124) {
      set('w_charge_max', v.WChaMax);
    }
  }
  return np;
}
