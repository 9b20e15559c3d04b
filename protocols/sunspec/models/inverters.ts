import { inverter } from './inverter.ts';

/**
 * SunSpec inverters 101–103 (integer + scale factor, fixed length 50) and 111–113 (float, fixed length
 * 60), built from the one inverter layout in `inverter.ts`.
 */

/** 111 alone prefixes its operating states with `gg`. */
const ST_111 = {
  ggOFF: 1,
  ggSLEEPING: 2,
  ggSTARTING: 3,
  ggMPPT: 4,
  ggTHROTTLED: 5,
  ggSHUTTING_DOWN: 6,
  ggFAULT: 7,
  ggSTANDBY: 8,
};

/** SunSpec model 101: Inverter (Single Phase). */
export const model101 = inverter({
  id: 101,
  name: 'inverter_single_phase',
  label: 'Inverter (Single Phase)',
  encoding: 'scaled',
  phases: 1,
});
/** SunSpec model 102: Inverter (Split-Phase). */
export const model102 = inverter({
  id: 102,
  name: 'inverter_split_phase',
  label: 'Inverter (Split-Phase)',
  encoding: 'scaled',
  phases: 2,
});
/** SunSpec model 103: Inverter (Three Phase). */
export const model103 = inverter({
  id: 103,
  name: 'inverter_three_phase',
  label: 'Inverter (Three Phase)',
  encoding: 'scaled',
  phases: 3,
});
/** SunSpec model 111: Inverter (Single Phase) FLOAT. */
export const model111 = inverter({
  id: 111,
  name: 'inverter_single_phase_float',
  label: 'Inverter (Single Phase) FLOAT',
  encoding: 'float',
  phases: 1,
  st: ST_111,
});
/** SunSpec model 112: Inverter (Split Phase) FLOAT. */
export const model112 = inverter({
  id: 112,
  name: 'inverter_split_phase_float',
  label: 'Inverter (Split Phase) FLOAT',
  encoding: 'float',
  phases: 2,
});
/** SunSpec model 113: Inverter (Three Phase) FLOAT. */
export const model113 = inverter({
  id: 113,
  name: 'inverter_three_phase_float',
  label: 'Inverter (Three Phase) FLOAT',
  encoding: 'float',
  phases: 3,
});
