// placeholder, replaced below
import type { Logger } from 'pino';
import type { OpcuaDeviceConfig } from '../config.ts';
export class OpcuaDriver {
  constructor(_c: OpcuaDeviceConfig, _l: Logger) {}
}
