import type Database from 'better-sqlite3';
import type { Quality } from '../../../protocols/canonical/points.ts';
import { type EncodedBatch, STRIDE } from './sqlite-batch.ts';
import { column, POINTS, qualityAt, qualityBits, qualityCode } from './sqlite-layout.ts';

/** The newest value of one (series, point) within one write. */
interface Newest {
  series: number;
  point: string;
  ts: number;
  value: number;
  quality: Quality | undefined;
}

const N = POINTS.length;
/** Latest-value rows per upsert statement (keys within one write are distinct, so order is free). */
const LATEST_CHUNK = 32;
/** Device-sample rows per insert statement (rows run in order, so a repeated (series, ts) merges as before). */
const SAMPLE_CHUNK = 16;

/**
 * Applies encoded writes to the layout of sqlite-layout.ts, one transaction (one group commit) per
 * write. Runs on the writer thread (sqlite-writer-worker.ts), or inline for ':memory:'.
 */
export class SqliteWriter {
  private seriesIds = new Map<string, number>();
  private insertSeries: Database.Statement;
  private selectSeries: Database.Statement;
  private insertSample: Database.Statement;
  /** SAMPLE_CHUNK rows per statement. */
  private insertSamples: Database.Statement;
  private insertPoint: Database.Statement;
  private upsertLatest: Database.Statement;
  /** LATEST_CHUNK rows per statement: one call into SQLite instead of one per (series, point). */
  private upsertLatestMany: Database.Statement;
  private latestParams: (number | string | null)[] = new Array(LATEST_CHUNK * 5).fill(null);
  private insertQuarantine: Database.Statement;
  // SAMPLE_CHUNK rows of [series, ts, ...values, q]
  private params: (number | null)[] = new Array(SAMPLE_CHUNK * (N + 3)).fill(null);
  readonly apply: (batch: EncodedBatch) => void;

