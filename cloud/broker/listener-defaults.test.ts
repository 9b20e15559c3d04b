import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCloud } from '../../test-support/cloud/test-cloud.ts';
import { parseCloudConfig } from '../config.ts';

/** Local addresses (hex, as /proc/net/tcp writes them) of the listening sockets on `port`. */
function listeningOn(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hex}`) && f[3] === '0A')
    .map((f) => (f[1] as string).split(':')[0] as string);
}

describe('broker and API listener defaults: loopback, and TLS turns plaintext off', () => {
  const tls = { port: 8883, cert: 'server.pem', key: 'server.key' };

  it('binds MQTT and the API to 127.0.0.1 unless a host is named', () => {
    const c = parseCloudConfig({});
    assert.equal(c.broker.mode, 'embedded');
    if (c.broker.mode !== 'embedded') return;
    assert.deepEqual(c.broker.tcp, { host: '127.0.0.1', port: 1883 });
    assert.equal(c.api.host, '127.0.0.1');
    const named = parseCloudConfig({ broker: { mode: 'embedded', tls, ws: { port: 8083 } } });
    if (named.broker.mode !== 'embedded') return;
    assert.deepEqual([named.broker.tls?.host, named.broker.ws?.host], ['127.0.0.1', '127.0.0.1']);
    const wide = parseCloudConfig({ broker: { mode: 'embedded', tcp: { host: '0.0.0.0', port: 1883 } } });
    assert.equal(wide.broker.mode === 'embedded' && wide.broker.tcp?.host, '0.0.0.0');
  });

  it('with TLS configured there is no plaintext listener unless allowPlaintextWithTls says so', () => {
    const c = parseCloudConfig({ broker: { mode: 'embedded', tls } });
    assert.equal(c.broker.mode === 'embedded' && c.broker.tcp, null);
    assert.throws(
      () => parseCloudConfig({ broker: { mode: 'embedded', tls, tcp: { port: 1883 } } }),
      /broker\.tcp .*broker\.allowPlaintextWithTls/,
    );
    const both = parseCloudConfig({
      broker: { mode: 'embedded', tls, tcp: { port: 1883 }, allowPlaintextWithTls: true },
    });
    assert.deepEqual(both.broker.mode === 'embedded' && both.broker.tcp, { host: '127.0.0.1', port: 1883 });
  });

  it('a cloud started with hosts left out listens on 127.0.0.1 only (MQTT and API)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-listen-'));
    const t = await startTestCloud({ broker: { mode: 'embedded', tcp: { port: 0 } }, api: { port: 0 } }, dir);
    try {
      // 0100007F is 127.0.0.1 in /proc/net/tcp's little-endian hex.
      assert.deepEqual(listeningOn(t.cloud.broker.tcp as number), ['0100007F']);
      assert.deepEqual(listeningOn(t.cloud.apiPort), ['0100007F']);
    } finally {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
