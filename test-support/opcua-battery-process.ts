/**
 * The simulated OPC UA BESS as its own process, so a test can freeze it (SIGSTOP) or kill it the way a
 * real device fails: `node --import tsx test-support/opcua-battery-process.ts <port> <pkiDir>`.
 * Prints `ready <endpoint>` once it serves.
 */
import { OpcuaBattery } from '../sim-devices/opcua-battery.ts';

const [port, pkiDir] = process.argv.slice(2);
const bess = new OpcuaBattery({ port: Number(port), pkiDir, initialSocPct: 60 });
await bess.start();
process.stdout.write(`ready ${bess.endpoint}\n`);
process.on('SIGTERM', () => void bess.stop().then(() => process.exit(0)));
