import { group, model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };
const ADPT_CRV_RSLT = { IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 };
const DEPT_REF = { W_MAX_PCT: 0, W_AVAL_PCT: 1 };
const READ_ONLY = { RW: 0, R: 1 };

/** SunSpec model 706: DER Volt-Watt (variable length: repeating groups). */
export const model706 = model(
  706,
  'DERVoltWatt',
  'DER Volt-Watt',
  [
    rw('Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
    rw('AdptCrvReq', 'uint16', { mandatory: true }),
    pt('AdptCrvRslt', 'enum16', { mandatory: true, symbols: ADPT_CRV_RSLT }),
    pt('NPt', 'uint16', { mandatory: true, static: true }),
    pt('NCrv', 'uint16', { mandatory: true, static: true }),
    rw('RvrtTms', 'uint32', { units: 'Secs' }),
    pt('RvrtRem', 'uint32', { units: 'Secs' }),
    rw('RvrtCrv', 'uint16'),
    pt('V_SF', 'sunssf', { mandatory: true, static: true }),
    pt('DeptRef_SF', 'sunssf', { mandatory: true, static: true }),
    pt('RspTms_SF', 'sunssf', { mandatory: true, static: true }),
  ],
  [
    group(
      'Crv',
      [
        rw('ActPt', 'uint16', { mandatory: true }),
        rw('DeptRef', 'enum16', { mandatory: true, symbols: DEPT_REF }),
        rw('RspTms', 'uint32', { sf: 'RspTms_SF', units: 'Secs' }),
        pt('ReadOnly', 'enum16', { mandatory: true, static: true, symbols: READ_ONLY }),
      ],
      {
        count: 'NCrv',
        groups: [
          group(
            'Pt',
            [
              rw('V', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
              rw('W', 'int16', { sf: 'DeptRef_SF', units: 'DeptRef' }),
            ],
            { count: 'NPt' },
          ),
        ],
      },
    ),
  ],
);
