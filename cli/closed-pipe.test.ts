import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

const FEEDER = 'cloud/network/feeders/ieee33';

/** Runs a CLI command whose stdout reader goes away before it prints: `gridlayer … | head -0`. */
function runWithClosedStdout(
  args: string[],
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/gridlayer.js', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // the read end of the pipe is closed: every write gets EPIPE
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('CLI output to a closed pipe', function () {
  this.timeout(60_000);
  for (const args of [
    [
      'powerflow',
      '--buses',
      `${FEEDER}/buses.csv`,
      '--branches',
      `${FEEDER}/branches.csv`,
      '--base-kv',
      '12.66',
    ],
    [
      'powerflow',
      '--buses',
      `${FEEDER}/buses.csv`,
      '--branches',
      `${FEEDER}/branches.csv`,
      '--base-kv',
      '12.66',
      '--json',
    ],
  ]) {
    it(`gridlayer ${args.slice(0, 1).join(' ')}${args.includes('--json') ? ' --json' : ''} ends quietly with exit 0`, async () => {
      const r = await runWithClosedStdout(args);
      assert.equal(r.signal, null);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /EPIPE|Error|at /);
    });
  }

  it('a real shell pipeline: `gridlayer powerflow | head -1` exits 0 on both sides', async () => {
    const cmd = `set -o pipefail; node bin/gridlayer.js powerflow --buses ${FEEDER}/buses.csv --branches ${FEEDER}/branches.csv --base-kv 12.66 | head -1; echo "status \${PIPESTATUS[0]} \${PIPESTATUS[1]}"`;
    const out = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.once('error', reject);
      child.once('close', () => resolve({ stdout, stderr }));
    });
    assert.match(out.stdout, /^33 buses, 37 branches/);
    assert.match(out.stdout, /status 0 0\n$/);
    assert.equal(out.stderr, '');
  });
});
