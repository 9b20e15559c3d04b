import { model, pt } from '../dsl.ts';

const STA = { OK: 0, WARNING: 1, ERROR: 2 };

/** SunSpec model 713: DER Storage Capacity (fixed length 7). */
export const model713 = model(713, 'DERStorageCapacity', 'DER Storage Capacity', [
  pt('WHRtg', 'uint16', { sf: 'WH_SF', units: 'WH' }),
  pt('WHAvail', 'uint16', { sf: 'WH_SF', units: 'WH' }),
  pt('SoC', 'uint16', { sf: 'Pct_SF', units: 'Pct' }),
  pt('SoH', 'uint16', { sf: 'Pct_SF', units: 'Pct' }),
  pt('Sta', 'enum16', { symbols: STA }),
  pt('WH_SF', 'sunssf', { static: true }),
  pt('Pct_SF', 'sunssf', { static: true }),
]);
