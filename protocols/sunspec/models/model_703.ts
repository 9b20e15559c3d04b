import { model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };

/** SunSpec model 703: Enter Service (fixed length 17). */
export const model703 = model(703, 'DEREnterService', 'Enter Service', [
  rw('ES', 'enum16', { symbols: ENABLE }),
  rw('ESVHi', 'uint16', { sf: 'V_SF', units: 'Pct' }),
  rw('ESVLo', 'uint16', { sf: 'V_SF', units: 'Pct' }),
  rw('ESHzHi', 'uint32', { sf: 'Hz_SF', units: 'Hz' }),
  rw('ESHzLo', 'uint32', { sf: 'Hz_SF', units: 'Hz' }),
  rw('ESDlyTms', 'uint32', { units: 'Secs' }),
  rw('ESRndTms', 'uint32', { units: 'Secs' }),
  rw('ESRmpTms', 'uint32', { units: 'Secs' }),
  pt('ESDlyRemTms', 'uint32', { units: 'Secs' }),
  pt('V_SF', 'sunssf', { static: true }),
  pt('Hz_SF', 'sunssf', { static: true }),
]);
