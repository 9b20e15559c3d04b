import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { SimSite } from '../sim-devices/site.ts';
import { TestBroker } from '../test-support/edge/harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Gateways run the esbuild bundle (npm run build), not the sources: it must behave the same. */
describe('the built bundle (dist/, what gateways run)', function () {
  this.timeout(60_000);
  let out: string;
  let site: SimSite;
  const broker = new TestBroker();

  before(async () => {
    out = mkdtempSync(join(root, '.tmp-bundle-'));
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'deploy/build.ts'), out]);
    site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 9 });
    await site.start();
    await broker.start();
  });
  after(async () => {
    await site?.stop();
    await broker.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it('runs the edge agent with the unit’s node flags: devices are polled and telemetry published', async () => {
    const cfg = join(out, 'edge.yaml');
    writeFileSync(
      cfg,
      stringify({
        site: 'bundle-site',
        uplink: { url: broker.url, clientId: 'bundle-edge' },
        buffer: { path: join(out, 'buffer.db') },
        http: { port: 0 },
        log: { level: 'warn' },
        devices: [
          { id: 'pv', protocol: 'modbus-tcp', host: '127.0.0.1', port: site.port, unit: 1, pollMs: 500 },
        ],
      }),
    );
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=1', '--lite-mode', join(out, 'main.js'), 'edge', '--config', cfg],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const deadline = Date.now() + 30_000;
      const pvSample = () =>
        broker
          .of('telemetry')
          .flatMap((m) => m.json.samples)
          .find(
            (s: { device: string; values: { w?: number } }) =>
              s.device === 'pv' && typeof s.values.w === 'number',
          );
      while (!pvSample() && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 200));
      assert.ok(pvSample(), `no PV telemetry from the bundled agent (exit ${child.exitCode}): ${stderr}`);
      assert.equal(broker.of('telemetry')[0].topic, 'gridlayer/v1/sites/bundle-site/telemetry');
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
    assert.equal(child.exitCode, 0, `agent did not stop cleanly on SIGTERM: ${stderr}`);
  });

  it('clears a market day whose T-D curve runs in a worker thread (a separate bundle entry)', async () => {
    // 1,000 sites give > 2,000 resources: the curve's upper chain goes to the worker.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(out, 'main.js'), 'market', 'simulate', '--model', '3', '--sites', '1000', '--days', '1'],
      { timeout: 120_000 },
    );
    assert.match(stdout, /2117 resources/);
    assert.match(stdout, /books: 24 periods, balanced to the cent/);
  });
});
