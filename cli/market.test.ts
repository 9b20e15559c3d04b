import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'gridlayer.js');

describe('gridlayer market simulate', function () {
  this.timeout(120_000);
  for (const model of [1, 2, 3, 4, 5, 6]) {
    it(`runs model ${model} for a day and prints a balanced JSON report`, async () => {
      const { stdout } = await run(
        process.execPath,
        [
          bin,
          'market',
          'simulate',
          '--model',
          String(model),
          '--sites',
          '6',
          '--days',
          '1',
          '--seed',
          '4',
          '--json',
        ],
        { timeout: 110_000 },
      );
      const r = JSON.parse(stdout);
      assert.equal(r.model, model);
      assert.equal(r.hourly.length, 24);
      assert.equal(r.books.balanced, true);
      assert.equal(r.books.max_abs_sum_cents, 0);
      assert.ok(r.delivered.withdrawn_mwh > 0);
      assert.ok(
        r.participants.some((p: { account: string }) => p.account.startsWith(model <= 2 ? 'agg-' : 'site-')),
      );
      const codes = r.refusals.map((x: { code: string }) => x.code);
      assert.ok(codes.includes('DMO_SELF_DEALING'), 'the DMO attempt is refused');
      assert.ok(codes.includes('NOT_CERTIFIED'), 'the uncertified PV is refused');
      assert.equal(
        codes.includes('UTILITY_DER_EXCLUDED'),
        model === 1 || model === 2,
        'utility DER rule by model',
      );
      if (model >= 5) assert.ok(r.trades > 0);
      assert.ok(r.dmo.revenue_cents > 0);
    });
  }

  it('refuses a model outside 1..6', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'market', 'simulate', '--model', '7']),
      /--model must be an integer 1..6/,
    );
  });
});
