/**
 * Operator app benchmark:
 * - bundle size: the JS + CSS the cloud serves (esbuild, minified), raw, gzip and brotli (target < 250 KB
 *   compressed);
 * - first meaningful render of the fleet view with 10,000 sites in Debian's chromium: from navigation
 *   (a fresh browser context: nothing cached) to the first site rows visible (target < 1 s), and from a
 *   jump to the end of the list to its last row visible; several runs, min and median.
 *
 * The cloud runs in this process on temp storage (SQLite); the sites are registered straight into its
 * registry in one transaction.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { buildApp } from '../cloud/app/build.ts';
import { launchBrowser } from '../test-support/browser/browser.ts';
import { BOOTSTRAP_TOKEN, startTestCloud } from '../test-support/cloud/test-cloud.ts';
import { report } from './report.ts';

const SITES = 10_000;
const RUNS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const kb = (n: number) => Math.round(n / 102.4) / 10;

// Bundle size.
const bundle = await buildApp();
let raw = 0;
let gzip = 0;
let brotli = 0;
for (const a of bundle.assets.values()) {
  raw += a.body.length;
  gzip += gzipSync(a.body, { level: 9 }).length;
  brotli += brotliCompressSync(a.body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
}
console.log(`bundle: ${kb(raw)} KB raw, ${kb(gzip)} KB gzip, ${kb(brotli)} KB brotli (target < 250 KB)`);

// First render with 10,000 sites.
const t = await startTestCloud();
const base = t.cloud.apiUrl.replace('/api/v1', '');
const reg = t.cloud.registry;
await reg.tx(async (db) => {
  for (let i = 1; i <= SITES; i++)
    await reg.createSite(`site-${String(i).padStart(5, '0')}`, { name: `Site ${i}` }, db);
});
const browser = await launchBrowser();
const firstRows: number[] = [];
const toEnd: number[] = [];
try {
  for (let run = 0; run < RUNS + 1; run++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.setExtraHTTPHeaders({ authorization: `Bearer ${BOOTSTRAP_TOKEN}` });
    const page = await ctx.newPage();
    const t0 = performance.now();
    await page.goto(`${base}/#/fleet`);
    await page.locator('.site-row[data-site="site-00001"]').waitFor();
    const first = performance.now() - t0;
    const rows = await page.locator('.site-row[data-site]').count();
    const t1 = performance.now();
    await page.locator('.site-scroller').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator(`.site-row[data-site="site-${SITES}"]`).waitFor();
    const end = performance.now() - t1;
    // The first run warms the cloud's bundle build and SQLite caches: reported apart, not counted.
    if (run === 0) console.log(`warm-up: first rows ${first.toFixed(0)} ms`);
    else {
      firstRows.push(first);
      toEnd.push(end);
      console.log(
        `run ${run}: first rows ${first.toFixed(0)} ms (${rows} rows in the DOM), end of list ${end.toFixed(0)} ms`,
      );
    }
    await ctx.close();
  }
} finally {
  await browser.close();
  await t.stop();
}
const r = (x: number) => Math.round(x);
report('app', {
  bundle_files: [...bundle.assets.keys()],
  bundle_raw_kb: kb(raw),
  bundle_gzip_kb: kb(gzip),
  bundle_brotli_kb: kb(brotli),
  bundle_target_kb: 250,
  bundle_ok: Math.max(gzip, brotli) < 250 * 1024,
  fleet_sites: SITES,
  fleet_runs: RUNS,
  fleet_first_rows_min_ms: r(Math.min(...firstRows)),
  fleet_first_rows_median_ms: r(median(firstRows)),
  fleet_end_of_list_min_ms: r(Math.min(...toEnd)),
  fleet_end_of_list_median_ms: r(median(toEnd)),
  fleet_target_ms: 1000,
  fleet_ok: median(firstRows) < 1000,
});
