/**
 * The quarantine is bounded per site: a gateway that sends nothing but unknown points cannot grow it
 * without limit, and what it no longer keeps is counted and logged, not silently gone. Real cloud
 * (embedded broker, SQLite), telemetry published with Debian's mosquitto_pub (exit 0 = PUBACK).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino from 'pino';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';

const run = promisify(execFile);

describe('ingest: per-site quarantine budget (real broker, mosquitto_pub)', function () {
  this.timeout(30_000);
  let t: TestCloud;
  const lines: Record<string, unknown>[] = [];
  const pw: Record<string, string> = {};

  const pub = async (site: string, payload: unknown) => {
    await run('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(t.cloud.broker.tcp), '-u', site, '-P', pw[site]],
      ...['-i', `${site}-pub`, '-V', 'mqttv311', '-q', '1'],
      ...['-t', `gridlayer/v1/sites/${site}/telemetry`, '-m', JSON.stringify(payload)],
    ]);
  };
  const metric = async (name: string, labels: string) => {
    const text = await t.cloud.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  before(async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    t = await startTestCloud(
      { ingest: { quarantineMaxPerSite: 3, quarantineWindowSeconds: 3600 } },
      undefined,
      { logger: pino({ level: 'warn' }, sink) },
    );
    for (const site of ['qb-a', 'qb-b']) {
      const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: site } });
      assert.equal(r.status, 201);
      pw[site] = r.body.gateway.password;
    }
  });
  after(async () => t?.stop());

  it('keeps 3 rows per site and window, stores every known value, counts and logs the 4 not kept', async () => {
    const ts = Date.now() - 10_000;
    // 2 known values and 5 unknown points, then 2 more unknown: all acknowledged (mosquitto_pub exit 0).
    await pub('qb-a', {
      v: 1,
      site: 'qb-a',
      seq: 1,
      samples: [{ ts, device: 'inv1', values: { w: 1500, v: 230, x1: 1, x2: 2, x3: 3, x4: 4, x5: 5 } }],
    });
    await pub('qb-a', {
      v: 1,
      site: 'qb-a',
      seq: 2,
      samples: [{ ts: ts + 1000, device: 'inv1', values: { x6: 6, x7: 7 } }],
    });
    const w = await t.cloud.store.range({
      sites: ['qb-a'],
      points: ['w'],
      from: ts,
      to: ts + 1,
      bucketMs: 1,
    });
    const v = await t.cloud.store.range({
      sites: ['qb-a'],
      points: ['v'],
      from: ts,
      to: ts + 1,
      bucketMs: 1,
    });
    assert.deepEqual(
      [...w, ...v].map((b) => b.mean),
      [1500, 230],
    );
    assert.equal(await t.cloud.store.quarantineCount({ site: 'qb-a' }), 3);
    // 7 unknown values refused in all, 3 kept: 4 counted as not kept.
    assert.equal(await metric('gridlayer_ingest_quarantine_not_kept_total', 'reason="unknown_point"'), 4);
    assert.equal(await metric('gridlayer_ingest_quarantined_total', 'reason="unknown_point"'), 7);
    const budgetWarns = lines.filter((l) =>
      String(l.msg).startsWith('quarantine budget of the site used up'),
    );
    assert.equal(budgetWarns.length, 1, 'one WARN when the budget runs out, not one per value');
    assert.equal(budgetWarns[0].site, 'qb-a');

    // Another site has a budget of its own.
    await pub('qb-b', { v: 1, site: 'qb-b', seq: 1, samples: [{ ts, device: 'm1', values: { y1: 1 } }] });
    assert.equal(await t.cloud.store.quarantineCount({ site: 'qb-b' }), 1);
    assert.equal(await metric('gridlayer_ingest_quarantine_not_kept_total', 'reason="unknown_point"'), 4);
  });
});
