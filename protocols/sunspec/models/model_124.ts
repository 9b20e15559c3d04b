import { model, pt, rw } from '../dsl.ts';

const STOR_CTL_MOD = { CHARGE: 0, DiSCHARGE: 1 };
const CHA_ST = { OFF: 1, EMPTY: 2, DISCHARGING: 3, CHARGING: 4, FULL: 5, HOLDING: 6, TESTING: 7 };
const CHA_GRI_SET = { PV: 0, GRID: 1 };

/** SunSpec model 124: Storage (fixed length 24). */
export const model124 = model(124, 'storage_basic', 'Storage', [
  rw('WChaMax', 'uint16', { sf: 'WChaMax_SF', units: 'W', mandatory: true }),
  rw('WChaGra', 'uint16', { sf: 'WChaDisChaGra_SF', units: '% WChaMax/sec', mandatory: true }),
  rw('WDisChaGra', 'uint16', { sf: 'WChaDisChaGra_SF', units: '% WChaMax/sec', mandatory: true }),
  rw('StorCtl_Mod', 'bitfield16', { mandatory: true, symbols: STOR_CTL_MOD }),
  rw('VAChaMax', 'uint16', { sf: 'VAChaMax_SF', units: 'VA' }),
  rw('MinRsvPct', 'uint16', { sf: 'MinRsvPct_SF', units: '% WChaMax' }),
  pt('ChaState', 'uint16', { sf: 'ChaState_SF', units: '% AhrRtg' }),
  pt('StorAval', 'uint16', { sf: 'StorAval_SF', units: 'AH' }),
  pt('InBatV', 'uint16', { sf: 'InBatV_SF', units: 'V' }),
  pt('ChaSt', 'enum16', { symbols: CHA_ST }),
  rw('OutWRte', 'int16', { sf: 'InOutWRte_SF', units: '% WDisChaMax' }),
  rw('InWRte', 'int16', { sf: 'InOutWRte_SF', units: ' % WChaMax' }),
  rw('InOutWRte_WinTms', 'uint16', { units: 'Secs' }),
  rw('InOutWRte_RvrtTms', 'uint16', { units: 'Secs' }),
  rw('InOutWRte_RmpTms', 'uint16', { units: 'Secs' }),
  rw('ChaGriSet', 'enum16', { symbols: CHA_GRI_SET }),
  pt('WChaMax_SF', 'sunssf', { mandatory: true }),
  pt('WChaDisChaGra_SF', 'sunssf', { mandatory: true }),
  pt('VAChaMax_SF', 'sunssf'),
  pt('MinRsvPct_SF', 'sunssf'),
  pt('ChaState_SF', 'sunssf'),
  pt('StorAval_SF', 'sunssf'),
  pt('InBatV_SF', 'sunssf'),
  pt('InOutWRte_SF', 'sunssf'),
]);
