import { model, pt } from '../dsl.ts';

const DER_TYP = { PV: 4, PV_STOR: 82 };

/** SunSpec model 120: Nameplate (fixed length 26). */
export const model120 = model(120, 'nameplate', 'Nameplate', [
  pt('DERTyp', 'enum16', { mandatory: true, symbols: DER_TYP }),
  pt('WRtg', 'uint16', { sf: 'WRtg_SF', units: 'W', mandatory: true }),
  pt('WRtg_SF', 'sunssf', { mandatory: true }),
  pt('VARtg', 'uint16', { sf: 'VARtg_SF', units: 'VA', mandatory: true }),
  pt('VARtg_SF', 'sunssf', { mandatory: true }),
  pt('VArRtgQ1', 'int16', { sf: 'VArRtg_SF', units: 'var', mandatory: true }),
  pt('VArRtgQ2', 'int16', { sf: 'VArRtg_SF', units: 'var', mandatory: true }),
  pt('VArRtgQ3', 'int16', { sf: 'VArRtg_SF', units: 'var', mandatory: true }),
  pt('VArRtgQ4', 'int16', { sf: 'VArRtg_SF', units: 'var', mandatory: true }),
  pt('VArRtg_SF', 'sunssf', { mandatory: true }),
  pt('ARtg', 'uint16', { sf: 'ARtg_SF', units: 'A', mandatory: true }),
  pt('ARtg_SF', 'sunssf', { mandatory: true }),
  pt('PFRtgQ1', 'int16', { sf: 'PFRtg_SF', units: 'cos()', mandatory: true }),
  pt('PFRtgQ2', 'int16', { sf: 'PFRtg_SF', units: 'cos()', mandatory: true }),
  pt('PFRtgQ3', 'int16', { sf: 'PFRtg_SF', units: 'cos()', mandatory: true }),
  pt('PFRtgQ4', 'int16', { sf: 'PFRtg_SF', units: 'cos()', mandatory: true }),
  pt('PFRtg_SF', 'sunssf', { mandatory: true }),
  pt('WHRtg', 'uint16', { sf: 'WHRtg_SF', units: 'Wh' }),
  pt('WHRtg_SF', 'sunssf'),
  pt('AhrRtg', 'uint16', { sf: 'AhrRtg_SF', units: 'AH' }),
  pt('AhrRtg_SF', 'sunssf'),
  pt('MaxChaRte', 'uint16', { sf: 'MaxChaRte_SF', units: 'W' }),
  pt('MaxChaRte_SF', 'sunssf'),
  pt('MaxDisChaRte', 'uint16', { sf: 'MaxDisChaRte_SF', units: 'W' }),
  pt('MaxDisChaRte_SF', 'sunssf'),
  pt('Pad', 'pad'),
]);
