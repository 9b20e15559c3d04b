import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfigText } from '../../edge/config.ts';
import { tempDir } from '../../edge/test-helpers.ts';
import { SimSite } from '../../sim-devices/site.ts';

const run = promisify(execFile);

describe('gridlayer commission', function () {
  this.timeout(60_000);
  it('identifies the site, test-writes without changing anything, and writes report + edge config', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 8 });
    await site.start();
    const dir = tempDir();
    try {
      const limitBefore = site.pv.model(704).get('WMaxLimPct');
      const { stdout } = await run(process.execPath, [
        'bin/gridlayer.js',
        'commission',
        '--host',
        '127.0.0.1',
        '--port',
        String(site.port),
        '--units',
        '1-4',
        '--timeout',
        '300',
        '--site',
        'site-c1',
        '--out',
        dir,
      ]);
      assert.match(stdout, /unit 1: inverter gridlayer SIM-PV-3P SN S8-PV — test write: OK/);
      assert.match(stdout, /unit 2: battery .* test write: OK/);
      assert.match(stdout, /unit 3: meter/);
      assert.match(stdout, /3 device\(s\)/);
      assert.equal(site.pv.model(704).get('WMaxLimPct'), limitBefore, 'the test write changed nothing');
      const report = JSON.parse(readFileSync(join(dir, 'commissioning.json'), 'utf8'));
      assert.equal(report.devices.length, 3);
      assert.equal(report.devices[0].nameplate.w_max, 8000);
      assert.ok(Number.isFinite(report.devices[2].live.w));
      assert.match(readFileSync(join(dir, 'commissioning.md'), 'utf8'), /## Unit 2: battery/);
      const cfg = parseConfigText(readFileSync(join(dir, 'edge.yaml'), 'utf8'));
      assert.equal(cfg.site, 'site-c1');
      assert.deepEqual(
        cfg.devices.map((d) => d.id),
        ['inverter-1', 'battery-2', 'meter-3'],
      );
    } finally {
      await site.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
