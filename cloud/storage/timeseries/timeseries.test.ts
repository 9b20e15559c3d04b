import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningInfluxDB, startInfluxDB } from '../../../test-support/influxdb.ts';
import { aggregate } from './aggregate.ts';
import { InfluxTimeSeries } from './influx.ts';
import { SqliteTimeSeries } from './sqlite.ts';
import type { PointRow, QuarantineRow, TimeSeriesStore } from './types.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Two sites; site a has two inverters; one value per 10 s for 2 minutes. */
function fixture(): PointRow[] {
  const rows: PointRow[] = [];
  for (let i = 0; i < 12; i++) {
    const ts = T0 + i * 10_000;
    rows.push({ site: 'a', device: 'inv1', point: 'w', ts, value: 1000 + i });
    rows.push({ site: 'a', device: 'inv2', point: 'w', ts, value: 2000 + i });
    rows.push({ site: 'a', device: 'inv1', point: 'v', ts, value: 230 });
    rows.push({ site: 'b', device: 'inv1', point: 'w', ts, value: 500 });
  }
  rows.push({ site: 'a', device: 'inv1', point: 'hz', ts: T0, value: 50.01, quality: 'stale' });
  return rows;
}

function contract(name: string, open: () => Promise<TimeSeriesStore>, cleanup: () => Promise<void>) {
  describe(`time-series store: ${name}`, function () {
    this.timeout(30000);
    let store: TimeSeriesStore;
    before(async () => {
      store = await open();
      await store.write(fixture());
      // A redelivered batch overwrites values with themselves: no double counting.
      await store.write(fixture().slice(0, 10));
    });
    after(async () => {
      await store?.close();
      await cleanup();
    });

    it('answers ping', async () => {
      assert.equal(await store.ping(), true);
    });

    it('returns the latest value per device and point, with non-good quality', async () => {
      const latest = await store.latest('a');
      assert.deepEqual(
        latest.map((l) => [l.device, l.point, l.ts, l.value]),
        [
          ['inv1', 'hz', T0, 50.01],
          ['inv1', 'v', T0 + 110_000, 230],
          ['inv1', 'w', T0 + 110_000, 1011],
          ['inv2', 'w', T0 + 110_000, 2011],
        ],
      );
      assert.equal(latest[0].quality, 'stale');
      assert.equal(latest[1].quality, undefined);
      assert.deepEqual(await store.latest('nope'), []);
    });

    it('keeps the newest row per series as latest when one write holds several (out of order, ties)', async () => {
      const ts = T0 + 1_000_000;
      await store.write([
        { site: 'c', device: 'm', point: 'w', ts: ts + 2, value: 3 },
        { site: 'c', device: 'm', point: 'w', ts, value: 1 },
        { site: 'c', device: 'm', point: 'v', ts, value: 230 },
        { site: 'c', device: 'm', point: 'v', ts, value: 231, quality: 'stale' },
        { site: 'c', device: 'm', point: 'w', ts: ts + 1, value: 2 },
      ]);
      assert.deepEqual(
        (await store.latest('c')).map((l) => [l.point, l.ts, l.value, l.quality]),
        [
          ['v', ts, 231, 'stale'],
          ['w', ts + 2, 3, undefined],
        ],
      );
      // An older write later does not move latest back.
      await store.write([{ site: 'c', device: 'm', point: 'w', ts: ts - 5, value: 9 }]);
      assert.deepEqual((await store.latest('c')).find((l) => l.point === 'w')?.value, 3);
    });

    it('downsamples a range to mean/min/max/count per bucket', async () => {
      const b = await store.range({
        sites: ['a'],
        devices: ['inv1'],
        points: ['w'],
        from: T0,
        to: T0 + 120_000,
        bucketMs: 60_000,
      });
      assert.deepEqual(
        b.map((x) => [x.t, x.mean, x.min, x.max, x.count]),
        [
          [T0, 1002.5, 1000, 1005, 6],
          [T0 + 60_000, 1008.5, 1006, 1011, 6],
        ],
      );
      // `to` is exclusive and devices/points filter.
      const part = await store.range({
        sites: ['a', 'b'],
        points: ['w'],
        from: T0,
        to: T0 + 60_000,
        bucketMs: 60_000,
      });
      assert.deepEqual(
        part.map((x) => [x.site, x.device, x.count]),
        [
          ['a', 'inv1', 6],
          ['a', 'inv2', 6],
          ['b', 'inv1', 6],
        ],
      );
    });

    it('stores quarantined values with their samples, idempotently, and lists and counts them', async () => {
      const q = (key: string, over: Partial<QuarantineRow> = {}): QuarantineRow => ({
        key,
        site: 'q',
        device: 'inv1',
        point: 'w_future_point',
        ts: T0,
        raw: '42',
        reason: 'unknown_point',
        detail: 'samples.0.values.w_future_point: unknown point',
        schema: 2,
        seq: 7,
        receivedMs: T0 + 1000,
        ...over,
      });
      const rows = [
        q('k1'),
        q('k2', { point: 'soc_pct', raw: '-500', reason: 'implausible', receivedMs: T0 + 2000 }),
        // A whole unreadable message: no device, point, ts, schema or seq.
        {
          key: 'k3',
          site: 'q',
          raw: '{"v":1,',
          reason: 'malformed_batch',
          detail: 'not JSON',
          receivedMs: T0 + 3000,
        } as QuarantineRow,
      ];
      await store.write([{ site: 'q', device: 'inv1', point: 'w', ts: T0, value: 5 }], rows);
      await store.write([], [rows[0]]); // a redelivery: stored once
      assert.equal(await store.quarantineCount({ site: 'q' }), 3);
      assert.equal(await store.quarantineCount({ site: 'q', reason: 'implausible' }), 1);
      assert.equal(await store.quarantineCount({ site: 'nope' }), 0);
      const listed = await store.quarantined({ site: 'q' });
      assert.deepEqual(
        listed.map((r) => r.key),
        ['k3', 'k2', 'k1'],
      );
      assert.deepEqual(listed[2], rows[0]);
      assert.deepEqual(listed[0], rows[2]);
      assert.deepEqual(
        (await store.latest('q')).map((l) => [l.point, l.value]),
        [['w', 5]],
      );
    });

    it('aggregates per site and per group (sum of device means per bucket)', async () => {
      const site = await aggregate(store, {
        sites: ['a'],
        point: 'w',
        from: T0,
        to: T0 + 120_000,
        bucketMs: 60_000,
      });
      assert.deepEqual(
        site.map((p) => [p.t, p.sum, p.series]),
        [
          [T0, 1002.5 + 2002.5, 2],
          [T0 + 60_000, 1008.5 + 2008.5, 2],
        ],
      );
      const group = await aggregate(store, {
        sites: ['a', 'b'],
        point: 'w',
        from: T0,
        to: T0 + 60_000,
        bucketMs: 60_000,
      });
      assert.deepEqual(
        group.map((p) => [p.sum, p.min, p.max, p.series]),
        [[1002.5 + 2002.5 + 500, 500, 2002.5, 3]],
      );
    });
  });
}

let dir = '';
contract(
  'embedded SQLite',
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-ts-'));
    return new SqliteTimeSeries({ path: join(dir, 'ts.db') });
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);

let influx: RunningInfluxDB | undefined;
contract(
  'InfluxDB 1.x HTTP API (real influxd)',
  async () => {
    influx = await startInfluxDB();
    return InfluxTimeSeries.open({ apiVersion: 1, url: influx.url, database: 'gridlayer_test' });
  },
  async () => influx?.stop(),
);