  constructor(db: Database.Database) {
    const cols = POINTS.map((_, i) => column(i));
    // A statement of several rows keeps a statement journal (to undo just that statement on an error):
    // in memory, not a temp file written on every statement.
    db.pragma('temp_store = MEMORY');
    this.insertSeries = db.prepare('INSERT OR IGNORE INTO series (site, device) VALUES (?, ?)');
    this.selectSeries = db.prepare('SELECT id FROM series WHERE site = ? AND device = ?').pluck();
    // (series, ts) already stored (a redelivery, or several messages of one instant): the new values
    // and their qualities replace the old ones point by point (the mask of the points present comes
    // from the new row's non-NULL columns, so a statement may carry several rows).
    const mask = cols.map((c, i) => `(CASE WHEN excluded.${c} IS NULL THEN 0 ELSE ${qualityBits(3, i)} END)`);
    const samples = (rows: number) =>
      db.prepare(
        `INSERT INTO device_samples (series, ts, ${cols.join(', ')}, q)
         VALUES ${Array(rows)
           .fill(
             `(${Array(N + 3)
               .fill('?')
               .join(', ')})`,
           )
           .join(', ')}
         ON CONFLICT (series, ts) DO UPDATE SET
           ${cols.map((c) => `${c} = coalesce(excluded.${c}, ${c})`).join(', ')},
           q = (q & ~(${mask.join(' + ')})) | excluded.q`,
      );
    this.insertSample = samples(1);
    this.insertSamples = samples(SAMPLE_CHUNK);
    this.insertPoint = db.prepare(
      'INSERT OR REPLACE INTO point_samples (series, point, ts, value, quality) VALUES (?, ?, ?, ?, ?)',
    );
    const latest = (rows: number) =>
      db.prepare(
        `INSERT INTO latest_values (series, point, ts, value, quality)
         VALUES ${Array(rows).fill('(?, ?, ?, ?, ?)').join(', ')}
         ON CONFLICT (series, point) DO UPDATE SET ts = excluded.ts, value = excluded.value, quality = excluded.quality
         WHERE excluded.ts >= latest_values.ts`,
      );
    this.upsertLatest = latest(1);
    this.upsertLatestMany = latest(LATEST_CHUNK);
    this.insertQuarantine = db.prepare(
      `INSERT OR IGNORE INTO quarantine (key, received_ms, site, device, point, ts, raw, reason, detail, schema, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.apply = db.transaction((batch: EncodedBatch) => this.write(batch));
  }

  private write({ keys, data, extra, quarantine }: EncodedBatch) {
    for (const r of quarantine ?? [])
      this.insertQuarantine.run(
        r.key,
        r.receivedMs,
        r.site,
        r.device ?? null,
        r.point ?? null,
        r.ts ?? null,
        r.raw,
        r.reason,
        r.detail,
        r.schema ?? null,
        r.seq ?? null,
      );
    const ids = keys.map((k) => this.seriesId(k));
    // Only each series' newest value can change `latest` (ties: the later one, as row-by-row
    // upserts with `>=` would leave it). Keyed series × N + point index; other points by string.
    const newest = new Map<number | string, Newest>();
    const seen = (
      series: number,
      key: number | string,
      point: string,
      ts: number,
      value: number,
      q?: Quality,
    ) => {
      const o = newest.get(key);
      if (!o) newest.set(key, { series, point, ts, value, quality: q });
      else if (ts >= o.ts) {
        o.ts = ts;
        o.value = value;
        o.quality = q;
      }
    };
    const p = this.params;
    const W = N + 3;
    // Rows go out SAMPLE_CHUNK at a time; what is left at the end, one by one (same order).
    let r = 0;
    for (let o = 0; o < data.length; o += STRIDE) {
      const series = ids[data[o]];
      const ts = data[o + 1];
      const q = data[o + 2];
      const b = r * W;
      let present = false;
      for (let i = 0; i < N; i++) {
        const v = data[o + 3 + i];
        if (!Number.isNaN(v)) {
          p[b + 2 + i] = v;
          present = true;
          seen(series, series * N + i, POINTS[i], ts, v, qualityAt(q, i));
        } else p[b + 2 + i] = null;
      }
      if (!present) continue;
      p[b] = series;
      p[b + 1] = ts;
      p[b + N + 2] = q;
      if (++r === SAMPLE_CHUNK) {
        this.insertSamples.run(p);
        r = 0;
      }
    }
    for (let i = 0; i < r; i++) this.insertSample.run(p.slice(i * W, (i + 1) * W));
    for (const e of extra) {
      const series = ids[e.key];
      const quality = qualityCode(e.quality) ? (e.quality as Quality) : null;
      this.insertPoint.run(series, e.point, e.ts, e.value, quality);
      seen(series, `${series}\0${e.point}`, e.point, e.ts, e.value, quality ?? undefined);
    }
    const lp = this.latestParams;
    const chunked = newest.size - (newest.size % LATEST_CHUNK);
    let k = 0;
    for (const n of newest.values()) {
      if (k >= chunked) this.upsertLatest.run(n.series, n.point, n.ts, n.value, n.quality ?? null);
      else {
        const o = (k % LATEST_CHUNK) * 5;
        lp[o] = n.series;
        lp[o + 1] = n.point;
        lp[o + 2] = n.ts;
        lp[o + 3] = n.value;
        lp[o + 4] = n.quality ?? null;
        if (k % LATEST_CHUNK === LATEST_CHUNK - 1) this.upsertLatestMany.run(lp);
      }
      k++;
    }
  }

  private seriesId(key: string): number {
    let id = this.seriesIds.get(key);
    if (id === undefined) {
      const [site, device] = key.split('\0');
      this.insertSeries.run(site, device);
      id = this.selectSeries.get(site, device) as number;
      this.seriesIds.set(key, id);
    }
    return id;
  }
}
