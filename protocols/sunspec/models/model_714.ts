import { group, model, pt, str } from '../dsl.ts';

const PRT_TYP = { PV: 0, ESS: 1, EV: 2, INJ: 3, ABS: 4, BIDIR: 5, DC_DC: 6 };
const DC_STA = { OFF: 0, ON: 1, WARNING: 2, ERROR: 3 };
const DC_ALRM = {
  GROUND_FAULT: 0,
  INPUT_OVER_VOLTAGE: 1,
  DC_DISCONNECT: 3,
  CABINET_OPEN: 5,
  MANUAL_SHUTDOWN: 6,
  OVER_TEMP: 7,
  BLOWN_FUSE: 12,
  UNDER_TEMP: 13,
  MEMORY_LOSS: 14,
  ARC_DETECTION: 15,
  RESERVED: 19,
  TEST_FAILED: 20,
  INPUT_UNDER_VOLTAGE: 21,
  INPUT_OVER_CURRENT: 22,
};

/** SunSpec model 714: DER DC Measurement (variable length: repeating groups). */
export const model714 = model(
  714,
  'DERMeasureDC',
  'DER DC Measurement',
  [
    pt('PrtAlrms', 'bitfield32'),
    pt('NPrt', 'uint16', { static: true }),
    pt('DCA', 'int16', { sf: 'DCA_SF', units: 'A' }),
    pt('DCW', 'int16', { sf: 'DCW_SF', units: 'W' }),
    pt('DCWhInj', 'uint64', { sf: 'DCWH_SF', units: 'Wh' }),
    pt('DCWhAbs', 'uint64', { sf: 'DCWH_SF', units: 'Wh' }),
    pt('DCA_SF', 'sunssf', { static: true }),
    pt('DCV_SF', 'sunssf', { static: true }),
    pt('DCW_SF', 'sunssf', { static: true }),
    pt('DCWH_SF', 'sunssf', { static: true }),
    pt('Tmp_SF', 'sunssf', { static: true }),
  ],
  [
    group(
      'Prt',
      [
        pt('PrtTyp', 'enum16', { symbols: PRT_TYP }),
        pt('ID', 'uint16'),
        str('IDStr', 8),
        pt('DCA', 'int16', { sf: 'DCA_SF', units: 'A' }),
        pt('DCV', 'uint16', { sf: 'DCV_SF', units: 'V' }),
        pt('DCW', 'int16', { sf: 'DCW_SF', units: 'W' }),
        pt('DCWhInj', 'uint64', { sf: 'DCWH_SF', units: 'Wh' }),
        pt('DCWhAbs', 'uint64', { sf: 'DCWH_SF', units: 'Wh' }),
        pt('Tmp', 'int16', { sf: 'Tmp_SF', units: 'C' }),
        pt('DCSta', 'enum16', { symbols: DC_STA }),
        pt('DCAlrm', 'bitfield32', { symbols: DC_ALRM }),
      ],
      { count: 'NPrt' },
    ),
  ],
);
