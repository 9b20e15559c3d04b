import { group, model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };
const ADPT_CRV_RSLT = { IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 };
const READ_ONLY = { RW: 0, R: 1 };

/** SunSpec model 709: DER Trip LF (variable length: repeating groups). */
export const model709 = model(
  709,
  'DERTripLF',
  'DER Trip LF',
  [
    rw('Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
    rw('AdptCrvReq', 'uint16', { mandatory: true }),
    pt('AdptCrvRslt', 'enum16', { mandatory: true, symbols: ADPT_CRV_RSLT }),
    pt('NPt', 'uint16', { mandatory: true, static: true }),
    pt('NCrvSet', 'uint16', { mandatory: true, static: true }),
    pt('Hz_SF', 'sunssf', { mandatory: true, static: true }),
    pt('Tms_SF', 'sunssf', { mandatory: true, static: true }),
  ],
  [
    group('Crv', [pt('ReadOnly', 'enum16', { mandatory: true, static: true, symbols: READ_ONLY })], {
      count: 'NCrvSet',
      groups: [
        group('MustTrip', [rw('ActPt', 'uint16')], {
          groups: [
            group(
              'Pt',
              [
                rw('Hz', 'uint32', { sf: 'Hz_SF', units: 'Hz' }),
                rw('Tms', 'uint32', { sf: 'Tms_SF', units: 'Secs' }),
              ],
              { count: 'NPt' },
            ),
          ],
        }),
        group('MayTrip', [rw('ActPt', 'uint16')], {
          groups: [
            group(
              'Pt',
              [
                rw('Hz', 'uint32', { sf: 'Hz_SF', units: 'Hz' }),
                rw('Tms', 'uint32', { sf: 'Tms_SF', units: 'Secs' }),
              ],
              { count: 'NPt' },
            ),
          ],
        }),
        group('MomCess', [rw('ActPt', 'uint16')], {
          groups: [
            group(
              'Pt',
              [
                rw('Hz', 'uint32', { sf: 'Hz_SF', units: 'Hz' }),
                rw('Tms', 'uint32', { sf: 'Tms_SF', units: 'Secs' }),
              ],
              { count: 'NPt' },
            ),
          ],
        }),
      ],
    }),
  ],
);
