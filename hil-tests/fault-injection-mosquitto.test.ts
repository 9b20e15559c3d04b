import { describeFaultInjection } from './fault-injection-suite.ts';

// External broker: Debian's Mosquitto between the gateways and the cloud (broker mode `external`).
describeFaultInjection('mosquitto');
