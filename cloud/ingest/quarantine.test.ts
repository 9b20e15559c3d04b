/**
 * "Nothing acknowledged is lost, nothing wrong is stored", on a real cloud (embedded broker, SQLite
 * store) over real sockets. Telemetry is published with Debian's mosquitto_pub (a foreign client that
 * exits 0 only once the broker sent PUBACK) and with mqtt.js; the test then reads the store itself.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import {
  capabilities,
  connectGateway,
  startTestCloud,
  type TestCloud,
} from '../../test-support/cloud/test-cloud.ts';

const run = promisify(execFile);
const MIN = 60_000;

async function metric(t: TestCloud, name: string, labels: string): Promise<number> {
  const text = await t.cloud.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('ingest: quarantine instead of loss (real broker, mosquitto_pub)', function () {
  this.timeout(30_000);
  let t: TestCloud;
  let port = 0;
  const pw: Record<string, string> = {};
  const clients: MqttClient[] = [];

  /** Publishes with mosquitto_pub at QoS 1; resolves once the broker acknowledged (exit code 0). */
  const pub = async (site: string, kind: string, payload: string) => {
    await run('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(port), '-u', site, '-P', pw[site]],
      ...['-i', `${site}-pub-${Math.random().toString(36).slice(2, 8)}`, '-V', 'mqttv311'],
      ...['-q', '1', '-t', `gridlayer/v1/sites/${site}/${kind}`, '-m', payload],
    ]);
  };
  const stored = async (site: string, point: string, from: number, to: number) =>
    (await t.cloud.store.range({ sites: [site], points: [point], from, to, bucketMs: 1 })).map((b) => [
      b.device,
      b.t,
      b.mean,
    ]);

  before(async () => {
    t = await startTestCloud();
    port = t.cloud.broker.tcp as number;
    for (const site of ['q-a', 'q-b', 'q-c', 'q-d', 'q-e']) {
      const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: site } });
      assert.equal(r.status, 201);
      pw[site] = r.body.gateway.password;
    }
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await t?.stop();
  });

  it('stores the known points of a batch with an unknown point and quarantines that one (acknowledged)', async () => {
    const ts = Date.now() - 5000;
    await pub(
      'q-a',
      'telemetry',
      JSON.stringify({
        v: 1,
        site: 'q-a',
        seq: 1,
        samples: [
          { ts, device: 'inv1', values: { w: 1500, v: 230.5, w_frobnicated: 7 } },
          { ts: ts + 1000, device: 'inv1', values: { w: 1600 } },
        ],
      }),
    );
    assert.deepEqual(await stored('q-a', 'w', ts, ts + 2000), [
      ['inv1', ts, 1500],
      ['inv1', ts + 1000, 1600],
    ]);
    assert.deepEqual(await stored('q-a', 'v', ts, ts + 2000), [['inv1', ts, 230.5]]);
    const q = await t.cloud.store.quarantined({ site: 'q-a' });
    assert.equal(q.length, 1);
    assert.equal(q[0].device, 'inv1');
    assert.equal(q[0].point, 'w_frobnicated');
    assert.equal(q[0].raw, '7');
    assert.equal(q[0].ts, ts);
    assert.equal(q[0].seq, 1);
    assert.equal(q[0].reason, 'unknown_point');
    assert.match(q[0].detail, /samples\.0\.values\.w_frobnicated: unknown point/);
    assert.equal(await t.cloud.store.quarantineCount({ site: 'q-a', reason: 'unknown_point' }), 1);
    assert.equal(await metric(t, 'gridlayer_ingest_quarantined_total', 'reason="unknown_point"'), 1);

    // A redelivery of the same batch (QoS 1 dup after a lost PUBACK) stores nothing twice.
    await pub(
      'q-a',
      'telemetry',
      JSON.stringify({
        v: 1,
        site: 'q-a',
        seq: 1,
        samples: [
          { ts, device: 'inv1', values: { w: 1500, v: 230.5, w_frobnicated: 7 } },
          { ts: ts + 1000, device: 'inv1', values: { w: 1600 } },
        ],
      }),
    );
    assert.equal(await t.cloud.store.quarantineCount({ site: 'q-a' }), 1);
  });

  it('an older (v1) and a newer (v2, unknown point and field) edge both lose nothing; the cloud says what it reads', async () => {
    // The gateway's own session: it subscribes to its schema topic and announces itself online.
    const gw = await connectGateway(`mqtt://127.0.0.1:${port}`, 'q-b', pw['q-b']);
    clients.push(gw);
    const announced = new Promise<Record<string, unknown>>((resolve) =>
      gw.on('message', (topic, p) => {
        if (topic.endsWith('/schema')) resolve(JSON.parse(p.toString()));
      }),
    );
    await gw.subscribeAsync('gridlayer/v1/sites/q-b/schema', { qos: 1 });
    // A v2 status (newer edge) is read as v1: the site shows online.
    await gw.publishAsync(
      'gridlayer/v1/sites/q-b/status',
      JSON.stringify({ v: 2, site: 'q-b', state: 'online', ts: Date.now(), agentVersion: '9.0', wifi: 'x' }),
      { qos: 1 },
    );
    const a = await announced;
    assert.deepEqual(a.speaks, [1]);
    assert.equal(a.site, 'q-b');
    assert.equal((await t.cloud.registry.getSite('q-b'))?.status, 'online');

    const ts = Date.now() - 10_000;
    await gw.publishAsync(
      'gridlayer/v1/sites/q-b/telemetry',
      JSON.stringify({
        v: 1,
        site: 'q-b',
        seq: 1,
        samples: [{ ts, device: 'bat1', values: { w: -2000, soc_pct: 55 } }],
      }),
      { qos: 1 },
    );
    await gw.publishAsync(
      'gridlayer/v1/sites/q-b/telemetry',
      JSON.stringify({
        v: 2,
        site: 'q-b',
        seq: 2,
        uptime_s: 86400,
        samples: [
          {
            ts: ts + 1000,
            device: 'bat1',
            values: { w: -2100, soc_pct: 56, cell_v_max: 3.41 },
            quality: { soc_pct: 'stale', cell_v_max: 'stale' },
            seqno: 9001,
          },
        ],
      }),
      { qos: 1 },
    );
    assert.deepEqual(await stored('q-b', 'w', ts, ts + 2000), [
      ['bat1', ts, -2000],
      ['bat1', ts + 1000, -2100],
    ]);
    assert.deepEqual(await stored('q-b', 'soc_pct', ts, ts + 2000), [
      ['bat1', ts, 55],
      ['bat1', ts + 1000, 56],
    ]);
    const latest = await t.cloud.store.latest('q-b');
    assert.deepEqual(
      latest.find((l) => l.point === 'soc_pct'),
      { device: 'bat1', point: 'soc_pct', ts: ts + 1000, value: 56, quality: 'stale' },
    );
    const q = (await t.cloud.store.quarantined({ site: 'q-b' })).sort((x, y) =>
      String(x.point).localeCompare(String(y.point)),
    );
    assert.deepEqual(
      q.map((r) => [r.point, r.raw, r.reason, r.schema, r.seq, r.ts]),
      [
        ['cell_v_max', '3.41', 'unknown_point', 2, 2, ts + 1000],
        ['seqno', '9001', 'unknown_field', 2, 2, ts + 1000],
        ['uptime_s', '86400', 'unknown_field', 2, 2, undefined],
      ],
    );
    assert.match(q[0].detail, /schema v2; this cloud reads v1\); quality "stale"$/);
  });

  it('refuses samples from beyond the clock-skew allowance per sample; they never become latest', async () => {
    const now = Date.now();
    const y2100 = Date.UTC(2100, 0, 1);
    await pub(
      'q-c',
      'telemetry',
      JSON.stringify({
        v: 1,
        site: 'q-c',
        seq: 1,
        samples: [
          { ts: now - 2000, device: 'm1', values: { w: 100 } },
          { ts: y2100, device: 'm1', values: { w: 999, v: 230 } },
          { ts: now + 10 * MIN, device: 'm1', values: { w: 998 } }, // beyond the 5 min default
          { ts: now + 1 * MIN, device: 'm1', values: { w: 101 } }, // within it (a fast gateway clock)
        ],
      }),
    );
    const latest = await t.cloud.store.latest('q-c');
    assert.deepEqual(
      latest.map((l) => [l.point, l.ts, l.value]),
      [['w', now + MIN, 101]],
    );
    const q = await t.cloud.store.quarantined({ site: 'q-c', reason: 'future' });
    assert.deepEqual(q.map((r) => [r.ts, r.point, r.raw]).sort(), [
      [now + 10 * MIN, 'w', '998'],
      [y2100, 'v', '230'],
      [y2100, 'w', '999'],
    ]);
    assert.match(
      q.find((r) => r.ts === y2100)?.detail ?? '',
      /2100-01-01T00:00:00\.000Z is \d+ s ahead of the cloud clock \(allowance 300 s\)/,
    );
    assert.equal(await metric(t, 'gridlayer_ingest_quarantined_total', 'reason="future"'), 3);
    // Two different batches under one seq (an edge that lost its buffer file restarts seq), all of
    // whose samples are refused: neither is taken for a redelivery of the other.
    for (const w of [1, 2])
      await pub(
        'q-c',
        'telemetry',
        JSON.stringify({
          v: 1,
          site: 'q-c',
          seq: 99,
          samples: [{ ts: y2100 + w, device: 'm1', values: { w } }],
        }),
      );
    assert.equal(await t.cloud.store.quarantineCount({ site: 'q-c', reason: 'future' }), 5);
  });

  it('refuses implausible values per value (ranges, nameplate, 1e308, Infinity); aggregates stay finite', async () => {
    // The inverter's nameplate (8 kW, from the shared test capabilities): 1.5 × 8 kW = 12 kW at most.
    await pub('q-d', 'capabilities', capabilities('q-d'));
    const t0 = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
    const batch = `{"v":1,"site":"q-d","seq":1,"samples":[
      {"ts":${t0},"device":"inv1","values":{"w":4000,"v":-5}},
      {"ts":${t0 + 1000},"device":"inv1","values":{"w":1e308,"v":231}},
      {"ts":${t0 + 2000},"device":"inv1","values":{"w":20000}},
      {"ts":${t0 + 3000},"device":"inv1","values":{"w":9000,"hz":1e999}},
      {"ts":${t0 + 4000},"device":"bat1","values":{"soc_pct":-500,"w":-3000}},
      {"ts":${t0 + 5000},"device":"bat1","values":{"soc_pct":40,"pf":1.7}}
    ]}`;
    await pub('q-d', 'telemetry', batch);
    assert.deepEqual(await stored('q-d', 'w', t0, t0 + MIN), [
      ['bat1', t0 + 4000, -3000],
      ['inv1', t0, 4000],
      ['inv1', t0 + 3000, 9000],
    ]);
    assert.deepEqual(await stored('q-d', 'soc_pct', t0, t0 + MIN), [['bat1', t0 + 5000, 40]]);
    assert.deepEqual(await stored('q-d', 'v', t0, t0 + MIN), [['inv1', t0 + 1000, 231]]);
    const q = await t.cloud.store.quarantined({ site: 'q-d', reason: 'implausible' });
    assert.deepEqual(q.map((r) => [r.device, r.ts, r.point, r.raw]).sort(), [
      ['bat1', t0 + 4000, 'soc_pct', '-500'],
      ['bat1', t0 + 5000, 'pf', '1.7'],
      ['inv1', t0, 'v', '-5'],
      ['inv1', t0 + 1000, 'w', '1e+308'],
      ['inv1', t0 + 2000, 'w', '20000'],
      ['inv1', t0 + 3000, 'hz', 'null'], // JSON.parse turns 1e999 into Infinity, which JSON writes as null
    ]);
    const reasons = Object.fromEntries(q.map((r) => [`${(r.ts ?? 0) - t0}/${r.point}`, r.detail]));
    assert.match(reasons['4000/soc_pct'], /soc_pct=-500 outside 0\.\.100 %/);
    assert.match(reasons['2000/w'], /w=20000 beyond nameplate 8000 W × 1\.5/);
    assert.match(reasons['3000/hz'], /not a finite number/);

    // Site total per minute: sum of the device means, by hand: inv1 mean(4000, 9000) + bat1 -3000.
    const r = await t.api<{ t: number; sum: number }[]>(
      'GET',
      `/sites/q-d/telemetry/aggregate?point=w&from=${new Date(t0).toISOString()}&to=${new Date(t0 + MIN).toISOString()}&bucket=60`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.map((p) => [p.t, p.sum]),
      [[t0, 6500 - 3000]],
    );
  });

  it('quarantines a whole unreadable message rather than dropping it after PUBACK', async () => {
    await pub('q-e', 'telemetry', '{"v":1,"site":"q-e","seq":1,"samples":[{"ts":');
    await pub(
      'q-e',
      'telemetry',
      JSON.stringify({
        v: 1,
        site: 'q-a',
        seq: 1,
        samples: [{ ts: Date.now(), device: 'x', values: { w: 1 } }],
      }),
    );
    const q = await t.cloud.store.quarantined({ site: 'q-e' });
    assert.deepEqual(q.map((r) => r.reason).sort(), ['malformed_batch', 'site_mismatch']);
    assert.equal(
      q.find((r) => r.reason === 'malformed_batch')?.raw,
      '{"v":1,"site":"q-e","seq":1,"samples":[{"ts":',
    );
    assert.match(q.find((r) => r.reason === 'malformed_batch')?.detail ?? '', /^not JSON/);
    // The other site's data is not written under the other site.
    assert.equal(await t.cloud.store.quarantineCount({ site: 'q-a', reason: 'site_mismatch' }), 0);
  });

  it('writes an audit row per capability change, not per capabilities message', async () => {
    const site = 'q-e';
    const audit = async () =>
      (await t.cloud.registry.listAudit({ target: site })).filter((a) => a.action.startsWith('site.'));
    const before = (await audit()).length; // site.create by POST /sites
    const same = capabilities(site);
    for (let i = 0; i < 20; i++) await pub(site, 'capabilities', same);
    assert.equal((await audit()).length, before + 1, 'first capabilities: one row');
    const changed = JSON.parse(same);
    changed.ts += 1; // a new timestamp alone is no change
    await pub(site, 'capabilities', JSON.stringify(changed));
    assert.equal((await audit()).length, before + 1);
    changed.devices[0].firmware = '2.0.1';
    for (let i = 0; i < 5; i++) await pub(site, 'capabilities', JSON.stringify(changed));
    const rows = await audit();
    assert.equal(rows.length, before + 2, 'one row for the firmware change');
    // The first message registered both devices, the firmware change names only inv1.
    assert.deepEqual(
      rows.map((a) => (a.detail as { changed?: string[] } | null)?.changed?.join(',')).sort(),
      ['inv1', 'inv1,bat1', ...Array(before).fill(undefined)].sort(),
    );
    assert.equal((await t.cloud.registry.getDevice(site, 'inv1'))?.firmware, '2.0.1');
  });
});
