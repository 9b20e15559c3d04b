import { model, pt, rw } from '../dsl.ts';

const LOC_REM_CTL = { REMOTE: 0, LOCAL: 1 };
const OP_CTL = { STOP: 0, START: 1, ENTER_STANDBY: 2, EXIT_STANDBY: 3 };

/** SunSpec model 715: DERCtl (fixed length 7). */
export const model715 = model(715, 'DERCtl', 'DERCtl', [
  pt('LocRemCtl', 'enum16', { symbols: LOC_REM_CTL }),
  pt('DERHb', 'uint32'),
  rw('ControllerHb', 'uint32'),
  rw('AlarmReset', 'uint16'),
  rw('OpCtl', 'enum16', { symbols: OP_CTL }),
]);
