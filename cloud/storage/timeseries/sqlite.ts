import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Bucket, LatestValue, PointRow, RangeQuery, TimeSeriesStore } from './types.ts';

export interface SqliteTimeSeriesOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** full: fsync on every commit (acknowledged = on disk); normal: survives a process crash, not power loss. */
  synchronous?: 'full' | 'normal';
}

/**
 * Embedded time-series store: one SQLite file (WAL), one row per point value, plus a `latest` table kept
 * up to date in the same transaction so "latest values" never scans history.
 */
export class SqliteTimeSeries implements TimeSeriesStore {
  readonly kind = 'sqlite';
  private db: Database.Database;
  private insertSample: Database.Statement;
  private upsertLatest: Database.Statement;
  private writeTx: (rows: PointRow[]) => void;

  constructor(opts: SqliteTimeSeriesOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS samples (
        site TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL,
        value REAL NOT NULL, quality TEXT,
        PRIMARY KEY (site, device, point, ts)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS latest (
        site TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL,
        value REAL NOT NULL, quality TEXT,
        PRIMARY KEY (site, device, point)
      ) WITHOUT ROWID;
    `);
    this.insertSample = this.db.prepare(
      'INSERT OR REPLACE INTO samples (site, device, point, ts, value, quality) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.upsertLatest = this.db.prepare(
      `INSERT INTO latest (site, device, point, ts, value, quality) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (site, device, point) DO UPDATE SET ts = excluded.ts, value = excluded.value, quality = excluded.quality
       WHERE excluded.ts >= latest.ts`,
    );
    this.writeTx = this.db.transaction((rows: PointRow[]) => {
      // A group commit holds many messages per series: only each series' newest row can change
      // `latest` (ties: the last one, as row-by-row upserts with `>=` would leave it).
      const newest = new Map<string, PointRow>();
      for (const r of rows) {
        this.insertSample.run(r.site, r.device, r.point, r.ts, r.value, r.quality ?? null);
        const k = `${r.site}\0${r.device}\0${r.point}`;
        const o = newest.get(k);
        if (!o || r.ts >= o.ts) newest.set(k, r);
      }
      for (const r of newest.values())
        this.upsertLatest.run(r.site, r.device, r.point, r.ts, r.value, r.quality ?? null);
    });
  }

  async write(rows: PointRow[]): Promise<void> {
    if (rows.length) this.writeTx(rows);
  }

  async latest(site: string): Promise<LatestValue[]> {
    const rows = this.db
      .prepare('SELECT device, point, ts, value, quality FROM latest WHERE site = ? ORDER BY device, point')
      .all(site) as (LatestValue & { quality: string | null })[];
    return rows.map((r) => stripNullQuality(r));
  }

  async range(q: RangeQuery): Promise<Bucket[]> {
    if (!q.sites.length) return [];
    const where = [`site IN (${q.sites.map(() => '?').join(',')})`, 'ts >= ?', 'ts < ?'];
    const params: (string | number)[] = [...q.sites, q.from, q.to];
    if (q.devices?.length) {
      where.push(`device IN (${q.devices.map(() => '?').join(',')})`);
      params.push(...q.devices);
    }
    if (q.points?.length) {
      where.push(`point IN (${q.points.map(() => '?').join(',')})`);
      params.push(...q.points);
    }
    const b = Math.max(1, Math.trunc(q.bucketMs));
    return this.db
      .prepare(
        `SELECT site, device, point, (ts / ${b}) * ${b} AS t, avg(value) AS mean, min(value) AS min,
                max(value) AS max, count(*) AS count
         FROM samples WHERE ${where.join(' AND ')}
         GROUP BY site, device, point, t ORDER BY site, device, point, t`,
      )
      .all(...params) as Bucket[];
  }

  async ping(): Promise<boolean> {
    return this.db.open;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function stripNullQuality(r: LatestValue & { quality: string | null }): LatestValue {
  const { quality, ...rest } = r;
  return quality ? { ...rest, quality: quality as LatestValue['quality'] } : rest;
}
