import { acMeter } from './ac-meter.ts';

/**
 * SunSpec AC meters 201–204 (integer + scale factor, fixed length 105) and 211–213 (float, fixed length
 * 124), built from the one meter layout in `ac-meter.ts`. What is left here is what the official
 * definitions say differs between them: the wiring's mandatory points and a few spellings.
 */

/** 201 alone names its event bits without the `M_EVENT_` prefix and without the reserved bits. */
const EVT_201 = {
  Power_Failure: 2,
  Under_Voltage: 3,
  Low_PF: 4,
  Over_Current: 5,
  Over_Voltage: 6,
  Missing_Sensor: 7,
  OEM01: 16,
  OEM02: 17,
  OEM03: 18,
  OEM04: 19,
  OEM05: 20,
  OEM06: 21,
  OEM07: 22,
  OEM08: 23,
  OEM09: 24,
  OEM10: 25,
  OEM11: 26,
  OEM12: 27,
  OEM13: 28,
  OEM14: 29,
  OEM15: 30,
};

/** SunSpec model 201: single phase (AN or AB) meter. */
export const model201 = acMeter({
  id: 201,
  name: 'ac_meter_an_or_ab',
  label: 'Meter (Single Phase) single phase (AN or AB) meter',
  encoding: 'scaled',
  mandatory: ['AphA'],
  evt: EVT_201,
});

/** SunSpec model 202: split single phase (ABN) meter. */
export const model202 = acMeter({
  id: 202,
  name: 'ac_meter_abn',
  label: 'split single phase (ABN) meter',
  encoding: 'scaled',
  // As the official definition has it: AphB and AphC mandatory, AphA optional.
  mandatory: ['AphB', 'AphC', 'PhV', 'PhVphA', 'PhVphB', 'PPV', 'PhVphAB'],
  lineVoltagePrefix: 'PhV',
});

/** SunSpec model 203: wye-connect three phase (abcn) meter. */
export const model203 = acMeter({
  id: 203,
  name: 'ac_meter_abcn',
  label: 'wye-connect three phase (abcn) meter',
  encoding: 'scaled',
  mandatory: [
    'AphA',
    'AphB',
    'AphC',
    'PhV',
    'PhVphA',
    'PhVphB',
    'PhVphC',
    'PPV',
    'PhVphAB',
    'PhVphBC',
    'PhVphCA',
  ],
  lineVoltagePrefix: 'PhV',
});

/** SunSpec model 204: delta-connect three phase (abc) meter. */
export const model204 = acMeter({
  id: 204,
  name: 'ac_meter_abc',
  label: 'delta-connect three phase (abc) meter',
  encoding: 'scaled',
  mandatory: ['AphA', 'AphB', 'AphC', 'PPV', 'PhVphAB', 'PhVphBC', 'PhVphCA'],
  lineVoltagePrefix: 'PhV',
});

/** SunSpec model 211: single phase (AN or AB) meter, float. */
export const model211 = acMeter({
  id: 211,
  name: 'ac_meter_an_or_ab_float',
  label: 'single phase (AN or AB) meter',
  encoding: 'float',
  mandatory: ['AphA'],
});

/** SunSpec model 212: split single phase (ABN) meter, float. */
export const model212 = acMeter({
  id: 212,
  name: 'ac_meter_abn_float',
  label: 'split single phase (ABN) meter',
  encoding: 'float',
  mandatory: ['AphA', 'AphB', 'PhV', 'PhVphA', 'PhVphB', 'PPV', 'PPVphAB'],
});

/** SunSpec model 213: wye-connect three phase (abcn) meter, float. */
export const model213 = acMeter({
  id: 213,
  name: 'ac_meter_abcn_float',
  label: 'wye-connect three phase (abcn) meter',
  encoding: 'float',
  mandatory: [
    'AphA',
    'AphB',
    'AphC',
    'PhV',
    'PhVphA',
    'PhVphB',
    'PhVphC',
    'PPV',
    'PPVphAB',
    'PPVphBC',
    'PPVphCA',
  ],
});
