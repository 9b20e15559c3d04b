import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/**
 * Prints a benchmark's figures and writes them to bench/results/<name>.json (the latest run) and to
 * bench/results/history/<name>/<ISO time>.json (every run kept, so a regression shows against the past).
 */
export function report(name: string, figures: Record<string, unknown>): void {
  const at = new Date().toISOString();
  const historyDir = join(resultsDir, 'history', name);
  mkdirSync(historyDir, { recursive: true });
  const doc = { name, at, node: process.version, ...figures };
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  writeFileSync(join(resultsDir, `${name}.json`), text);
  writeFileSync(join(historyDir, `${at.replace(/:/g, '-')}.json`), text);
  for (const [k, v] of Object.entries(figures)) console.log(`${name}: ${k} = ${JSON.stringify(v)}`);
}

/** Wall time of an async function in milliseconds. */
export async function timeMs(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
