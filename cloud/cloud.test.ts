import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import {
  type Ack,
  ackSchema,
  commandSchema,
  MAX_PAYLOAD_BYTES,
  parsePayload,
} from '../protocols/mqtt/payloads.ts';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import {
  capabilities,
  closedWithin,
  connectGateway,
  makeTlsMaterial,
  startTestCloud,
  type TestCloud,
  telemetry,
} from '../test-support/cloud/test-cloud.ts';

async function metric(t: TestCloud, name: string, labels = ''): Promise<number> {
  const text = await t.cloud.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('cloud DERMS core (embedded broker, real sockets)', function () {
  this.timeout(30000);
  let t: TestCloud;
  let tls: { ca: string; cert: string; key: string };
  const pw: Record<string, string> = {};
  let tlsUrl = '';
  const gateways: MqttClient[] = [];
  const gw = async (site: string, password = pw[site]) => {
    const c = await connectGateway(tlsUrl, site, password, { ca: readFileSync(tls.ca) });
    gateways.push(c);
    return c;
  };

  before(async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-cloud-'));
    tls = makeTlsMaterial(dir);
    t = await startTestCloud(
      {
        broker: {
          mode: 'embedded',
          tcp: { host: '127.0.0.1', port: 0 },
          tls: { host: '127.0.0.1', port: 0, cert: tls.cert, key: tls.key },
          allowPlaintextWithTls: true,
          ws: { host: '127.0.0.1', port: 0 },
        },
      },
      dir,
    );
    tlsUrl = `mqtts://127.0.0.1:${t.cloud.broker.tls}`;
    for (const site of ['site-a', 'site-b']) {
      const r = await t.api<{ gateway: { username: string; password: string } }>('POST', '/sites', {
        body: { id: site },
      });
      assert.equal(r.status, 201);
      assert.equal(r.body.gateway.username, site);
      pw[site] = r.body.gateway.password;
    }
  });
  after(async () => {
    for (const c of gateways) c.end(true);
    await t?.stop();
    const { rmSync } = await import('node:fs');
    if (t) rmSync(t.dir, { recursive: true, force: true });
  });

  it('a gateway logs in over TLS with its site credentials, registers itself, and its telemetry is stored', async () => {
    const c = await gw('site-a');
    await c.publishAsync(siteTopic('site-a', 'capabilities'), capabilities('site-a'), { qos: 1 });
    const ts = Date.now() - 1000;
    await c.publishAsync(siteTopic('site-a', 'telemetry'), telemetry('site-a', 1, ts, 4200), { qos: 1 });
    // The PUBACK came after the write: the value is already queryable.
    const latest = await t.api<{ point: string; value: number; ts: number }[]>(
      'GET',
      '/sites/site-a/telemetry/latest',
    );
    assert.deepEqual(
      latest.body.filter((l) => l.point === 'w').map((l) => [l.value, l.ts]),
      [[4200, ts]],
    );
    const devices = await t.api<{ id: string; controls: string[] }[]>('GET', '/sites/site-a/devices');
    assert.deepEqual(
      devices.body.map((d) => d.id),
      ['bat1', 'inv1'],
    );
    // The secret is stored hashed, never in clear.
    const hash = await t.cloud.registry.siteCredentialHash('site-a');
    assert.ok(hash && hash !== pw['site-a'] && /^[0-9a-f]{64}$/.test(hash));
    c.end(true);
  });

  it('refuses a wrong password, an unknown site and a client that does not trust the CA', async () => {
    await assert.rejects(gw('site-a', 'wrong'), /Bad username or password|Not authorized/i);
    await assert.rejects(gw('site-zz', 'whatever-password'), /Bad username or password|Not authorized/i);
    await assert.rejects(
      connectGateway(tlsUrl, 'site-a', pw['site-a']),
      /self.signed|unable to verify|certificate/i,
    );
  });

  it('also serves MQTT over WebSocket with the same login', async () => {
    const c = await connectGateway(`ws://127.0.0.1:${t.cloud.broker.ws}`, 'site-b', pw['site-b']);
    await c.publishAsync(siteTopic('site-b', 'telemetry'), telemetry('site-b', 1, Date.now(), 10), {
      qos: 1,
    });
    assert.equal((await t.cloud.store.latest('site-b')).find((l) => l.point === 'w')?.value, 10);
    c.end(true);
  });

  it('disconnects a gateway publishing into another site, and stores nothing of it', async () => {
    const c = await gw('site-a');
    const before = await t.cloud.store.latest('site-b');
    const denied = await metric(t, 'gridlayer_broker_acl_denied_total', 'op="publish"');
    c.publish(siteTopic('site-b', 'telemetry'), telemetry('site-b', 99, Date.now(), 666), { qos: 1 });
    assert.equal(await closedWithin(c, 5000), true);
    assert.deepEqual(await t.cloud.store.latest('site-b'), before);
    assert.equal(await metric(t, 'gridlayer_broker_acl_denied_total', 'op="publish"'), denied + 1);
  });

  it("refuses subscriptions outside the gateway's own command topic", async () => {
    const c = await gw('site-a');
    // mqtt.js rejects when any filter is refused; the SUBACK is on the error.
    const suback = await c
      .subscribeAsync({
        [siteTopic('site-a', 'commands')]: { qos: 1 },
        [siteTopic('site-b', 'commands')]: { qos: 1 },
        'gridlayer/v1/sites/+/commands': { qos: 1 },
        [siteTopic('site-a', 'telemetry')]: { qos: 1 },
        '#': { qos: 0 },
      })
      .then(
        () => assert.fail('expected refusals'),
        (err: { packet?: { granted: number[] } }) => err.packet?.granted,
      );
    assert.deepEqual(suback, [1, 128, 128, 128, 128]);
    c.end(true);
  });

  it('quarantines malformed, oversized, implausible and wrong-site payloads, reads a newer version, and keeps them out of telemetry', async () => {
    const c = await gw('site-a');
    const topic = siteTopic('site-a', 'telemetry');
    const ts = Date.UTC(2026, 1, 1);
    const bad = [
      '{"v":1,"site":"site-a",', // not JSON
      // A newer schema version: its envelope is read, w is known and stored (then overwritten below).
      JSON.stringify({ v: 2, site: 'site-a', seq: 5, samples: [{ ts, device: 'inv1', values: { w: 1 } }] }),
      JSON.stringify({
        v: 1,
        site: 'site-a',
        seq: 6,
        samples: [{ ts, device: 'inv1', values: { w: 'lots' } }],
      }),
      JSON.stringify({ v: 1, site: 'site-b', seq: 7, samples: [{ ts, device: 'inv1', values: { w: 1 } }] }),
      Buffer.alloc(MAX_PAYLOAD_BYTES + 10, 0x20),
    ];
    for (const p of bad) await c.publishAsync(topic, p, { qos: 1 });
    // Still connected, and a good message afterwards is stored; its redelivery is counted as duplicate.
    await c.publishAsync(topic, telemetry('site-a', 10, ts, 77), { qos: 1 });
    await c.publishAsync(topic, telemetry('site-a', 10, ts, 77), { qos: 1 });
    const stored = await t.cloud.store.range({
      sites: ['site-a', 'site-b'],
      from: ts,
      to: ts + 1,
      bucketMs: 1000,
    });
    assert.deepEqual(
      stored.filter((b) => b.point === 'w').map((b) => [b.site, b.mean, b.count]),
      [['site-a', 77, 1]],
    );
    for (const [reason, n] of [
      ['malformed_batch', 2],
      ['implausible', 1],
      ['site_mismatch', 1],
    ] as const) {
      assert.equal(await metric(t, 'gridlayer_ingest_quarantined_total', `reason="${reason}"`), n, reason);
      assert.equal(await t.cloud.store.quarantineCount({ site: 'site-a', reason }), n, reason);
    }
    assert.equal(
      await metric(t, 'gridlayer_ingest_messages_total', 'kind="telemetry",result="duplicate"'),
      1,
    );
    const prom = (await t.api<string>('GET', '/metrics')).body; // needs metrics:read: the operator token
    assert.match(prom, /gridlayer_ingest_points_total \d+/);
    c.end(true);
  });

  it('runs a command from the API through the broker to the gateway and back to the API, with audit', async () => {
    const c = await gw('site-a');
    await c.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
    const received: string[] = [];
    c.on('message', (_topic, payload) => {
      const cmd = parsePayload(commandSchema, payload);
      assert.ok(cmd.ok, cmd.ok ? '' : cmd.error);
      received.push(cmd.value.id);
      if (cmd.value.type === 'battery_power') return; // this one is left to expire
      const ack: Ack =
        cmd.value.type === 'active_power_limit'
          ? {
              v: 1,
              site: 'site-a',
              commandId: cmd.value.id,
              ts: Date.now(),
              status: 'applied',
              applied: { w: Math.min(cmd.value.w, 4000) },
              reason: 'clamped to export limit',
            }
          : {
              v: 1,
              site: 'site-a',
              commandId: cmd.value.id,
              ts: Date.now(),
              status: 'refused',
              reason: 'not supported',
            };
      c.publish(siteTopic('site-a', 'acks'), JSON.stringify(ackSchema.parse(ack)), { qos: 1 });
    });

    const sent = await t.api<{ id: string; status: string }>('POST', '/sites/site-a/commands', {
      body: { type: 'active_power_limit', device: 'inv1', w: 5000, ttlSeconds: 60 },
    });
    assert.equal(sent.status, 202);
    assert.equal(sent.body.status, 'sent');
    const done = await t.api<{ status: string; applied: unknown; reason: string }>(
      'GET',
      `/commands/${sent.body.id}?waitMs=10000`,
    );
    assert.deepEqual(
      [done.body.status, done.body.applied, done.body.reason],
      ['acknowledged', { w: 4000 }, 'clamped to export limit'],
    );
    assert.ok(received.includes(sent.body.id));

    const toExpire = await t.api<{ id: string }>('POST', '/sites/site-a/commands', {
      body: { type: 'battery_power', device: 'bat1', w: -2000, ttlSeconds: 1 },
    });
    const expired = await t.api<{ status: string; reason: string }>(
      'GET',
      `/commands/${toExpire.body.id}?waitMs=10000`,
    );
    assert.deepEqual(
      [expired.body.status, expired.body.reason],
      ['expired', 'no acknowledgement before expiry'],
    );

    // Invalid commands never leave the cloud.
    const unsupported = await t.api<{ error: string }>('POST', '/sites/site-a/commands', {
      body: { type: 'reactive_power', var: 100 },
    });
    assert.equal(unsupported.status, 422);
    const malformed = await t.api<{ error: string }>('POST', '/sites/site-a/commands', {
      body: { type: 'active_power_limit', w: -5 },
    });
    assert.equal(malformed.status, 400);

    const audit = await t.api<
      { actor: string; action: string; detail: { id?: string; command?: { id: string } } }[]
    >('GET', '/audit?target=site-a&limit=1000');
    const forCmd = (id: string) =>
      audit.body
        .filter((e) => e.detail?.id === id || e.detail?.command?.id === id)
        .map((e) => [e.actor, e.action]);
    assert.deepEqual(forCmd(sent.body.id), [
      ['user:admin', 'command.send'],
      ['gateway:site-a', 'command.acknowledged'],
    ]);
    assert.deepEqual(forCmd(toExpire.body.id), [
      ['user:admin', 'command.send'],
      ['system', 'command.expired'],
    ]);
    assert.ok(audit.body.some((e) => e.actor === 'gateway:site-a' && e.action === 'site.capabilities'));
    c.end(true);
  });

  it('authorizes API calls per role, per site and per group', async () => {
    assert.equal(
      (await t.api('GET', '/sites', { token: 'glt_nobody12_xxxxxxxxxxxxxxxxxxxxxxxx' })).status,
      401,
    );
    const mk = async (body: unknown) => {
      const u = await t.api<{ id: string }>('POST', '/users', { body });
      assert.equal(u.status, 201);
      const tok = await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} });
      return tok.body.token;
    };
    const viewer = await mk({ name: 'v', role: 'viewer', scopes: [{ kind: 'site', target: 'site-a' }] });
    assert.deepEqual(
      (await t.api<{ id: string }[]>('GET', '/sites', { token: viewer })).body.map((s) => s.id),
      ['site-a'],
    );
    assert.equal((await t.api('GET', '/sites/site-a/telemetry/latest', { token: viewer })).status, 200);
    assert.equal((await t.api('GET', '/sites/site-b', { token: viewer })).status, 403);
    assert.equal((await t.api('GET', '/sites/site-b/telemetry/latest', { token: viewer })).status, 403);
    const cmd = { type: 'active_power_limit', device: 'inv1', w: 1000 };
    assert.equal((await t.api('POST', '/sites/site-a/commands', { token: viewer, body: cmd })).status, 403);
    assert.equal(
      (await t.api('PATCH', '/sites/site-a', { token: viewer, body: { feeder: 'F1' } })).status,
      403,
    );
    assert.equal((await t.api('GET', '/audit', { token: viewer })).status, 403);

    // An aggregator acts on the sites of its group only.
    assert.equal(
      (
        await t.api('POST', '/groups', {
          body: { id: 'vpp-1', name: 'VPP 1', kind: 'vpp', sites: ['site-b'] },
        })
      ).status,
      201,
    );
    const agg = await mk({ name: 'agg', role: 'aggregator', scopes: [{ kind: 'group', target: 'vpp-1' }] });
    assert.deepEqual(
      (await t.api<{ id: string }[]>('GET', '/groups', { token: agg })).body.map((g) => g.id),
      ['vpp-1'],
    );
    assert.equal((await t.api('GET', '/groups/vpp-1/aggregate?from=0&bucket=1', { token: agg })).status, 400);
    const from = Date.now() - 3_600_000;
    assert.equal(
      (await t.api('GET', `/groups/vpp-1/aggregate?from=${from}&bucket=600`, { token: agg })).status,
      200,
    );
    assert.equal((await t.api('POST', '/sites/site-a/commands', { token: agg, body: cmd })).status, 403);
    // site-b has no device with that control yet: allowed to try, refused on content (422), not on authorization.
    assert.equal((await t.api('POST', '/sites/site-b/commands', { token: agg, body: cmd })).status, 422);

    // Operators edit what the edge cannot know; the edit is audited.
    const patched = await t.api<{ feeder: string; node: string }>('PATCH', '/sites/site-a', {
      body: { feeder: 'F12', node: 'N7' },
    });
    assert.deepEqual([patched.body.feeder, patched.body.node], ['F12', 'N7']);
    const audit = await t.api<{ action: string }[]>('GET', '/audit?target=site-a&action=site.update');
    assert.equal(audit.body.length, 1);
  });

  it('serves an OpenAPI document generated from the validation schemas', async () => {
    const doc = (await fetch(`${t.cloud.apiUrl}/openapi.json`).then((r) => r.json())) as {
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: { 'application/json': { schema: { oneOf?: unknown[] } } } } }
        >
      >;
    };
    for (const p of [
      '/api/v1/sites',
      '/api/v1/sites/{site}/telemetry/history',
      '/api/v1/commands/{id}',
      '/api/v1/health',
    ])
      assert.ok(doc.paths[p], p);
    const body =
      doc.paths['/api/v1/sites/{site}/commands'].post.requestBody?.content['application/json'].schema;
    assert.equal(body?.oneOf?.length, commandSchema.options.length);
    const health = await fetch(`${t.cloud.apiUrl}/health`).then((r) => r.json());
    assert.deepEqual(health, { status: 'ok', checks: { timeseries: true, registry: true, broker: true } });
  });
});
