import { model, type PointOpts, pt } from '../dsl.ts';
import type { ModelDef, PointDef, PointType } from '../types.ts';

/**
 * The AC meter family (201–204 integer + scale factor, 211–213 float). All seven share one point
 * layout: per quantity a total, three phase values and (integer models only) a scale factor, then the
 * energy accumulators and the event bitfield. The models differ only in which points are mandatory and
 * in a few spellings the official definitions carry; those are parameters here, so a model file is the
 * list of its differences and the conformance test still checks every point against the official JSON.
 */

/** Meter event bits as 202–204 and 211–213 name them. */
export const METER_EVT = {
  M_EVENT_Power_Failure: 2,
  M_EVENT_Under_Voltage: 3,
  M_EVENT_Low_PF: 4,
  M_EVENT_Over_Current: 5,
  M_EVENT_Over_Voltage: 6,
  M_EVENT_Missing_Sensor: 7,
  M_EVENT_Reserved1: 8,
  M_EVENT_Reserved2: 9,
  M_EVENT_Reserved3: 10,
  M_EVENT_Reserved4: 11,
  M_EVENT_Reserved5: 12,
  M_EVENT_Reserved6: 13,
  M_EVENT_Reserved7: 14,
  M_EVENT_Reserved8: 15,
  M_EVENT_OEM01: 16,
  M_EVENT_OEM02: 17,
  M_EVENT_OEM03: 18,
  M_EVENT_OEM04: 19,
  M_EVENT_OEM05: 20,
  M_EVENT_OEM06: 21,
  M_EVENT_OEM07: 22,
  M_EVENT_OEM08: 23,
  M_EVENT_OEM09: 24,
  M_EVENT_OEM10: 25,
  M_EVENT_OEM11: 26,
  M_EVENT_OEM12: 27,
  M_EVENT_OEM13: 28,
  M_EVENT_OEM14: 29,
  M_EVENT_OEM15: 30,
};

export interface AcMeterSpec {
  id: number;
  name: string;
  label: string;
  /** `scaled`: int16/acc32 values with `*_SF` points (20x); `float`: float32 values, no scale factors (21x). */
  encoding: 'scaled' | 'float';
  /**
   * The phase currents and voltages the model marks mandatory (they follow its wiring). The points
   * every meter marks mandatory are added here: see {@link ALWAYS_MANDATORY}.
   */
  mandatory: readonly string[];
  /** Prefix of the line-to-line voltages: `PPV` (PPVphAB…) in 201 and 21x, `PhV` (PhVphAB…) in 202–204. */
  lineVoltagePrefix?: 'PPV' | 'PhV';
  /** Event symbols; 201 has its own short names, every other meter {@link METER_EVT}. */
  evt?: Readonly<Record<string, number>>;
}

const PHASES = ['A', 'B', 'C'] as const;

/** Mandatory in every meter model (besides `ID` and `L`), and in 20x these scale factors. */
const ALWAYS_MANDATORY = ['A', 'Hz', 'W', 'TotWhExp', 'TotWhImp', 'Evt'];
const ALWAYS_MANDATORY_SCALED = ['A_SF', 'V_SF', 'W_SF', 'TotWh_SF'];

export function acMeter(spec: AcMeterSpec): ModelDef {
  const scaled = spec.encoding === 'scaled';
  const value: PointType = scaled ? 'int16' : 'float32';
  const energy: PointType = scaled ? 'acc32' : 'float32';
  const linePrefix = spec.lineVoltagePrefix ?? 'PPV';
  // 21x spell the reactive-energy phase suffix in lower case (TotVArhImpQ1phA), 20x as PhA.
  const varhPhase = scaled ? 'Ph' : 'ph';
  const mandatory = new Set([
    ...ALWAYS_MANDATORY,
    ...(scaled ? ALWAYS_MANDATORY_SCALED : []),
    ...spec.mandatory,
  ]);
  const points: PointDef[] = [];
  const push = (name: string, type: PointType, opts: PointOpts = {}) =>
    points.push(pt(name, type, { ...opts, mandatory: mandatory.has(name) }));
  const add = (name: string, type: PointType, units: string, sf: string) =>
    push(name, type, scaled ? { sf, units } : { units });
  const scale = (sf: string) => {
    if (scaled) push(sf, 'sunssf');
  };
  /** A total and its three phase values, e.g. W, WphA, WphB, WphC. */
  const phased = (total: string, phase: string, type: PointType, units: string, sf: string) => {
    add(total, type, units, sf);
    for (const p of PHASES) add(`${phase}${p}`, type, units, sf);
  };

  phased('A', 'Aph', value, 'A', 'A_SF');
  scale('A_SF');
  phased('PhV', 'PhVph', value, 'V', 'V_SF');
  add('PPV', value, 'V', 'V_SF');
  for (const pair of ['AB', 'BC', 'CA']) add(`${linePrefix}ph${pair}`, value, 'V', 'V_SF');
  scale('V_SF');
  add('Hz', value, 'Hz', 'Hz_SF');
  scale('Hz_SF');
  for (const [q, units] of [
    ['W', 'W'],
    ['VA', 'VA'],
    ['VAR', 'var'],
    ['PF', scaled ? 'Pct' : 'PF'],
  ] as const) {
    phased(q, `${q}ph`, value, units, `${q}_SF`);
    scale(`${q}_SF`);
  }
  for (const dir of ['Exp', 'Imp']) phased(`TotWh${dir}`, `TotWh${dir}Ph`, energy, 'Wh', 'TotWh_SF');
  scale('TotWh_SF');
  for (const dir of ['Exp', 'Imp']) phased(`TotVAh${dir}`, `TotVAh${dir}Ph`, energy, 'VAh', 'TotVAh_SF');
  scale('TotVAh_SF');
  for (const quadrant of ['ImpQ1', 'ImpQ2', 'ExpQ3', 'ExpQ4']) {
    const total = `TotVArh${quadrant}`;
    phased(total, `${total}${varhPhase}`, energy, 'varh', 'TotVArh_SF');
  }
  scale('TotVArh_SF');
  push('Evt', 'bitfield32', { symbols: spec.evt ?? METER_EVT });

  const unknown = [...mandatory].filter((n) => !points.some((p) => p.name === n));
  if (unknown.length > 0)
    throw new Error(`meter model ${spec.id}: mandatory ${unknown.join(', ')} not in layout`);
  return model(spec.id, spec.name, spec.label, points);
}
