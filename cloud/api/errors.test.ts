import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_STATUS } from './errors.ts';

const marketDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'market');

/** Every code of a `new MarketServiceError('<CODE>'` in the market's sources (any folder depth). */
function serviceErrorCodes(): { file: string; code: string }[] {
  const out: { file: string; code: string }[] = [];
  for (const f of readdirSync(marketDir, { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('.ts') || f.endsWith('.test.ts')) continue;
    const src = readFileSync(join(marketDir, f), 'utf8');
    for (const m of src.matchAll(/new MarketServiceError\(\s*'([A-Z_]+)'/g))
      out.push({ file: f, code: m[1] });
  }
  return out;
}

/**
 * The statuses the market service answered when it still chose them per throw (read off the sources
 * before the codes moved into the table; the 404 "no such territory" became UNKNOWN_TERRITORY so that
 * NO_TERRITORY keeps its 422 for a bus outside every territory).
 */
const STATUS_BEFORE: Record<string, number> = {
  AMBIGUOUS_PARTICIPANT: 400,
  DUPLICATE_ORDER: 409,
  DUPLICATE_RESOURCE: 409,
  GATE_OPEN: 409,
  NOT_DMO: 403,
  NOT_LINKED: 422,
  NOT_LIVE: 409,
  NOT_METERED_YET: 409,
  NOT_YOURS: 403,
  NO_ISO: 503,
  NO_MARKET_ACTOR: 403,
  NO_PIPELINE: 503,
  NO_TELEMETRY: 503,
  NO_TERRITORY: 422,
  UNKNOWN_TERRITORY: 404,
  UNKNOWN_DEVICE: 422,
  UNKNOWN_SITE: 422,
  // Codes added after the table: the status they were introduced with.
  INFORMATION_SEPARATION: 403,
  // Onboarding, P2P metered settlement, the no-worse-off report.
  DUPLICATE_ACTOR: 409,
  DUPLICATE_LINK: 409,
  CONFIG_LINK: 409,
  UNKNOWN_ACTOR: 404,
  UNKNOWN_LINK: 404,
  UNKNOWN_USER: 422,
  NOT_CLOSED: 409,
  ALREADY_SETTLED: 409,
  BAD_DAY: 400,
  // The RT scheduler: a clearing past its interval's deadline.
  RT_LATE: 409,
};

describe('one table from error codes to HTTP status, market service refusals included', () => {
  it('finds the market service throws, and every code they throw is in the table with its old status', () => {
    const thrown = serviceErrorCodes();
    // At the time of writing the scan finds 18 throws; fewer than 10 means the scan broke.
    assert.ok(thrown.length >= 10, `only ${thrown.length} MarketServiceError throws found`);
    const table = ERROR_STATUS as Record<string, number>;
    const missing = thrown.filter((t) => !(t.code in table));
    assert.deepEqual(missing, [], 'every thrown code answers a status of the table, none the 422 fallback');
    const changed = [...new Set(thrown.map((t) => t.code))]
      .filter((c) => table[c] !== STATUS_BEFORE[c])
      .map((c) => ({ code: c, table: table[c], before: STATUS_BEFORE[c] }));
    assert.deepEqual(changed, []);
  });
});
