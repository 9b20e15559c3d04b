import { group, model, pt, rw } from '../dsl.ts';
import type { GroupDef, ModelDef, PointDef } from '../types.ts';

/**
 * The DER curve, trip and control-set models (705–712) of IEEE 1547 / SunSpec 7xx share one skeleton:
 * an enable point, an "adopt" request/result handshake, counts of curves (or controls) and points,
 * optionally a revert timer, static scale factors, then repeating curve groups whose last point says
 * whether the curve is read-only. These builders write that skeleton once; the model files give only
 * the points that make a function what it is (volt-var's reference voltage, a trip curve's axis …).
 */

export const ENABLE = { DISABLED: 0, ENABLED: 1 };
const ADOPT_RESULT = { IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 };
const READ_ONLY = { RW: 0, R: 1 };

/** `Crv` for curve models (AdptCrvReq, RvrtCrv), `Ctl` for control-set models (AdptCtlReq, RvrtCtl). */
export type SetKind = 'Crv' | 'Ctl';

/** Ena, then the adopt handshake: the client writes a set number to Adpt…Req, the device reports Adpt…Rslt. */
export function adoptPoints(kind: SetKind): PointDef[] {
  return [
    rw('Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
    rw(`Adpt${kind}Req`, 'uint16', { mandatory: true }),
    pt(`Adpt${kind}Rslt`, 'enum16', { mandatory: true, symbols: ADOPT_RESULT }),
  ];
}

/** The revert timer: after RvrtTms seconds without a refresh the device falls back to set Rvrt…. */
export function revertPoints(kind: SetKind): PointDef[] {
  return [
    rw('RvrtTms', 'uint32', { units: 'Secs' }),
    pt('RvrtRem', 'uint32', { units: 'Secs' }),
    rw(`Rvrt${kind}`, 'uint16'),
  ];
}

/** A static count of repetitions (NPt, NCrv, NCtl …), fixed by the device. */
export function countPoint(name: string): PointDef {
  return pt(name, 'uint16', { mandatory: true, static: true });
}

/** Static, mandatory scale factors, in the order given. */
export function scaleFactors(...names: string[]): PointDef[] {
  return names.map((name) => pt(name, 'sunssf', { mandatory: true, static: true }));
}

/** Every curve or control set ends with whether the client may write it. */
export function readOnlyPoint(): PointDef {
  return pt('ReadOnly', 'enum16', { mandatory: true, static: true, symbols: READ_ONLY });
}

export interface CurveModelSpec {
  id: number;
  name: string;
  label: string;
  /** Scale factors after the revert timer, e.g. V_SF, DeptRef_SF, RspTms_SF. */
  scaleFactors: readonly string[];
  /** Symbols of the curve's dependent reference (DeptRef). */
  deptRef: Readonly<Record<string, number>>;
  /** Curve points between DeptRef and ReadOnly (Pri, VRef, RspTms …). */
  curvePoints: readonly PointDef[];
  /** The x and y of one curve point, e.g. V and Var. */
  xy: readonly [PointDef, PointDef];
}

/** A curve model (705 volt-var, 706 volt-watt, 712 watt-var): NCrv curves of NPt (x, y) points. */
export function curveModel(spec: CurveModelSpec): ModelDef {
  return model(
    spec.id,
    spec.name,
    spec.label,
    [
      ...adoptPoints('Crv'),
      countPoint('NPt'),
      countPoint('NCrv'),
      ...revertPoints('Crv'),
      ...scaleFactors(...spec.scaleFactors),
    ],
    [
      group(
        'Crv',
        [
          rw('ActPt', 'uint16', { mandatory: true }),
          rw('DeptRef', 'enum16', { mandatory: true, symbols: spec.deptRef }),
          ...spec.curvePoints,
          readOnlyPoint(),
        ],
        { count: 'NCrv', groups: [group('Pt', [...spec.xy], { count: 'NPt' })] },
      ),
    ],
  );
}

export interface TripModelSpec {
  id: number;
  name: string;
  label: string;
  /** The curve's axis: voltage (707 LV, 708 HV) or frequency (709 LF, 710 HF). */
  axis: 'V' | 'Hz';
}

/** A ride-through trip model: NCrvSet sets, each a must-trip, may-trip and momentary-cessation curve. */
export function tripModel(spec: TripModelSpec): ModelDef {
  const sf = `${spec.axis}_SF`;
  const axis =
    spec.axis === 'V' ? rw('V', 'uint16', { sf, units: 'VNomPct' }) : rw('Hz', 'uint32', { sf, units: 'Hz' });
  const curve = (name: string): GroupDef =>
    group(name, [rw('ActPt', 'uint16')], {
      groups: [group('Pt', [axis, rw('Tms', 'uint32', { sf: 'Tms_SF', units: 'Secs' })], { count: 'NPt' })],
    });
  return model(
    spec.id,
    spec.name,
    spec.label,
    [...adoptPoints('Crv'), countPoint('NPt'), countPoint('NCrvSet'), ...scaleFactors(sf, 'Tms_SF')],
    [
      group('Crv', [readOnlyPoint()], {
        count: 'NCrvSet',
        groups: [curve('MustTrip'), curve('MayTrip'), curve('MomCess')],
      }),
    ],
  );
}
