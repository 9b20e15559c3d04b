import { model, pt } from '../dsl.ts';
import type { ModelDef, PointDef, PointType } from '../types.ts';

/**
 * The inverter family (101–103 integer + scale factor, 111–113 float). All six share one point
 * layout; they differ in how many phases' current and voltage are mandatory and in the encoding. A
 * model file is therefore one call, and the conformance test still checks every point against the
 * official JSON.
 */

export const INVERTER_ST = {
  OFF: 1,
  SLEEPING: 2,
  STARTING: 3,
  MPPT: 4,
  THROTTLED: 5,
  SHUTTING_DOWN: 6,
  FAULT: 7,
  STANDBY: 8,
};
export const INVERTER_EVT1 = {
  GROUND_FAULT: 0,
  DC_OVER_VOLT: 1,
  AC_DISCONNECT: 2,
  DC_DISCONNECT: 3,
  GRID_DISCONNECT: 4,
  CABINET_OPEN: 5,
  MANUAL_SHUTDOWN: 6,
  OVER_TEMP: 7,
  OVER_FREQUENCY: 8,
  UNDER_FREQUENCY: 9,
  AC_OVER_VOLT: 10,
  AC_UNDER_VOLT: 11,
  BLOWN_STRING_FUSE: 12,
  UNDER_TEMP: 13,
  MEMORY_LOSS: 14,
  HW_TEST_FAILURE: 15,
};

/** Values of one scale factor: name, integer type (20x-style models), units. */
interface ScaledBlock {
  sf: string;
  points: readonly (readonly [name: string, type: PointType, units: string])[];
}

const MEASUREMENTS: readonly ScaledBlock[] = [
  {
    sf: 'A_SF',
    points: [
      ['A', 'uint16', 'A'],
      ['AphA', 'uint16', 'A'],
      ['AphB', 'uint16', 'A'],
      ['AphC', 'uint16', 'A'],
    ],
  },
  {
    sf: 'V_SF',
    points: [
      ['PPVphAB', 'uint16', 'V'],
      ['PPVphBC', 'uint16', 'V'],
      ['PPVphCA', 'uint16', 'V'],
      ['PhVphA', 'uint16', 'V'],
      ['PhVphB', 'uint16', 'V'],
      ['PhVphC', 'uint16', 'V'],
    ],
  },
  { sf: 'W_SF', points: [['W', 'int16', 'W']] },
  { sf: 'Hz_SF', points: [['Hz', 'uint16', 'Hz']] },
  { sf: 'VA_SF', points: [['VA', 'int16', 'VA']] },
  { sf: 'VAr_SF', points: [['VAr', 'int16', 'var']] },
  { sf: 'PF_SF', points: [['PF', 'int16', 'Pct']] },
  { sf: 'WH_SF', points: [['WH', 'acc32', 'Wh']] },
  { sf: 'DCA_SF', points: [['DCA', 'uint16', 'A']] },
  { sf: 'DCV_SF', points: [['DCV', 'uint16', 'V']] },
  { sf: 'DCW_SF', points: [['DCW', 'int16', 'W']] },
  {
    sf: 'Tmp_SF',
    points: [
      ['TmpCab', 'int16', 'C'],
      ['TmpSnk', 'int16', 'C'],
      ['TmpTrns', 'int16', 'C'],
      ['TmpOt', 'int16', 'C'],
    ],
  },
];

const PHASES = ['A', 'B', 'C'] as const;

export interface InverterSpec {
  id: number;
  name: string;
  label: string;
  /** `scaled`: integer values with `*_SF` points (10x); `float`: float32 values, no scale factors (11x). */
  encoding: 'scaled' | 'float';
  /** Phases whose current (AphX) and phase voltage (PhVphX) are mandatory. */
  phases: 1 | 2 | 3;
  /** Operating-state symbols; 111 alone spells them differently. */
  st?: Readonly<Record<string, number>>;
}

export function inverter(spec: InverterSpec): ModelDef {
  const scaled = spec.encoding === 'scaled';
  const phases = PHASES.slice(0, spec.phases);
  const mandatory = new Set([
    'A',
    'W',
    'Hz',
    'WH',
    'TmpCab',
    ...phases.map((p) => `Aph${p}`),
    ...phases.map((p) => `PhVph${p}`),
  ]);
  const points: PointDef[] = [];
  for (const { sf, points: values } of MEASUREMENTS) {
    for (const [name, type, units] of values) {
      const m = mandatory.has(name);
      points.push(
        scaled ? pt(name, type, { sf, units, mandatory: m }) : pt(name, 'float32', { units, mandatory: m }),
      );
    }
    // A scale factor is mandatory exactly when a value it scales is.
    if (scaled) points.push(pt(sf, 'sunssf', { mandatory: values.some(([name]) => mandatory.has(name)) }));
  }
  points.push(
    pt('St', 'enum16', { mandatory: true, symbols: spec.st ?? INVERTER_ST }),
    pt('StVnd', 'enum16'),
    pt('Evt1', 'bitfield32', { mandatory: true, symbols: INVERTER_EVT1 }),
    pt('Evt2', 'bitfield32', { mandatory: true }),
    pt('EvtVnd1', 'bitfield32'),
    pt('EvtVnd2', 'bitfield32'),
    pt('EvtVnd3', 'bitfield32'),
    pt('EvtVnd4', 'bitfield32'),
  );
  return model(spec.id, spec.name, spec.label, points);
}
