/**
 * modbus-serial is CommonJS whose typings declare an ES default export; under NodeNext the default
 * import is the whole module object, which carries `.default`, `ServerTCP` and `ServerSerial`.
 */
import modbusSerial from 'modbus-serial';

export const ModbusRTU = modbusSerial.default;
export type ModbusRTU = InstanceType<typeof modbusSerial.default>;
export const { ServerTCP, ServerSerial } = modbusSerial;
export type { IServiceVector } from 'modbus-serial';
