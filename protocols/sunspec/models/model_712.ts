import { group, model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };
const ADPT_CRV_RSLT = { IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 };
const DEPT_REF = { W_MAX_PCT: 0, VAR_MAX_PCT: 1, VAR_AVAL_PCT: 2, VA_MAX_PCT: 3 };
const PRI = { ACTIVE: 0, REACTIVE: 1 };
const READ_ONLY = { RW: 0, R: 1 };

/** SunSpec model 712: DER Watt-Var (variable length: repeating groups). */
export const model712 = model(
  712,
  'DERWattVar',
  'DER Watt-Var',
  [
    rw('Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
    rw('AdptCrvReq', 'uint16', { mandatory: true }),
    pt('AdptCrvRslt', 'enum16', { mandatory: true, symbols: ADPT_CRV_RSLT }),
    pt('NPt', 'uint16', { mandatory: true, static: true }),
    pt('NCrv', 'uint16', { mandatory: true, static: true }),
    rw('RvrtTms', 'uint32', { units: 'Secs' }),
    pt('RvrtRem', 'uint32', { units: 'Secs' }),
    rw('RvrtCrv', 'uint16'),
    pt('W_SF', 'sunssf', { mandatory: true, static: true }),
    pt('DeptRef_SF', 'sunssf', { mandatory: true, static: true }),
  ],
  [
    group(
      'Crv',
      [
        rw('ActPt', 'uint16', { mandatory: true }),
        rw('DeptRef', 'enum16', { mandatory: true, symbols: DEPT_REF }),
        rw('Pri', 'enum16', { symbols: PRI }),
        pt('ReadOnly', 'enum16', { mandatory: true, static: true, symbols: READ_ONLY }),
      ],
      {
        count: 'NCrv',
        groups: [
          group(
            'Pt',
            [
              rw('W', 'int16', { sf: 'W_SF', units: 'WMaxPct' }),
              rw('Var', 'int16', { sf: 'DeptRef_SF', units: 'VarPct' }),
            ],
            { count: 'NPt' },
          ),
        ],
      },
    ),
  ],
);
