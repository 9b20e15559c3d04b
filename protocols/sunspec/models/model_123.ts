import { model, pt, rw } from '../dsl.ts';

const CONN = { DISCONNECT: 0, CONNECT: 1 };
const ENABLE = { DISABLED: 0, ENABLED: 1 };
const V_AR_PCT_MOD = { NONE: 0, WMax: 1, VArMax: 2, VArAval: 3 };

/** SunSpec model 123: Immediate Controls (fixed length 24). */
export const model123 = model(123, 'controls', 'Immediate Controls', [
  rw('Conn_WinTms', 'uint16', { units: 'Secs' }),
  rw('Conn_RvrtTms', 'uint16', { units: 'Secs' }),
  rw('Conn', 'enum16', { mandatory: true, symbols: CONN }),
  rw('WMaxLimPct', 'uint16', { sf: 'WMaxLimPct_SF', units: '% WMax', mandatory: true }),
  rw('WMaxLimPct_WinTms', 'uint16', { units: 'Secs' }),
  rw('WMaxLimPct_RvrtTms', 'uint16', { units: 'Secs' }),
  rw('WMaxLimPct_RmpTms', 'uint16', { units: 'Secs' }),
  rw('WMaxLim_Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
  rw('OutPFSet', 'int16', { sf: 'OutPFSet_SF', units: 'cos()', mandatory: true }),
  rw('OutPFSet_WinTms', 'uint16', { units: 'Secs' }),
  rw('OutPFSet_RvrtTms', 'uint16', { units: 'Secs' }),
  rw('OutPFSet_RmpTms', 'uint16', { units: 'Secs' }),
  rw('OutPFSet_Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
  rw('VArWMaxPct', 'int16', { sf: 'VArPct_SF', units: '% WMax' }),
  rw('VArMaxPct', 'int16', { sf: 'VArPct_SF', units: '% VArMax' }),
  rw('VArAvalPct', 'int16', { sf: 'VArPct_SF', units: '% VArAval' }),
  rw('VArPct_WinTms', 'uint16', { units: 'Secs' }),
  rw('VArPct_RvrtTms', 'uint16', { units: 'Secs' }),
  rw('VArPct_RmpTms', 'uint16', { units: 'Secs' }),
  rw('VArPct_Mod', 'enum16', { symbols: V_AR_PCT_MOD }),
  rw('VArPct_Ena', 'enum16', { mandatory: true, symbols: ENABLE }),
  pt('WMaxLimPct_SF', 'sunssf', { mandatory: true }),
  pt('OutPFSet_SF', 'sunssf', { mandatory: true }),
  pt('VArPct_SF', 'sunssf'),
]);
