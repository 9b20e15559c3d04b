import { model, pt, rw } from '../dsl.ts';

const V_AR_ACT = { SWITCH: 1, MAINTAIN: 2 };
const CLC_TOT_VA = { VECTOR: 1, ARITHMETIC: 2 };
const CONN_PH = { A: 1, B: 2, C: 3 };

/** SunSpec model 121: Basic Settings (fixed length 30). */
export const model121 = model(121, 'settings', 'Basic Settings', [
  rw('WMax', 'uint16', { sf: 'WMax_SF', units: 'W', mandatory: true }),
  rw('VRef', 'uint16', { sf: 'VRef_SF', units: 'V', mandatory: true }),
  rw('VRefOfs', 'int16', { sf: 'VRefOfs_SF', units: 'V', mandatory: true }),
  rw('VMax', 'uint16', { sf: 'VMinMax_SF', units: 'V' }),
  rw('VMin', 'uint16', { sf: 'VMinMax_SF', units: 'V' }),
  rw('VAMax', 'uint16', { sf: 'VAMax_SF', units: 'VA' }),
  rw('VArMaxQ1', 'int16', { sf: 'VArMax_SF', units: 'var' }),
  rw('VArMaxQ2', 'int16', { sf: 'VArMax_SF', units: 'var' }),
  rw('VArMaxQ3', 'int16', { sf: 'VArMax_SF', units: 'var' }),
  rw('VArMaxQ4', 'int16', { sf: 'VArMax_SF', units: 'var' }),
  rw('WGra', 'uint16', { sf: 'WGra_SF', units: '% WMax/sec' }),
  rw('PFMinQ1', 'int16', { sf: 'PFMin_SF', units: 'cos()' }),
  rw('PFMinQ2', 'int16', { sf: 'PFMin_SF', units: 'cos()' }),
  rw('PFMinQ3', 'int16', { sf: 'PFMin_SF', units: 'cos()' }),
  rw('PFMinQ4', 'int16', { sf: 'PFMin_SF', units: 'cos()' }),
  rw('VArAct', 'enum16', { symbols: V_AR_ACT }),
  rw('ClcTotVA', 'enum16', { symbols: CLC_TOT_VA }),
  rw('MaxRmpRte', 'uint16', { sf: 'MaxRmpRte_SF', units: '% WGra' }),
  rw('ECPNomHz', 'uint16', { sf: 'ECPNomHz_SF', units: 'Hz' }),
  rw('ConnPh', 'enum16', { symbols: CONN_PH }),
  pt('WMax_SF', 'sunssf', { mandatory: true }),
  pt('VRef_SF', 'sunssf', { mandatory: true }),
  pt('VRefOfs_SF', 'sunssf', { mandatory: true }),
  pt('VMinMax_SF', 'sunssf'),
  pt('VAMax_SF', 'sunssf'),
  pt('VArMax_SF', 'sunssf'),
  pt('WGra_SF', 'sunssf'),
  pt('PFMin_SF', 'sunssf'),
  pt('MaxRmpRte_SF', 'sunssf'),
  pt('ECPNomHz_SF', 'sunssf'),
]);
