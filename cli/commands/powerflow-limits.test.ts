import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['bin/gridlayer.js', ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

/** A 3-bus feeder as converted from MATPOWER: the slack bus carries Vmin = Vmax = 1 pu. */
async function feeder(slackLimits: string) {
  const dir = await mkdtemp(join(tmpdir(), 'gridlayer-pf-'));
  await writeFile(
    join(dir, 'buses.csv'),
    `bus,type,p_kw,q_kvar,vmin_pu,vmax_pu\n1,slack,0,0,${slackLimits}\n2,pq,100,50,0.9,1.1\n3,pq,80,20,0.9,1.1\n`,
  );
  await writeFile(join(dir, 'branches.csv'), 'from_bus,to_bus,r_ohm,x_ohm\n1,2,0.5,0.3\n2,3,0.5,0.3\n');
  return {
    dir,
    args: ['--buses', join(dir, 'buses.csv'), '--branches', join(dir, 'branches.csv'), '--base-kv', '12.66'],
  };
}

describe('gridlayer powerflow: voltage limits', function () {
  this.timeout(30_000);
  it('accepts a slack bus with Vmin = Vmax = 1 pu (a fixed voltage)', async () => {
    const f = await feeder('1,1');
    try {
      const r = await run(['powerflow', ...f.args, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.converged, true);
      assert.equal(out.buses.length, 3);
      assert.equal(out.buses[0].v_pu, 1);
    } finally {
      await rm(f.dir, { recursive: true, force: true });
    }
  });

  it('still refuses Vmin > Vmax, naming the file and line', async () => {
    const f = await feeder('1.05,1');
    try {
      const r = await run(['powerflow', ...f.args]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /buses\.csv line 2: vmin_pu \(1\.05\) must not exceed vmax_pu \(1\)/);
    } finally {
      await rm(f.dir, { recursive: true, force: true });
    }
  });
});
