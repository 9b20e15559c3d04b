import { group, model, rw } from '../dsl.ts';
import { adoptPoints, countPoint, readOnlyPoint, revertPoints, scaleFactors } from './der-curve.ts';

/** SunSpec model 711: DER Frequency Droop (variable length: NCtl control sets, 7xx skeleton). */
export const model711 = model(
  711,
  'DERFreqDroop',
  'DER Frequency Droop',
  [
    ...adoptPoints('Ctl'),
    countPoint('NCtl'),
    ...revertPoints('Ctl'),
    ...scaleFactors('Db_SF', 'K_SF', 'RspTms_SF'),
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
        readOnlyPoint(),
      ],
      { count: 'NCtl' },
    ),
  ],
);
