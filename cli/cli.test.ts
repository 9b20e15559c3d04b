import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SimSite } from '../sim-devices/site.ts';

const run = promisify(execFile);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'gridlayer.js');

async function gridlayer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 30000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('gridlayer CLI', () => {
  it('has --help on every subcommand', async () => {
    for (const cmd of [[], ['scan'], ['sim'], ['sim', 'site'], ['start']]) {
      const r = await gridlayer([...cmd, '--help']);
      assert.equal(r.code, 0, `${cmd.join(' ')} --help`);
      assert.match(r.stdout, /Usage: gridlayer/);
    }
  });

  describe('scan', () => {
    let site: SimSite;
    before(async () => {
      site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 5 });
      await site.start();
    });
    after(() => site.stop());

    it('prints every model of every unit with decoded points as JSON', async () => {
      const r = await gridlayer([
        'scan',
        '--host',
        '127.0.0.1',
        '--port',
        String(site.port),
        '--units',
        '1-4',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(
        out.units.map((u: { unit: number; models: unknown[] }) => [u.unit, u.models.length]),
        [
          [1, 9],
          [2, 7],
          [3, 2],
          [4, 0],
        ],
      );
      const inv = out.units[0];
      assert.equal(inv.identity.manufacturer, 'gridlayer');
      const w = inv.models.find((m: { id: number }) => m.id === 103).decoded.values.W;
      assert.ok(w > 0 && w <= site.pv.ratedW, `PV W ${w}`);
      assert.match(out.units[3].errors[0], /unit 4: no SunS marker/);
    });

    it('prints a readable listing with units and enum names', async () => {
      const r = await gridlayer(['scan', '--host', '127.0.0.1', '--port', String(site.port), '--unit', '2']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /model 802 .*@\d+ length 62/);
      assert.match(r.stdout, /SoC = [\d.]+ %/);
      assert.match(r.stdout, /ChaSt = \d \([A-Z]+\)/);
    });

    it('fails with one clear line for bad flags and unreachable hosts', async () => {
      const bad = await gridlayer(['scan', '--host', '127.0.0.1', '--units', '9-3']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unit ids run 1\.\.247, low to high/);
      const closed = await gridlayer(['scan', '--host', '127.0.0.1', '--port', '1', '--timeout', '200']);
      assert.notEqual(closed.code, 0);
      assert.match(closed.stderr, /tcp:\/\/127\.0\.0\.1:1: cannot connect/);
    });
  });
});
