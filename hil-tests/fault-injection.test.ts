import { describeFaultInjection } from './fault-injection-suite.ts';

// Embedded broker: the cloud process is the broker, so killing the cloud kills the broker too.
describeFaultInjection('embedded');
