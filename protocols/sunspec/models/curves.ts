import { pt, rw } from '../dsl.ts';
import { curveModel, ENABLE } from './der-curve.ts';

/** SunSpec curve models 705, 706 and 712 (variable length), built on the shared 7xx skeleton. */

const DEPT_REF_VAR = { W_MAX_PCT: 0, VAR_MAX_PCT: 1, VAR_AVAL_PCT: 2, VA_MAX_PCT: 3 };

/** SunSpec model 705: DER Volt-Var. */
export const model705 = curveModel({
  id: 705,
  name: 'DERVoltVar',
  label: 'DER Volt-Var',
  scaleFactors: ['V_SF', 'DeptRef_SF', 'RspTms_SF'],
  deptRef: DEPT_REF_VAR,
  curvePoints: [
    rw('Pri', 'enum16', { symbols: { ACTIVE: 0, REACTIVE: 1, VENDOR: 2 } }),
    rw('VRef', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
    pt('VRefAuto', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
    rw('VRefAutoEna', 'enum16', { symbols: ENABLE }),
    rw('VRefAutoTms', 'uint16', { units: 'Secs' }),
    rw('RspTms', 'uint32', { sf: 'RspTms_SF', units: 'Secs' }),
  ],
  xy: [
    rw('V', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
    rw('Var', 'int16', { sf: 'DeptRef_SF', units: 'DeptRef' }),
  ],
});

/** SunSpec model 706: DER Volt-Watt. */
export const model706 = curveModel({
  id: 706,
  name: 'DERVoltWatt',
  label: 'DER Volt-Watt',
  scaleFactors: ['V_SF', 'DeptRef_SF', 'RspTms_SF'],
  deptRef: { W_MAX_PCT: 0, W_AVAL_PCT: 1 },
  curvePoints: [rw('RspTms', 'uint32', { sf: 'RspTms_SF', units: 'Secs' })],
  xy: [
    rw('V', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
    rw('W', 'int16', { sf: 'DeptRef_SF', units: 'DeptRef' }),
  ],
});

/** SunSpec model 712: DER Watt-Var. */
export const model712 = curveModel({
  id: 712,
  name: 'DERWattVar',
  label: 'DER Watt-Var',
  scaleFactors: ['W_SF', 'DeptRef_SF'],
  deptRef: DEPT_REF_VAR,
  curvePoints: [rw('Pri', 'enum16', { symbols: { ACTIVE: 0, REACTIVE: 1 } })],
  xy: [
    rw('W', 'int16', { sf: 'W_SF', units: 'WMaxPct' }),
    rw('Var', 'int16', { sf: 'DeptRef_SF', units: 'VarPct' }),
  ],
});
