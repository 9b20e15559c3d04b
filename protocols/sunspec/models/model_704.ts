import { group, model, pt, rw } from '../dsl.ts';

const ENABLE = { DISABLED: 0, ENABLED: 1 };
const W_SET_MOD = { W_MAX_PCT: 0, WATTS: 1 };
const VAR_SET_MOD = { W_MAX_PCT: 0, VAR_MAX_PCT: 1, VAR_AVAIL_PCT: 2, VA_MAX_PCT: 3, VARS: 4 };
const VAR_SET_PRI = { ACTIVE: 0, REACTIVE: 1, VENDOR: 2 };
const W_RMP_REF = { A_MAX: 0, W_MAX: 1 };
const EXT = { OVER_EXCITED: 0, UNDER_EXCITED: 1 };

/** SunSpec model 704: DER AC Controls (fixed length 65). */
export const model704 = model(
  704,
  'DERCtlAC',
  'DER AC Controls',
  [
    rw('PFWInjEna', 'enum16', { symbols: ENABLE }),
    rw('PFWInjEnaRvrt', 'enum16', { symbols: ENABLE }),
    rw('PFWInjRvrtTms', 'uint32', { units: 'Secs' }),
    pt('PFWInjRvrtRem', 'uint32', { units: 'Secs' }),
    rw('PFWAbsEna', 'enum16', { symbols: ENABLE }),
    rw('PFWAbsEnaRvrt', 'enum16', { symbols: ENABLE }),
    rw('PFWAbsRvrtTms', 'uint32', { units: 'Secs' }),
    pt('PFWAbsRvrtRem', 'uint32', { units: 'Secs' }),
    rw('WMaxLimPctEna', 'enum16', { symbols: ENABLE }),
    rw('WMaxLimPct', 'uint16', { sf: 'WMaxLimPct_SF', units: 'Pct' }),
    rw('WMaxLimPctRvrt', 'uint16', { sf: 'WMaxLimPct_SF', units: 'Pct' }),
    rw('WMaxLimPctEnaRvrt', 'enum16', { symbols: ENABLE }),
    rw('WMaxLimPctRvrtTms', 'uint32', { units: 'Secs' }),
    pt('WMaxLimPctRvrtRem', 'uint32', { units: 'Secs' }),
    rw('WSetEna', 'enum16', { symbols: ENABLE }),
    rw('WSetMod', 'enum16', { symbols: W_SET_MOD }),
    rw('WSet', 'int32', { sf: 'WSet_SF', units: 'W' }),
    rw('WSetRvrt', 'int32', { sf: 'WSet_SF', units: 'W' }),
    rw('WSetPct', 'int16', { sf: 'WSetPct_SF', units: 'Pct' }),
    rw('WSetPctRvrt', 'int16', { sf: 'WSetPct_SF', units: 'Pct' }),
    rw('WSetEnaRvrt', 'enum16', { symbols: ENABLE }),
    rw('WSetRvrtTms', 'uint32', { units: 'Secs' }),
    pt('WSetRvrtRem', 'uint32', { units: 'Secs' }),
    rw('VarSetEna', 'enum16', { symbols: ENABLE }),
    rw('VarSetMod', 'enum16', { symbols: VAR_SET_MOD }),
    rw('VarSetPri', 'enum16', { symbols: VAR_SET_PRI }),
    rw('VarSet', 'int32', { sf: 'VarSet_SF', units: 'Var' }),
    rw('VarSetRvrt', 'int32', { sf: 'VarSet_SF', units: 'Var' }),
    rw('VarSetPct', 'int16', { sf: 'VarSetPct_SF', units: 'Pct' }),
    rw('VarSetPctRvrt', 'int16', { sf: 'VarSetPct_SF', units: 'Pct' }),
    rw('VarSetEnaRvrt', 'enum16', { symbols: ENABLE }),
    rw('VarSetRvrtTms', 'uint32', { units: 'Secs' }),
    pt('VarSetRvrtRem', 'uint32', { units: 'Secs' }),
    rw('WRmp', 'uint16', { units: '%Max/Sec' }),
    rw('WRmpRef', 'enum16', { symbols: W_RMP_REF }),
    rw('VarRmp', 'uint16', { units: '%Max/Sec' }),
    rw('AntiIslEna', 'enum16', { symbols: ENABLE }),
    pt('PF_SF', 'sunssf', { static: true }),
    pt('WMaxLimPct_SF', 'sunssf', { static: true }),
    pt('WSet_SF', 'sunssf', { static: true }),
    pt('WSetPct_SF', 'sunssf', { static: true }),
    pt('VarSet_SF', 'sunssf', { static: true }),
    pt('VarSetPct_SF', 'sunssf', { static: true }),
  ],
  [
    group('PFWInj', [rw('PF', 'uint16', { sf: 'PF_SF' }), rw('Ext', 'enum16', { symbols: EXT })]),
    group('PFWInjRvrt', [rw('PF', 'uint16', { sf: 'PF_SF' }), rw('Ext', 'enum16', { symbols: EXT })]),
    group('PFWAbs', [rw('PF', 'uint16', { sf: 'PF_SF' }), rw('Ext', 'enum16', { symbols: EXT })]),
    group('PFWAbsRvrt', [rw('PF', 'uint16', { sf: 'PF_SF' }), rw('Ext', 'enum16', { symbols: EXT })]),
  ],
);
