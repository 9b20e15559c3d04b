import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { BOOTSTRAP_TOKEN, connectGateway, telemetry } from '../test-support/cloud/test-cloud.ts';
import { freePort } from '../test-support/ports.ts';
import { waitForPort } from '../test-support/process.ts';
import { SqliteTimeSeries } from './storage/timeseries/sqlite.ts';

/** `gridlayer cloud --config` as a real process, so the test can kill it the hard way. */
function runCloud(config: string) {
  const child = spawn(process.execPath, ['bin/gridlayer.js', 'cloud', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => out };
}

describe('cloud restart', function () {
  this.timeout(60000);

  it('keeps every telemetry batch the broker acknowledged, even when the process is killed (SIGKILL)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-restart-'));
    const [mqttPort, apiPort] = [await freePort(), await freePort()];
    const config = join(dir, 'cloud.yaml');
    writeFileSync(
      config,
      `logLevel: warn
broker: { mode: embedded, tcp: { host: 127.0.0.1, port: ${mqttPort} } }
api: { host: 127.0.0.1, port: ${apiPort} }
auth: { bootstrapToken: ${BOOTSTRAP_TOKEN} }
storage:
  timeseries: { backend: sqlite, path: data/ts.db, synchronous: full }
  registry: { backend: sqlite, path: data/registry.db }
`,
    );
    let proc = runCloud(config);
    try {
      await waitForPort(apiPort, undefined, 20000);
      const created = await fetch(`http://127.0.0.1:${apiPort}/api/v1/sites`, {
        method: 'POST',
        headers: { authorization: `Bearer ${BOOTSTRAP_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'site-r' }),
      }).then((r) => r.json() as Promise<{ gateway: { password: string } }>);
      const gw = await connectGateway(`mqtt://127.0.0.1:${mqttPort}`, 'site-r', created.gateway.password);
      gw.on('error', () => undefined);
      const t0 = Date.UTC(2026, 2, 1);
      const acked: number[] = [];
      // Publish a stream of QoS-1 batches; kill the cloud while many are in flight.
      let seq = 0;
      await new Promise<void>((resolve) => {
        const pump = setInterval(() => {
          for (let i = 0; i < 20; i++) {
            const s = seq++;
            gw.publish(
              siteTopic('site-r', 'telemetry'),
              telemetry('site-r', s, t0 + s * 1000, s),
              { qos: 1 },
              (err) => {
                if (!err) acked.push(s);
              },
            );
          }
          if (acked.length >= 300) {
            clearInterval(pump);
            proc.child.kill('SIGKILL');
            resolve();
          }
        }, 5);
      });
      await proc.exited;
      const ackedAtKill = [...acked];
      gw.end(true);
      assert.ok(ackedAtKill.length >= 300);

      // Restart on the same data: everything acknowledged is there.
      proc = runCloud(config);
      await waitForPort(apiPort, undefined, 20000);
      const r = await fetch(
        `http://127.0.0.1:${apiPort}/api/v1/sites/site-r/telemetry/history?from=${t0}&to=${t0 + seq * 1000}&bucket=1&points=w`,
        { headers: { authorization: `Bearer ${BOOTSTRAP_TOKEN}` } },
      ).then((x) => x.json() as Promise<{ mean: number }[]>);
      const stored = new Set(r.map((b) => b.mean));
      const missing = ackedAtKill.filter((s) => !stored.has(s));
      assert.deepEqual(missing, [], `acknowledged but lost: ${missing.length} of ${ackedAtKill.length}`);

      // A graceful stop (SIGTERM) flushes and exits 0.
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.output());
      const store = new SqliteTimeSeries({ path: join(dir, 'data/ts.db') });
      assert.ok(
        (
          await store.range({
            sites: ['site-r'],
            points: ['w'],
            from: t0,
            to: t0 + seq * 1000,
            bucketMs: 1000,
          })
        ).length >= ackedAtKill.length,
      );
      await store.close();
    } finally {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
