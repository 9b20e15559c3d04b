/**
 * DER availability envelope: per interval, how much a site can move its net power at the meter up
 * (more export / less import: battery discharge, load reduction) or down (more import / less export:
 * battery charge, load increase) relative to its baseline, given batteries' state of charge and
 * limits, flexible loads, the site's connection limits and its forecast load and PV.
 *
 * Power values share the unit of the load/PV forecasts (e.g. W); energy is that unit × hours.
 * Each interval's up/down is what is available if the site was not dispatched before it; the energy
 * fields say how long it can be sustained (the envelope is not available in every interval at once).
 * Pass P10 PV and P90 load instead of P50 for a conservative envelope.
 */
import { localTime } from './timezone.ts';

export interface BatterySpec {
  /** usable energy capacity, power unit × h */
  energyCapacity: number;
  /** state of charge now, 0…1 */
  soc: number;
  minSoc?: number;
  maxSoc?: number;
  maxCharge: number;
  maxDischarge: number;
  chargeEfficiency?: number;
  dischargeEfficiency?: number;
}

export interface FlexibleLoadSpec {
  name: string;
  /** how far its consumption can be reduced (it must be running to be reduced) */
  maxReduce: number;
  /** how far its consumption can be increased */
  maxIncrease: number;
  /** local hours [from, to) when it may be moved; omitted = always */
  availableHours?: [number, number];
  /** cap on energy moved over the horizon, power unit × h */
  energyLimit?: number;
}

export interface EnvelopeInput {
  start: number;
  stepMs: number;
  steps: number;
  /** site load forecast (consumption positive), one per interval; omitted = 0 */
  load?: number[];
  /** site PV forecast (generation positive) */
  pv?: number[];
  batteries?: BatterySpec[];
  flexibleLoads?: FlexibleLoadSpec[];
  /** connection limits at the meter (positive numbers) */
  importLimit?: number;
  exportLimit?: number;
  /** battery baseline: idle, or self-consumption (charge from PV surplus, discharge to cover load) */
  baseline?: 'idle' | 'self-consumption';
  /** needed only for flexible loads' availableHours */
  timeZone?: string;
}

export interface EnvelopeInterval {
  t: number;
  /** baseline net power at the meter, export positive */
  baselineNet: number;
  /** baseline battery power, discharge positive */
  baselineBattery: number;
  /** state of charge at the start of the interval under the baseline, summed over batteries (energy) */
  storedEnergy: number;
  up: number;
  down: number;
  /** energy that could still be discharged / absorbed from this interval on (power unit × h) */
  upEnergy: number;
  downEnergy: number;
}

export function flexibilityEnvelope(input: EnvelopeInput): EnvelopeInterval[] {
  const dtH = input.stepMs / 3_600_000;
  const bats = (input.batteries ?? []).map((b) => ({
    ...b,
    minSoc: b.minSoc ?? 0.1,
    maxSoc: b.maxSoc ?? 1,
    etaC: b.chargeEfficiency ?? 0.95,
    etaD: b.dischargeEfficiency ?? 0.95,
    energy: b.soc * b.energyCapacity,
  }));
  for (const b of bats) {
    if (!(b.soc >= 0 && b.soc <= 1)) throw new Error(`battery soc must be within 0…1, got ${b.soc}`);
    if (b.minSoc > b.maxSoc) throw new Error('battery minSoc exceeds maxSoc');
  }
  const flexEnergyLeft = (input.flexibleLoads ?? []).map((f) => ({
    up: f.energyLimit ?? Infinity,
    down: f.energyLimit ?? Infinity,
  }));
  const out: EnvelopeInterval[] = [];
  for (let j = 0; j < input.steps; j++) {
    const t = input.start + j * input.stepMs;
    const load = input.load?.[j] ?? 0;
    const pv = input.pv?.[j] ?? 0;
    let need = load - pv; // >0: site short of power; <0: surplus
    let batteryPower = 0;
    let up = 0;
    let down = 0;
    let upEnergy = 0;
    let downEnergy = 0;
    let stored = 0;
    for (const b of bats) {
      stored += b.energy;
      const emin = b.minSoc * b.energyCapacity;
      const emax = b.maxSoc * b.energyCapacity;
      const dischargeMax = Math.min(b.maxDischarge, (Math.max(0, b.energy - emin) * b.etaD) / dtH);
      const chargeMax = Math.min(b.maxCharge, Math.max(0, emax - b.energy) / (b.etaC * dtH));
      let p = 0;
      if (input.baseline === 'self-consumption')
        p = need > 0 ? Math.min(need, dischargeMax) : -Math.min(-need, chargeMax);
      need -= p;
      batteryPower += p;
      up += Math.max(0, dischargeMax - p);
      down += Math.max(0, chargeMax + p);
      upEnergy += Math.max(0, b.energy - emin) * b.etaD;
      downEnergy += Math.max(0, emax - b.energy) / b.etaC;
      b.energy += p > 0 ? (-p * dtH) / b.etaD : -p * dtH * b.etaC;
    }
    const hour = input.timeZone ? localTime(input.timeZone, t).msOfDay / 3_600_000 : 0;
    (input.flexibleLoads ?? []).forEach((f, i) => {
      if (f.availableHours) {
        if (!input.timeZone) throw new Error('flexible loads with availableHours need timeZone');
        const [from, to] = f.availableHours;
        const inside = from <= to ? hour >= from && hour < to : hour >= from || hour < to;
        if (!inside) return;
      }
      const left = flexEnergyLeft[i];
      const u = Math.min(f.maxReduce, left.up / dtH);
      const d = Math.min(f.maxIncrease, left.down / dtH);
      up += u;
      down += d;
      upEnergy += left.up === Infinity ? u * dtH * (input.steps - j) : left.up;
      downEnergy += left.down === Infinity ? d * dtH * (input.steps - j) : left.down;
    });
    const baselineNet = pv - load + batteryPower;
    if (input.exportLimit !== undefined) up = Math.min(up, Math.max(0, input.exportLimit - baselineNet));
    if (input.importLimit !== undefined) down = Math.min(down, Math.max(0, input.importLimit + baselineNet));
    out.push({
      t,
      baselineNet,
      baselineBattery: batteryPower,
      storedEnergy: stored,
      up,
      down,
      upEnergy,
      downEnergy,
    });
  }
  return out;
}
