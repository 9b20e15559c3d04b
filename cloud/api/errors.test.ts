import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_STATUS } from './errors.ts';

const marketDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'market');

/** Every `new MarketServiceError(<status>, '<CODE>'` in the market's sources (any folder depth). */
function serviceErrorThrows(): { file: string; status: number; code: string }[] {
  const out: { file: string; status: number; code: string }[] = [];
  for (const f of readdirSync(marketDir, { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('.ts') || f.endsWith('.test.ts')) continue;
    const src = readFileSync(join(marketDir, f), 'utf8');
    for (const m of src.matchAll(/new MarketServiceError\(\s*(\d{3}),\s*'([A-Z_]+)'/g))
      out.push({ file: f, status: Number(m[1]), code: m[2] });
  }
  return out;
}

describe('the error-code table agrees with the statuses the market service still throws', () => {
  it('finds the market service throws, and every code the table knows answers the same status', () => {
    const throws = serviceErrorThrows();
    // At the time of writing the scan finds 17 MarketServiceError throws; fewer than 10 means
    // the scan broke, not that the market changed.
    assert.ok(throws.length >= 10, `only ${throws.length} MarketServiceError throws found`);
    const table = ERROR_STATUS as Record<string, number>;
    const disagree = throws.filter((t) => t.code in table && table[t.code] !== t.status);
    assert.deepEqual(disagree, []);
  });
});
