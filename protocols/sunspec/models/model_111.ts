import { model, pt } from '../dsl.ts';
import { INVERTER_EVT1 } from './model_101.ts';

const ST = {
  ggOFF: 1,
  ggSLEEPING: 2,
  ggSTARTING: 3,
  ggMPPT: 4,
  ggTHROTTLED: 5,
  ggSHUTTING_DOWN: 6,
  ggFAULT: 7,
  ggSTANDBY: 8,
};

/** SunSpec model 111: Inverter (Single Phase) FLOAT (fixed length 60). */
export const model111 = model(111, 'inverter_single_phase_float', 'Inverter (Single Phase) FLOAT', [
  pt('A', 'float32', { units: 'A', mandatory: true }),
  pt('AphA', 'float32', { units: 'A', mandatory: true }),
  pt('AphB', 'float32', { units: 'A' }),
  pt('AphC', 'float32', { units: 'A' }),
  pt('PPVphAB', 'float32', { units: 'V' }),
  pt('PPVphBC', 'float32', { units: 'V' }),
  pt('PPVphCA', 'float32', { units: 'V' }),
  pt('PhVphA', 'float32', { units: 'V', mandatory: true }),
  pt('PhVphB', 'float32', { units: 'V' }),
  pt('PhVphC', 'float32', { units: 'V' }),
  pt('W', 'float32', { units: 'W', mandatory: true }),
  pt('Hz', 'float32', { units: 'Hz', mandatory: true }),
  pt('VA', 'float32', { units: 'VA' }),
  pt('VAr', 'float32', { units: 'var' }),
  pt('PF', 'float32', { units: 'Pct' }),
  pt('WH', 'float32', { units: 'Wh', mandatory: true }),
  pt('DCA', 'float32', { units: 'A' }),
  pt('DCV', 'float32', { units: 'V' }),
  pt('DCW', 'float32', { units: 'W' }),
  pt('TmpCab', 'float32', { units: 'C', mandatory: true }),
  pt('TmpSnk', 'float32', { units: 'C' }),
  pt('TmpTrns', 'float32', { units: 'C' }),
  pt('TmpOt', 'float32', { units: 'C' }),
  pt('St', 'enum16', { mandatory: true, symbols: ST }),
  pt('StVnd', 'enum16'),
  pt('Evt1', 'bitfield32', { mandatory: true, symbols: INVERTER_EVT1 }),
  pt('Evt2', 'bitfield32', { mandatory: true }),
  pt('EvtVnd1', 'bitfield32'),
  pt('EvtVnd2', 'bitfield32'),
  pt('EvtVnd3', 'bitfield32'),
  pt('EvtVnd4', 'bitfield32'),
]);
