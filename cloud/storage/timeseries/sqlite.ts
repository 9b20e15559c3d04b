import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { type EncodedBatch, encodeRows, encodeSamples } from './sqlite-batch.ts';
import { column, ensureLayout, POINT_INDEX, POINTS, repairFutureLatest } from './sqlite-layout.ts';
import { SqliteWriter } from './sqlite-writer.ts';
import type {
  Bucket,
  LatestValue,
  PointRow,
  QuarantineQuery,
  QuarantineRow,
  RangeQuery,
  SiteSamples,
  TimeSeriesStore,
} from './types.ts';

export interface SqliteTimeSeriesOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** full: fsync on every commit (acknowledged = on disk); normal: survives a process crash, not power loss. */
  synchronous?: 'full' | 'normal';
  /** A latest value dated later than now + this is repaired on open (default 5 min). */
  maxFutureMs?: number;
}

type Pending = { resolve: () => void; reject: (err: Error) => void };

/**
 * Embedded time-series store: one SQLite file (WAL) in the layout of sqlite-layout.ts — one row per
 * device sample with a column per canonical point, plus a `latest_values` table kept up to date in the
 * same transaction so "latest values" never scans history.
 *
 * Writes go to a writer thread (sqlite-writer-worker.ts) with its own connection: write() resolves once
 * that thread has committed (with synchronous=full: fsynced), and the main thread, which also runs the
 * broker, is not blocked meanwhile. Reads use the main thread's connection (WAL: they never wait for
 * the writer). ':memory:' writes inline.
 */
