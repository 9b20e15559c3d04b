// Worker entry in plain JS: a worker does not inherit a loader registered with tsx's register() (as
// bin/gridlayer.js does), so it registers tsx itself before loading the TypeScript writer.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-writer-worker.ts');
