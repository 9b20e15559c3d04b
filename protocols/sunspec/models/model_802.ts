import { model, pt, rw } from '../dsl.ts';

const CHA_ST = { OFF: 1, EMPTY: 2, DISCHARGING: 3, CHARGING: 4, FULL: 5, HOLDING: 6, TESTING: 7 };
const LOC_REM_CTL = { REMOTE: 0, LOCAL: 1 };
const TYP = { 'NOT APPLICABLE_UNKNOWN': 0, LEAD_ACID: 1, NICKEL_METAL_HYDRATE: 2, NICKEL_CADMIUM: 3, LITHIUM_ION: 4, CARBON_ZINC: 5, ZINC_CHLORIDE: 6, ALKALINE: 7, RECHARGEABLE_ALKALINE: 8, SODIUM_SULFUR: 9, FLOW: 10, OTHER: 99 };
const STATE = { DISCONNECTED: 1, INITIALIZING: 2, CONNECTED: 3, STANDBY: 4, 'SOC PROTECTION': 5, SUSPENDING: 6, FAULT: 99 };
const EVT1 = { COMMUNICATION_ERROR: 0, OVER_TEMP_ALARM: 1, OVER_TEMP_WARNING: 2, UNDER_TEMP_ALARM: 3, UNDER_TEMP_WARNING: 4, OVER_CHARGE_CURRENT_ALARM: 5, OVER_CHARGE_CURRENT_WARNING: 6, OVER_DISCHARGE_CURRENT_ALARM: 7, OVER_DISCHARGE_CURRENT_WARNING: 8, OVER_VOLT_ALARM: 9, OVER_VOLT_WARNING: 10, UNDER_VOLT_ALARM: 11, UNDER_VOLT_WARNING: 12, UNDER_SOC_MIN_ALARM: 13, UNDER_SOC_MIN_WARNING: 14, OVER_SOC_MAX_ALARM: 15, OVER_SOC_MAX_WARNING: 16, VOLTAGE_IMBALANCE_WARNING: 17, TEMPERATURE_IMBALANCE_ALARM: 18, TEMPERATURE_IMBALANCE_WARNING: 19, CONTACTOR_ERROR: 20, FAN_ERROR: 21, GROUND_FAULT: 22, OPEN_DOOR_ERROR: 23, CURRENT_IMBALANCE_WARNING: 24, OTHER_ALARM: 25, OTHER_WARNING: 26, RESERVED_1: 27, CONFIGURATION_ALARM: 28, CONFIGURATION_WARNING: 29 };
const REQ_INV_STATE = { 'NO REQUEST': 0, START: 1, STOP: 2 };
const SET_OP = { CONNECT: 1, DISCONNECT: 2 };
const SET_INV_STATE = { INVERTER_STOPPED: 1, INVERTER_STANDBY: 2, INVERTER_STARTED: 3 };

/** SunSpec model 802: Battery Base Model (fixed length 62). */
export const model802 = model(
  802,
  'battery',
  'Battery Base Model',
  [
    pt('AHRtg', 'uint16', { sf: 'AHRtg_SF', units: 'Ah', mandatory: true }),
    pt('WHRtg', 'uint16', { sf: 'WHRtg_SF', units: 'Wh', mandatory: true }),
    pt('WChaRteMax', 'uint16', { sf: 'WChaDisChaMax_SF', units: 'W', mandatory: true }),
    pt('WDisChaRteMax', 'uint16', { sf: 'WChaDisChaMax_SF', units: 'W', mandatory: true }),
    pt('DisChaRte', 'uint16', { sf: 'DisChaRte_SF', units: '%WHRtg' }),
    pt('SoCMax', 'uint16', { sf: 'SoC_SF', units: '%WHRtg' }),
    pt('SoCMin', 'uint16', { sf: 'SoC_SF', units: '%WHRtg' }),
    rw('SocRsvMax', 'uint16', { sf: 'SoC_SF', units: '%WHRtg' }),
    rw('SoCRsvMin', 'uint16', { sf: 'SoC_SF', units: '%WHRtg' }),
    pt('SoC', 'uint16', { sf: 'SoC_SF', units: '%WHRtg', mandatory: true }),
    pt('DoD', 'uint16', { sf: 'DoD_SF', units: '%' }),
    pt('SoH', 'uint16', { sf: 'SoH_SF', units: '%' }),
    pt('NCyc', 'uint32'),
    pt('ChaSt', 'enum16', { symbols: CHA_ST }),
    pt('LocRemCtl', 'enum16', { mandatory: true, symbols: LOC_REM_CTL }),
    pt('Hb', 'uint16'),
    rw('CtrlHb', 'uint16'),
    rw('AlmRst', 'uint16', { mandatory: true }),
    pt('Typ', 'enum16', { mandatory: true, symbols: TYP }),
    pt('State', 'enum16', { mandatory: true, symbols: STATE }),
    pt('StateVnd', 'enum16'),
    pt('WarrDt', 'uint32'),
    pt('Evt1', 'bitfield32', { mandatory: true, symbols: EVT1 }),
    pt('Evt2', 'bitfield32', { mandatory: true }),
    pt('EvtVnd1', 'bitfield32', { mandatory: true }),
    pt('EvtVnd2', 'bitfield32', { mandatory: true }),
    pt('V', 'uint16', { sf: 'V_SF', units: 'V', mandatory: true }),
    pt('VMax', 'uint16', { sf: 'V_SF', units: 'V' }),
    pt('VMin', 'uint16', { sf: 'V_SF', units: 'V' }),
    pt('CellVMax', 'uint16', { sf: 'CellV_SF', units: 'V' }),
    pt('CellVMaxStr', 'uint16'),
    pt('CellVMaxMod', 'uint16'),
    pt('CellVMin', 'uint16', { sf: 'CellV_SF', units: 'V' }),
    pt('CellVMinStr', 'uint16'),
    pt('CellVMinMod', 'uint16'),
    pt('CellVAvg', 'uint16', { sf: 'CellV_SF', units: 'V' }),
    pt('A', 'int16', { sf: 'A_SF', units: 'A', mandatory: true }),
    pt('AChaMax', 'uint16', { sf: 'AMax_SF', units: 'A' }),
    pt('ADisChaMax', 'uint16', { sf: 'AMax_SF', units: 'A' }),
    pt('W', 'int16', { sf: 'W_SF', units: 'W', mandatory: true }),
    pt('ReqInvState', 'enum16', { symbols: REQ_INV_STATE }),
    pt('ReqW', 'int16', { sf: 'W_SF', units: 'W' }),
    rw('SetOp', 'enum16', { mandatory: true, symbols: SET_OP }),
    rw('SetInvState', 'enum16', { mandatory: true, symbols: SET_INV_STATE }),
    pt('AHRtg_SF', 'sunssf', { mandatory: true }),
    pt('WHRtg_SF', 'sunssf', { mandatory: true }),
    pt('WChaDisChaMax_SF', 'sunssf', { mandatory: true }),
    pt('DisChaRte_SF', 'sunssf'),
    pt('SoC_SF', 'sunssf', { mandatory: true }),
    pt('DoD_SF', 'sunssf'),
    pt('SoH_SF', 'sunssf'),
    pt('V_SF', 'sunssf', { mandatory: true }),
    pt('CellV_SF', 'sunssf', { mandatory: true }),
    pt('A_SF', 'sunssf', { mandatory: true }),
    pt('AMax_SF', 'sunssf', { mandatory: true }),
    pt('W_SF', 'sunssf'),
  ],
);