export class SqliteTimeSeries implements TimeSeriesStore {
  readonly kind = 'sqlite';
  private db: Database.Database;
  private inline?: SqliteWriter;
  private worker?: Worker;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private opts: SqliteTimeSeriesOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    ensureLayout(this.db);
    // A "latest" dated in the future (stored before ingest refused such samples) is repaired on open.
    repairFutureLatest(this.db, Date.now() + (opts.maxFutureMs ?? 5 * 60_000));
    if (opts.path === ':memory:') this.inline = new SqliteWriter(this.db);
  }

  async write(rows: PointRow[], quarantine?: QuarantineRow[]): Promise<void> {
    if (rows.length || quarantine?.length) await this.send({ ...encodeRows(rows), quarantine });
  }

  async writeSamples(batches: SiteSamples[], quarantine?: QuarantineRow[]): Promise<void> {
    if (batches.length || quarantine?.length) await this.send({ ...encodeSamples(batches), quarantine });
  }

  private quarantineWhere(q: QuarantineQuery): { sql: string; params: (string | number)[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (sql: string, v: string | number | undefined) => {
      if (v === undefined) return;
      where.push(sql);
      params.push(v);
    };
    add('site = ?', q.site);
    add('reason = ?', q.reason);
    add('received_ms >= ?', q.from);
    add('received_ms < ?', q.to);
    return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
  }

  async quarantined(q: QuarantineQuery = {}): Promise<QuarantineRow[]> {
    const { sql, params } = this.quarantineWhere(q);
    const rows = this.db
      .prepare(
        `SELECT key, site, device, point, ts, raw, reason, detail, schema, seq, received_ms AS receivedMs
         FROM quarantine ${sql} ORDER BY received_ms DESC, key LIMIT ?`,
      )
      .all(...params, q.limit ?? 1000) as Record<string, unknown>[];
    // NULL columns are absent fields.
    return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)) as never);
  }

  async quarantineCount(q: Omit<QuarantineQuery, 'limit'> = {}): Promise<number> {
    const { sql, params } = this.quarantineWhere(q);
    return this.db
      .prepare(`SELECT count(*) FROM quarantine ${sql}`)
      .pluck()
      .get(...params) as number;
  }

  private send(batch: EncodedBatch): Promise<void> {
    if (this.closed) return Promise.reject(new Error('time-series store is closed'));
    if (this.inline) {
      this.inline.apply(batch);
      return Promise.resolve();
    }
    const worker = this.worker ?? this.startWorker();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, batch }, [batch.data.buffer as ArrayBuffer]);
    });
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('./sqlite-writer-boot.js', import.meta.url), {
      workerData: {
        path: this.opts.path,
        synchronous: this.opts.synchronous === 'normal' ? 'NORMAL' : 'FULL',
      },
    });
    this.worker = worker;
    worker.unref(); // referenced only while a write is pending
    worker.on('message', (m: { id?: number; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error) p.reject(new Error(m.error));
      else p.resolve();
    });
    const fail = (err: Error) => {
      // The writer died: fail what it held (ingest retries), start a new one on the next write.
      if (this.worker === worker) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`time-series writer exited (${code})`)));
    return worker;
  }

  async latest(site: string): Promise<LatestValue[]> {
    const rows = this.db
      .prepare(
        `SELECT se.device, l.point, l.ts, l.value, l.quality FROM latest_values l
         JOIN series se ON se.id = l.series WHERE se.site = ? ORDER BY se.device, l.point`,
      )
      .all(site) as (LatestValue & { quality: string | null })[];
    return rows.map((r) => stripNullQuality(r));
  }

  async latestOfSites(sites: readonly string[]): Promise<Map<string, LatestValue[]>> {
    const out = new Map<string, LatestValue[]>();
    const distinct = [...new Set(sites)];
    for (let i = 0; i < distinct.length; i += 500) {
      const chunk = distinct.slice(i, i + 500);
      const rows = this.db
        .prepare(
          `SELECT se.site, se.device, l.point, l.ts, l.value, l.quality FROM latest_values l
           JOIN series se ON se.id = l.series WHERE se.site IN (${chunk.map(() => '?').join(',')})
           ORDER BY se.site, se.device, l.point`,
        )
        .all(...chunk) as (LatestValue & { site: string; quality: string | null })[];
      for (const { site, ...r } of rows) {
        const list = out.get(site);
        const v = stripNullQuality(r);
        if (list) list.push(v);
        else out.set(site, [v]);
      }
    }
    return out;
  }

  async range(q: RangeQuery): Promise<Bucket[]> {
    if (!q.sites.length) return [];
    const where = [`site IN (${q.sites.map(() => '?').join(',')})`];
    const params: string[] = [...q.sites];
    if (q.devices?.length) {
      where.push(`device IN (${q.devices.map(() => '?').join(',')})`);
      params.push(...q.devices);
    }
    const series = this.db
      .prepare(`SELECT id, site, device FROM series WHERE ${where.join(' AND ')}`)
      .all(...params) as { id: number; site: string; device: string }[];
    if (!series.length) return [];
    const byId = new Map(series.map((s) => [s.id, s]));
    const ids = series.map((s) => s.id).join(',');
    const wanted = q.points?.length ? q.points : undefined;
    const canonical = (wanted ?? POINTS).filter((p) => POINT_INDEX.has(p));
    const others = wanted ? wanted.filter((p) => !POINT_INDEX.has(p)) : undefined;
    const b = Math.max(1, Math.trunc(q.bucketMs));
    const out: Bucket[] = [];

    if (canonical.length) {
      const cols = canonical.map((p) => column(POINT_INDEX.get(p) as number));
      const rows = this.db
        .prepare(
          `SELECT series, (ts / ${b}) * ${b} AS t,
             ${cols.map((c) => `count(${c}), avg(${c}), min(${c}), max(${c})`).join(', ')}
           FROM device_samples WHERE series IN (${ids}) AND ts >= ? AND ts < ?
           GROUP BY series, t`,
        )
        .raw()
        .all(q.from, q.to) as number[][];
      for (const r of rows) {
        const s = byId.get(r[0]) as { site: string; device: string };
        canonical.forEach((point, k) => {
          const count = r[2 + 4 * k];
          if (count)
            out.push({
              site: s.site,
              device: s.device,
              point,
              t: r[1],
              mean: r[3 + 4 * k],
              min: r[4 + 4 * k],
              max: r[5 + 4 * k],
              count,
            });
        });
      }
    }
    if (!others || others.length) {
      const pointFilter = others ? ` AND point IN (${others.map(() => '?').join(',')})` : '';
      const rows = this.db
        .prepare(
          `SELECT series, point, (ts / ${b}) * ${b} AS t, avg(value) AS mean, min(value) AS min,
             max(value) AS max, count(*) AS count
           FROM point_samples WHERE series IN (${ids}) AND ts >= ? AND ts < ?${pointFilter}
           GROUP BY series, point, t`,
        )
        .all(q.from, q.to, ...(others ?? [])) as (Omit<Bucket, 'site' | 'device'> & { series: number })[];
      for (const { series: id, ...r } of rows) {
        const s = byId.get(id) as { site: string; device: string };
        out.push({ site: s.site, device: s.device, ...r });
      }
    }
    // Same order as one GROUP BY site, device, point, t would give (binary string order).
    const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    return out.sort(
      (x, y) => cmp(x.site, y.site) || cmp(x.device, y.device) || cmp(x.point, y.point) || x.t - y.t,
    );
  }

  async ping(): Promise<boolean> {
    return this.db.open;
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (worker) {
      // Queued writes are applied first (messages are handled in order), then the writer closes.
      worker.ref();
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      worker.postMessage({ close: true });
      await exited;
    }
    if (this.db.open) this.db.close();
  }
}

function stripNullQuality(r: LatestValue & { quality: string | null }): LatestValue {
  const { quality, ...rest } = r;
  return quality ? { ...rest, quality: quality as LatestValue['quality'] } : rest;
}
