import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { type Lifecycle, LifecycleList } from '../runtime/lifecycle.ts';
import { freePort } from '../test-support/ports.ts';
import { parseCloudConfig } from './config.ts';
import { startCloud } from './service.ts';

/** A pino logger whose JSON lines the test can read back. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}
const close = (srv: Server) => new Promise<void>((r) => srv.close(() => r()));

describe('cloud lifecycle', function () {
  this.timeout(30000);

  it('drains, then stops, the started parts in reverse; a hung stop is logged and the rest still stop', async () => {
    const { log, lines } = capturedLogger();
    const calls: string[] = [];
    const part = (name: string, o: { drain?: boolean; hang?: boolean } = {}): Lifecycle => ({
      name,
      start: () => void calls.push(`start ${name}`),
      ...(o.drain ? { drain: () => void calls.push(`drain ${name}`) } : {}),
      stop: () => {
        calls.push(`stop ${name}`);
        return o.hang ? new Promise<void>(() => undefined) : undefined;
      },
    });
    const parts = new LifecycleList(log, 2000);
    await parts.start(part('a'));
    await parts.start(part('b', { drain: true }));
    await parts.start(part('c', { hang: true }));
    await parts.start(part('d', { drain: true }));
    await Promise.all([parts.stop(), parts.stop()]);
    assert.deepEqual(calls, [
      'start a',
      'start b',
      'start c',
      'start d',
      'drain d',
      'drain b',
      'stop d',
      'stop c',
      'stop b',
      'stop a',
    ]);
    const timedOut = lines.filter((l) => l.msg === 'stop step timed out; continuing');
    assert.deepEqual(
      timedOut.map((l) => l.step),
      ['c'],
    );
    await assert.rejects(parts.start(part('e')), /cannot start e: stopping/);
  });

  it('a start that fails (API port taken) stops every part started before it: MQTT port free, SQLite closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-lifecycle-'));
    const mqttPort = await freePort();
    const taken = await listen(0);
    const apiPort = (taken.address() as { port: number }).port;
    const config = (api: number) =>
      parseCloudConfig(
        {
          logLevel: 'silent',
          broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: mqttPort } },
          api: { host: '127.0.0.1', port: api },
          storage: {
            timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
            registry: { backend: 'sqlite', path: 'registry.db' },
          },
          market: { meteredSettlement: { auto: false } },
        },
        dir,
      );
    // WAL files exist while a connection is open; SQLite removes them when the last one closes.
    const walFiles = () =>
      ['ts.db-wal', 'ts.db-shm', 'registry.db-wal', 'registry.db-shm'].filter((f) =>
        existsSync(join(dir, f)),
      );
    try {
      const { log, lines } = capturedLogger();
      await assert.rejects(startCloud(config(apiPort), { logger: log }), { code: 'EADDRINUSE' });
      const failed = lines.find((l) => l.msg === 'start failed; stopping the parts already started');
      assert.deepEqual(failed?.started, [
        'timeseries store',
        'registry',
        'fleet live state',
        'ingest',
        'broker',
        'commands',
        'metered settlement',
        'forecasts',
        'rt scheduler',
        'vpp',
      ]);
      // The order of docs/cloud.md "Operations": stop accepting, flush, services, MQTT connections, databases.
      assert.deepEqual(
        lines.filter((l) => l.msg === 'stop step').map((l) => l.step),
        [
          'broker: drain',
          'ingest: drain',
          'vpp',
          'rt scheduler',
          'forecasts',
          'metered settlement',
          'commands',
          'broker',
          'ingest',
          'fleet live state',
          'registry',
          'timeseries store',
        ],
      );
      assert.equal(lines.filter((l) => l.msg === 'stop step timed out; continuing').length, 0);
      assert.deepEqual(walFiles(), []);
      await close(await listen(mqttPort)); // the broker's listener is gone

      // The same ports and files start a cloud at once; while it runs its SQLite files are open.
      await close(taken);
      const cloud = await startCloud(config(apiPort), { logger: pino({ level: 'silent' }) });
      try {
        assert.equal(cloud.apiPort, apiPort);
        assert.equal(cloud.broker.tcp, mqttPort);
        assert.equal((await fetch(`${cloud.apiUrl}/health`)).status, 200);
        assert.deepEqual(walFiles(), ['ts.db-wal', 'ts.db-shm', 'registry.db-wal', 'registry.db-shm']);
      } finally {
        await cloud.stop();
      }
      assert.deepEqual(walFiles(), []);
      await close(await listen(mqttPort));
      await close(await listen(apiPort));
    } finally {
      if (taken.listening) await close(taken);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a broker that fails to start (TLS cert file missing, after binding plain MQTT) leaves its port and the SQLite files free', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-lifecycle-'));
    const mqttPort = await freePort();
    try {
      const { log, lines } = capturedLogger();
      const config = parseCloudConfig(
        {
          logLevel: 'silent',
          broker: {
            mode: 'embedded',
            tcp: { host: '127.0.0.1', port: mqttPort },
            tls: { host: '127.0.0.1', port: 0, cert: 'missing-cert.pem', key: 'missing-key.pem' },
            allowPlaintextWithTls: true,
          },
          api: { host: '127.0.0.1', port: 0 },
          storage: {
            timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
            registry: { backend: 'sqlite', path: 'registry.db' },
          },
        },
        dir,
      );
      await assert.rejects(startCloud(config, { logger: log }), /missing-cert\.pem/);
      const failed = lines.find((l) => l.msg === 'start failed; stopping the parts already started');
      assert.deepEqual(failed?.started, ['timeseries store', 'registry', 'fleet live state', 'ingest']);
      assert.deepEqual(
        lines.filter((l) => l.msg === 'stop step').map((l) => l.step),
        ['ingest: drain', 'ingest', 'fleet live state', 'registry', 'timeseries store'],
      );
      const wal = ['ts.db-wal', 'ts.db-shm', 'registry.db-wal', 'registry.db-shm'];
      assert.deepEqual(
        wal.filter((f) => existsSync(join(dir, f))),
        [],
      );
      await close(await listen(mqttPort));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
