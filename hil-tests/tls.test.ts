import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { makeTlsMaterial } from '../test-support/cloud/test-cloud.ts';
import { freePort } from '../test-support/ports.ts';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

type Latest = Array<{ device: string; point: string; value: number }>;

async function edgeHealth(
  port: number,
): Promise<{ uplink: { connected: boolean; failures: number; lastError?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return (await res.json()) as never;
}

describe('hardware in the loop: edge agent ↔ cloud over TLS only, with per-site credentials', function () {
  this.timeout(60_000);
  const tmp = hilDir();
  // The cloud's server certificate (CA "trusted") and an unrelated CA the broker never heard of.
  const trusted = makeTlsMaterial(tmp.dir);
  const otherDir = join(tmp.dir, 'other');
  mkdirSync(otherDir);
  const untrusted = makeTlsMaterial(otherDir);
  const cloud = new HilCloud(tmp.dir, { tls: { cert: trusted.cert, key: trusted.key } });
  let good: HilSite;
  let badPassword: HilSite;
  let badCa: HilSite;
  const health: Record<string, number> = {};

  before(async () => {
    await cloud.start();
    [health.bad, health.ca] = [await freePort(), await freePort()];
    good = await startSite(cloud, tmp.dir, 'tls-good', { uplink: { ca: trusted.ca } });
    badPassword = await startSite(cloud, tmp.dir, 'tls-badpw', {
      uplink: { ca: trusted.ca, password: 'not-the-site-secret' },
      httpPort: health.bad,
    });
    badCa = await startSite(cloud, tmp.dir, 'tls-badca', {
      uplink: { ca: untrusted.ca },
      httpPort: health.ca,
    });
  });
  after(async () => {
    await good?.stop();
    await badPassword?.stop();
    await badCa?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  const latest = async (site: string) =>
    (await cloud.ok<Latest>('GET', `/sites/${site}/telemetry/latest`)) ?? [];

  it('the broker offers TLS only: a plain MQTT CONNECT gets no CONNACK', async () => {
    assert.match(cloud.mqttUrl, /^mqtts:/);
    const connect = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'plain',
      clean: true,
      keepalive: 30,
      username: 'tls-good',
      password: Buffer.from('x'),
    });
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = createConnection({ host: '127.0.0.1', port: cloud.mqttPort }, () => s.write(connect));
      s.on('data', (d) => chunks.push(d));
      s.on('error', () => undefined); // a reset is as good as a close here
      s.on('close', () => resolve(Buffer.concat(chunks)));
      setTimeout(() => reject(new Error('the TLS port kept a plain connection open')), 5000).unref();
    });
    // Whatever the TLS stack answers (an alert, or nothing), it is not an MQTT CONNACK (0x20).
    assert.notEqual(answer[0], 0x20);
  });

  it('telemetry of a site verified against the CA lands in the cloud', async () => {
    const rows = await waitUntil('tls-good telemetry', async () => {
      const r = await latest('tls-good');
      return ['pv', 'battery', 'meter'].every((d) => r.some((x) => x.device === d && x.point === 'w'))
        ? r
        : undefined;
    });
    assert.ok(rows.length >= 3);
    const devices = await cloud.ok<Array<{ id: string }>>('GET', '/sites/tls-good/devices');
    assert.deepEqual(devices.map((d) => d.id).sort(), ['battery', 'meter', 'pv']);
  });

  it('a command sent through the API reaches the device over TLS and is acknowledged', async () => {
    const sent = await cloud.ok<{ id: string }>('POST', '/sites/tls-good/commands', {
      type: 'battery_power',
      device: 'battery',
      w: -1500,
      ttlSeconds: 60,
    });
    const done = await cloud.ok<{ status: string; applied?: { w: number } }>(
      'GET',
      `/commands/${sent.id}?waitMs=15000`,
    );
    assert.equal(done.status, 'acknowledged');
    assert.equal(done.applied?.w, -1500);
    assert.equal(await readRegister(good.modbusPort, 2, 704, 'WSet'), -1500);
  });

  it('a wrong password is refused with a clear error, retried, and nothing of that site is stored', async () => {
    // The edge keeps retrying: its failure count grows while it stays disconnected.
    const first = await waitUntil('bad-password edge failing', async () => {
      const h = await edgeHealth(health.bad);
      return h.uplink.failures >= 1 ? h : undefined;
    });
    assert.equal(first.uplink.connected, false);
    assert.match(first.uplink.lastError ?? '', /Bad username or password/);
    const later = await waitUntil('bad-password edge retrying', async () => {
      const h = await edgeHealth(health.bad);
      return h.uplink.failures > first.uplink.failures ? h : undefined;
    });
    assert.equal(later.uplink.connected, false);
    assert.match(badPassword.edge!.output(), /Bad username or password.*check uplink\.username/);
    assert.deepEqual(await latest('tls-badpw'), []);
    assert.deepEqual(await cloud.ok('GET', '/sites/tls-badpw/devices'), []);
    const metrics = await (
      await fetch(`${cloud.apiUrl}/metrics`, { headers: { authorization: `Bearer ${cloud.token}` } })
    ).text();
    const denied = Number(/gridlayer_broker_acl_denied_total\{op="connect"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(denied >= 2, `refused logins counted by the cloud: ${denied}`);
  });

  it('a broker certificate from an untrusted CA is refused by the edge, retried, nothing stored', async () => {
    const first = await waitUntil('untrusted-CA edge failing', async () => {
      const h = await edgeHealth(health.ca);
      return h.uplink.failures >= 1 ? h : undefined;
    });
    assert.equal(first.uplink.connected, false);
    assert.match(first.uplink.lastError ?? '', /certificate|unable to verify/i);
    await waitUntil('untrusted-CA edge retrying', async () => {
      const h = await edgeHealth(health.ca);
      return h.uplink.failures > first.uplink.failures && !h.uplink.connected ? h : undefined;
    });
    assert.match(badCa.edge!.output(), /check uplink\.ca/);
    assert.deepEqual(await latest('tls-badca'), []);
    assert.deepEqual(await cloud.ok('GET', '/sites/tls-badca/devices'), []);
  });
});
