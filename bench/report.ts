import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Prints a benchmark's figures and writes them to bench/results/<name>.json. */
export function report(name: string, figures: Record<string, unknown>): void {
  mkdirSync(resultsDir, { recursive: true });
  const doc = { name, at: new Date().toISOString(), node: process.version, ...figures };
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  for (const [k, v] of Object.entries(figures)) console.log(`${name}: ${k} = ${JSON.stringify(v)}`);
}

/** Wall time of an async function in milliseconds. */
export async function timeMs(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
