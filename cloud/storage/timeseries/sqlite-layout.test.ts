import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteTimeSeries } from './sqlite.ts';
import { LAYOUT_VERSION, POINT_INDEX } from './sqlite-layout.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A file as the layout-1 store wrote it (one text-keyed row per point), DDL copied from that version. */
function writeLayout1(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE samples (
      site TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL,
      value REAL NOT NULL, quality TEXT,
      PRIMARY KEY (site, device, point, ts)
    ) WITHOUT ROWID;
    CREATE TABLE latest (
      site TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL,
      value REAL NOT NULL, quality TEXT,
      PRIMARY KEY (site, device, point)
    ) WITHOUT ROWID;
  `);
  const ins = db.prepare('INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)');
  const lat = db.prepare('INSERT OR REPLACE INTO latest VALUES (?, ?, ?, ?, ?, ?)');
  for (let i = 0; i < 6; i++) {
    const ts = T0 + i * 10_000;
    for (const [device, point, value, quality] of [
      ['inv1', 'w', 1000 + i, null],
      ['inv1', 'hz', 50, i === 5 ? 'stale' : null],
      ['bat1', 'soc_pct', 40 + i, i === 5 ? 'invalid' : null],
      ['bat1', 'custom_x', i, null], // a name outside the canonical set
    ] as const) {
      ins.run('a', device, point, ts, value, quality);
      lat.run('a', device, point, ts, value, quality);
    }
  }
  db.close();
}

describe('embedded time-series layout', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-tslayout-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a layout-1 file in place and reads it back the same', async () => {
    const path = join(dir, 'ts.db');
    writeLayout1(path);
    const store = new SqliteTimeSeries({ path });
    try {
      assert.deepEqual(
        (await store.latest('a')).map((l) => [l.device, l.point, l.ts, l.value, l.quality]),
        [
          ['bat1', 'custom_x', T0 + 50_000, 5, undefined],
          ['bat1', 'soc_pct', T0 + 50_000, 45, 'invalid'],
          ['inv1', 'hz', T0 + 50_000, 50, 'stale'],
          ['inv1', 'w', T0 + 50_000, 1005, undefined],
        ],
      );
      const b = await store.range({ sites: ['a'], from: T0, to: T0 + 60_000, bucketMs: 60_000 });
      assert.deepEqual(
        b.map((x) => [x.device, x.point, x.t, x.mean, x.min, x.max, x.count]),
        [
          ['bat1', 'custom_x', T0, 2.5, 0, 5, 6],
          ['bat1', 'soc_pct', T0, 42.5, 40, 45, 6],
          ['inv1', 'hz', T0, 50, 50, 50, 6],
          ['inv1', 'w', T0, 1002.5, 1000, 1005, 6],
        ],
      );
      // New writes after the migration land beside the migrated rows.
      await store.write([{ site: 'a', device: 'inv1', point: 'w', ts: T0 + 60_000, value: 7 }]);
      assert.equal((await store.latest('a')).find((l) => l.point === 'w')?.value, 7);
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    )
      .map((t) => t.name)
      .sort();
    assert.equal(db.pragma('user_version', { simple: true }), LAYOUT_VERSION);
    db.close();
    assert.deepEqual(tables, ['device_samples', 'latest_values', 'point_samples', 'quarantine', 'series']);
    // Opening again is a no-op.
    const again = new SqliteTimeSeries({ path });
    assert.equal((await again.latest('a')).length, 4);
    await again.close();
  });

  it('repairs a "latest" dated in the future (written before ingest refused them) on open, keeping the samples', async () => {
    const path = join(dir, 'ts.db');
    const y2100 = Date.UTC(2100, 0, 1);
    const now = Date.now();
    const s1 = new SqliteTimeSeries({ path });
    await s1.write([
      { site: 'a', device: 'inv1', point: 'w', ts: now - 2000, value: 10 },
      { site: 'a', device: 'inv1', point: 'w', ts: now - 1000, value: 11, quality: 'stale' },
      { site: 'a', device: 'inv1', point: 'w', ts: y2100, value: 999 },
      { site: 'a', device: 'inv1', point: 'custom_x', ts: now - 1000, value: 3 },
      { site: 'a', device: 'inv1', point: 'custom_x', ts: y2100, value: 4 },
      { site: 'a', device: 'inv2', point: 'v', ts: y2100, value: 230 }, // nothing older to fall back to
    ]);
    assert.deepEqual(
      (await s1.latest('a')).map((l) => [l.device, l.point, l.ts]),
      [
        ['inv1', 'custom_x', y2100],
        ['inv1', 'w', y2100],
        ['inv2', 'v', y2100],
      ],
    );
    await s1.close();
    const s2 = new SqliteTimeSeries({ path });
    try {
      assert.deepEqual(
        (await s2.latest('a')).map((l) => [l.device, l.point, l.ts, l.value, l.quality]),
        [
          ['inv1', 'custom_x', now - 1000, 3, undefined],
          ['inv1', 'w', now - 1000, 11, 'stale'],
        ],
      );
      // The samples are still stored (nothing already stored is lost).
      const b = await s2.range({ sites: ['a'], points: ['w'], from: y2100, to: y2100 + 1, bucketMs: 1 });
      assert.deepEqual(
        b.map((x) => x.mean),
        [999],
      );
    } finally {
      await s2.close();
    }
  });

  it('merges writes of one device instant point by point, with their qualities', async () => {
    const store = new SqliteTimeSeries({ path: join(dir, 'ts.db') });
    try {
      await store.write([
        { site: 's', device: 'd', point: 'w', ts: T0, value: 1, quality: 'stale' },
        { site: 's', device: 'd', point: 'v', ts: T0, value: 230 },
      ]);
      // Same instant again (a redelivery or a second message): w replaced (now good), hz added, v kept.
      await store.writeSamples([
        {
          site: 's',
          samples: [{ ts: T0, device: 'd', values: { w: 2, hz: 50 }, quality: { hz: 'invalid' } }],
        },
      ]);
      const b = await store.range({ sites: ['s'], from: T0, to: T0 + 1, bucketMs: 1000 });
      assert.deepEqual(
        b.map((x) => [x.point, x.mean, x.count]),
        [
          ['hz', 50, 1],
          ['v', 230, 1],
          ['w', 2, 1],
        ],
      );
      assert.deepEqual(
        (await store.latest('s')).map((l) => [l.point, l.value, l.quality]),
        [
          ['hz', 50, 'invalid'],
          ['v', 230, undefined],
          ['w', 2, undefined],
        ],
      );
    } finally {
      await store.close();
    }
  });

  it('stores a large write (several rows per statement) the same as a plain per-sample model', async () => {
    // 300 samples over 8 sites x 2 devices and 12 instants, random point subsets and qualities, so
    // many (series, ts) repeat inside one write and within one multi-row statement.
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const POINTS = ['w', 'var', 'v', 'a', 'hz', 'pf'];
    const QUALITIES = [undefined, undefined, 'stale', 'invalid'] as const;
    const bySite = new Map<
      string,
      {
        ts: number;
        device: string;
        values: Record<string, number>;
        quality?: Record<string, 'stale' | 'invalid'>;
      }[]
    >();
    for (let k = 0; k < 300; k++) {
      const site = `s${Math.floor(rnd() * 8)}`;
      const device = `d${Math.floor(rnd() * 2)}`;
      const ts = T0 + Math.floor(rnd() * 12) * 1000;
      const values: Record<string, number> = {};
      const quality: Record<string, 'stale' | 'invalid'> = {};
      for (const p of POINTS)
        if (rnd() < 0.5) {
          values[p] = Math.round(rnd() * 1000) / 10;
          const q = QUALITIES[Math.floor(rnd() * 4)];
          if (q) quality[p] = q;
        }
      if (!Object.keys(values).length) values.w = k;
      const list = bySite.get(site) ?? [];
      list.push(Object.keys(quality).length ? { ts, device, values, quality } : { ts, device, values });
      bySite.set(site, list);
    }
    // The model: per (site, device, ts, point) the last value written; per (site, device, point) the value
    // of the newest ts, the later write on a tie.
    const cell = new Map<string, number>();
    // Quality code of each (site, device, ts, point) cell: the last write's (good = 0).
    const cellQ = new Map<string, Map<string, number>>();
    const CODE = { stale: 1, invalid: 2 } as const;
    const latest = new Map<string, { ts: number; value: number; quality?: string }>();
    for (const [site, samples] of bySite)
      for (const s of samples)
        for (const [p, value] of Object.entries(s.values)) {
          cell.set(`${site}|${s.device}|${p}|${s.ts}`, value);
          const row = `${site}|${s.device}|${s.ts}`;
          const qs = cellQ.get(row) ?? new Map<string, number>();
          const ql = s.quality?.[p];
          qs.set(p, ql ? CODE[ql] : 0);
          cellQ.set(row, qs);
          const k = `${site}|${s.device}|${p}`;
          const o = latest.get(k);
          if (!o || s.ts >= o.ts) latest.set(k, { ts: s.ts, value, quality: s.quality?.[p] });
        }
    const store = new SqliteTimeSeries({ path: join(dir, 'big.db') });
    try {
      await store.writeSamples([...bySite].map(([site, samples]) => ({ site, samples })));
      const sites = [...bySite.keys()].sort();
      const b = await store.range({ sites, from: T0, to: T0 + 12_000, bucketMs: 1 });
      assert.deepEqual(
        b.map((x) => [`${x.site}|${x.device}|${x.point}|${x.t}`, x.mean, x.count]).sort(),
        [...cell].map(([k, v]) => [k, v, 1]).sort(),
      );
      const raw = new Database(join(dir, 'big.db'), { readonly: true });
      const q = raw
        .prepare(
          'SELECT se.site, se.device, d.ts, d.q FROM device_samples d JOIN series se ON se.id = d.series',
        )
        .all() as { site: string; device: string; ts: number; q: number }[];
      raw.close();
      assert.deepEqual(
        q.map((r) => [`${r.site}|${r.device}|${r.ts}`, r.q]).sort(),
        [...cellQ]
          .map(([k, qs]) => [
            k,
            [...qs].reduce((a, [p, c]) => a + c * 4 ** (POINT_INDEX.get(p) as number), 0),
          ])
          .sort(),
      );
      const got = await store.latestOfSites(sites);
      const flat: [string, number, number, string | undefined][] = [];
      for (const [site, rows] of got)
        for (const l of rows) flat.push([`${site}|${l.device}|${l.point}`, l.ts, l.value, l.quality]);
      assert.deepEqual(flat.sort(), [...latest].map(([k, l]) => [k, l.ts, l.value, l.quality]).sort());
    } finally {
      await store.close();
    }
  });
});
