import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'mocha';
import { IEEE33 } from '../../test-support/network/feeders.ts';

const bin = fileURLToPath(new URL('../../bin/gridlayer.js', import.meta.url));
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [bin, ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
const feeder = ['--buses', IEEE33.buses, '--branches', IEEE33.branches, '--base-kv', '12.66'];

describe('gridlayer powerflow / dlmp', () => {
  it('powerflow --json prints the contract object for the 33-bus feeder', async () => {
    const r = await run(['powerflow', ...feeder, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), [
      'converged',
      'iterations',
      'buses',
      'branches',
      'losses_kw',
      'losses_kvar',
      'min_voltage',
      'max_voltage',
    ]);
    assert.equal(out.converged, true);
    assert.ok(Math.abs(out.losses_kw - 202.67) < 0.2);
    assert.equal(out.min_voltage.bus, '18');
    assert.ok(Math.abs(out.min_voltage.v_pu - 0.9131) < 0.0005);
    assert.deepEqual(Object.keys(out.buses[1]), ['bus', 'v_pu', 'angle_deg']);
    assert.deepEqual(Object.keys(out.branches[0]), ['from_bus', 'to_bus', 'p_kw', 'q_kvar', 'loss_kw']);
    assert.equal(out.branches.length, 37);
  });

  it('powerflow --slack-voltage raises the whole profile', async () => {
    const r = await run(['powerflow', ...feeder, '--json', '--slack-voltage', '1.05']);
    const out = JSON.parse(r.stdout);
    assert.ok(Math.abs(out.max_voltage.v_pu - 1.05) < 1e-9);
    assert.ok(out.min_voltage.v_pu > 0.96);
  });

  it('dlmp --json prices every bus and clears offers', async () => {
    const r = await run([
      'dlmp',
      ...feeder,
      '--offers',
      IEEE33.offers,
      '--lmp',
      '45',
      '--vmin',
      '0.92',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.buses.length, 33);
    for (const b of out.buses) {
      const sum = b.energy_per_mwh + b.loss_per_mwh + b.congestion_per_mwh + b.voltage_per_mwh;
      assert.ok(Math.abs(sum - b.dlmp_per_mwh) < 1e-6);
      assert.equal(b.energy_per_mwh, 45);
    }
    assert.ok(out.binding.voltage.length > 0);
    assert.ok(out.offers.some((o: { cleared_kw: number }) => o.cleared_kw > 0));
    assert.ok(out.min_voltage.v_pu >= 0.92 - 1e-6);
  });

  it('bad input gives one clear line naming file and line, and exit code 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gridlayer-net-'));
    const buses = join(dir, 'buses.csv');
    await writeFile(buses, 'bus,type,p_kw,q_kvar\n1,slack,0,0\n2,pq,1O0,50\n');
    const r = await run(['powerflow', '--buses', buses, '--branches', IEEE33.branches, '--base-kv', '12.66']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /buses\.csv line 3: column "p_kw" is not a number \(got "1O0"\)/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
    const lmp = await run(['dlmp', ...feeder, '--lmp', 'cheap']);
    assert.equal(lmp.code, 1);
    assert.match(lmp.stderr, /--lmp must be a number/);
  });
});
