import { group, model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };
const ADPT_CRV_RSLT = { IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 };
const READ_ONLY = { RW: 0, R: 1 };

/** SunSpec model 708: DER Trip HV (variable length: repeating groups). */
export const model708 = model(
  708,
  'DERTripHV',
  'DER Trip HV',
  [
    rw('Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
    rw('AdptCrvReq', 'uint16', { mandatory: true }),
    pt('AdptCrvRslt', 'enum16', { mandatory: true, symbols: ADPT_CRV_RSLT }),
    pt('NPt', 'uint16', { mandatory: true, static: true }),
    pt('NCrvSet', 'uint16', { mandatory: true, static: true }),
    pt('V_SF', 'sunssf', { mandatory: true, static: true }),
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
                rw('V', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
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
                rw('V', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
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
                rw('V', 'uint16', { sf: 'V_SF', units: 'VNomPct' }),
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
