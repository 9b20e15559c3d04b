import { group, model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };
const ADPT_CTL_RSLT = { IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 };
const READ_ONLY = { RW: 0, R: 1 };

/** SunSpec model 711: DER Frequency Droop (variable length: repeating groups). */
export const model711 = model(
  711,
  'DERFreqDroop',
  'DER Frequency Droop',
  [
    rw('Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
    rw('AdptCtlReq', 'uint16', { mandatory: true }),
    pt('AdptCtlRslt', 'enum16', { mandatory: true, symbols: ADPT_CTL_RSLT }),
    pt('NCtl', 'uint16', { mandatory: true, static: true }),
    rw('RvrtTms', 'uint32', { units: 'Secs' }),
    pt('RvrtRem', 'uint32', { units: 'Secs' }),
    rw('RvrtCtl', 'uint16'),
    pt('Db_SF', 'sunssf', { mandatory: true, static: true }),
    pt('K_SF', 'sunssf', { mandatory: true, static: true }),
    pt('RspTms_SF', 'sunssf', { mandatory: true, static: true }),
  ],
  [
    group(
      'Ctl',
      [
        rw('DbOf', 'uint32', { sf: 'Db_SF', units: 'Hz', mandatory: true }),
        rw('DbUf', 'uint32', { sf: 'Db_SF', units: 'Hz', mandatory: true }),
        rw('KOf', 'uint16', { sf: 'K_SF', mandatory: true }),
        rw('KUf', 'uint16', { sf: 'K_SF', mandatory: true }),
        rw('RspTms', 'uint32', { sf: 'RspTms_SF', units: 'Secs', mandatory: true }),
        rw('PMin', 'int16', { units: 'Pct' }),
        pt('ReadOnly', 'enum16', { mandatory: true, static: true, symbols: READ_ONLY }),
      ],
      { count: 'NCtl' },
    ),
  ],
);
