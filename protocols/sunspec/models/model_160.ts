import { group, model, pt, str } from '../dsl.ts';

const EVT = {
  GROUND_FAULT: 0,
  INPUT_OVER_VOLTAGE: 1,
  RESERVED_2: 2,
  DC_DISCONNECT: 3,
  RESERVED_4: 4,
  CABINET_OPEN: 5,
  MANUAL_SHUTDOWN: 6,
  OVER_TEMP: 7,
  RESERVED_8: 8,
  RESERVED_9: 9,
  RESERVED_10: 10,
  RESERVED_11: 11,
  BLOWN_FUSE: 12,
  UNDER_TEMP: 13,
  MEMORY_LOSS: 14,
  ARC_DETECTION: 15,
  RESERVED_16: 16,
  RESERVED_17: 17,
  RESERVED_18: 18,
  RESERVED_19: 19,
  TEST_FAILED: 20,
  INPUT_UNDER_VOLTAGE: 21,
  INPUT_OVER_CURRENT: 22,
};
const DC_ST = {
  OFF: 1,
  SLEEPING: 2,
  STARTING: 3,
  MPPT: 4,
  THROTTLED: 5,
  SHUTTING_DOWN: 6,
  FAULT: 7,
  STANDBY: 8,
  TEST: 9,
  RESERVED_10: 10,
};

/** SunSpec model 160: Multiple MPPT Inverter Extension Model (variable length: repeating groups). */
export const model160 = model(
  160,
  'mppt',
  'Multiple MPPT Inverter Extension Model',
  [
    pt('DCA_SF', 'sunssf'),
    pt('DCV_SF', 'sunssf'),
    pt('DCW_SF', 'sunssf'),
    pt('DCWH_SF', 'sunssf'),
    pt('Evt', 'bitfield32', { symbols: EVT }),
    pt('N', 'count'),
    pt('TmsPer', 'uint16'),
  ],
  [
    group(
      'module',
      [
        pt('ID', 'uint16'),
        str('IDStr', 8),
        pt('DCA', 'uint16', { sf: 'DCA_SF', units: 'A' }),
        pt('DCV', 'uint16', { sf: 'DCV_SF', units: 'V' }),
        pt('DCW', 'uint16', { sf: 'DCW_SF', units: 'W' }),
        pt('DCWH', 'acc32', { sf: 'DCWH_SF', units: 'Wh' }),
        pt('Tms', 'uint32', { units: 'Secs' }),
        pt('Tmp', 'int16', { units: 'C' }),
        pt('DCSt', 'enum16', { symbols: DC_ST }),
        pt('DCEvt', 'bitfield32', { symbols: EVT }),
      ],
      { count: 0 },
    ),
  ],
);
