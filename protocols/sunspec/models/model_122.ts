import { model, pt, str } from '../dsl.ts';

const PV_CONN = { CONNECTED: 0, AVAILABLE: 1, OPERATING: 2, TEST: 3 };
const ECP_CONN = { DISCONNECTED: 0, CONNECTED: 1 };
const ST_SET_LIM_MSK = {
  WMax: 0,
  VAMax: 1,
  VArAval: 2,
  VArMaxQ1: 3,
  VArMaxQ2: 4,
  VArMaxQ3: 5,
  VArMaxQ4: 6,
  PFMinQ1: 7,
  PFMinQ2: 8,
  PFMinQ3: 9,
  PFMinQ4: 10,
};
const ST_ACT_CTL = {
  FixedW: 0,
  FixedVAR: 1,
  FixedPF: 2,
  'Volt-VAr': 3,
  'Freq-Watt-Param': 4,
  'Freq-Watt-Curve': 5,
  'Dyn-Reactive-Current': 6,
  LVRT: 7,
  HVRT: 8,
  'Watt-PF': 9,
  'Volt-Watt': 10,
  Scheduled: 12,
  LFRT: 13,
  HFRT: 14,
};
const RT_ST = { LVRT_ACTIVE: 0, HVRT_ACTIVE: 1, LFRT_ACTIVE: 2, HFRT_ACTIVE: 3 };

/** SunSpec model 122: Measurements_Status (fixed length 44). */
export const model122 = model(122, 'status', 'Measurements_Status', [
  pt('PVConn', 'bitfield16', { mandatory: true, symbols: PV_CONN }),
  pt('StorConn', 'bitfield16', { mandatory: true, symbols: PV_CONN }),
  pt('ECPConn', 'bitfield16', { mandatory: true, symbols: ECP_CONN }),
  pt('ActWh', 'acc64', { units: 'Wh' }),
  pt('ActVAh', 'acc64', { units: 'VAh' }),
  pt('ActVArhQ1', 'acc64', { units: 'varh' }),
  pt('ActVArhQ2', 'acc64', { units: 'varh' }),
  pt('ActVArhQ3', 'acc64', { units: 'varh' }),
  pt('ActVArhQ4', 'acc64', { units: 'varh' }),
  pt('VArAval', 'int16', { sf: 'VArAval_SF', units: 'var' }),
  pt('VArAval_SF', 'sunssf'),
  pt('WAval', 'uint16', { sf: 'WAval_SF', units: 'var' }),
  pt('WAval_SF', 'sunssf'),
  pt('StSetLimMsk', 'bitfield32', { symbols: ST_SET_LIM_MSK }),
  pt('StActCtl', 'bitfield32', { symbols: ST_ACT_CTL }),
  str('TmSrc', 4),
  pt('Tms', 'uint32', { units: 'Secs' }),
  pt('RtSt', 'bitfield16', { symbols: RT_ST }),
  pt('Ris', 'uint16', { sf: 'Ris_SF', units: 'ohms' }),
  pt('Ris_SF', 'sunssf'),
]);
