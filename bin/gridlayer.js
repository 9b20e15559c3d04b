#!/usr/bin/env node
// Thin launcher: TypeScript sources run through tsx, so there is no build step between a clone and a run.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
