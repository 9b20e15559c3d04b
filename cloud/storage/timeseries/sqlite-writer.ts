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

/**
 * Applies encoded writes to the layout of sqlite-layout.ts, one transaction (one group commit) per
 * write. Runs on the writer thread (sqlite-writer-worker.ts), or inline for ':memory:'.
 */
export class SqliteWriter {
  private seriesIds = new Map<string, number>();
  private insertSeries: Database.Statement;
  private selectSeries: Database.Statement;
  private insertSample: Database.Statement;
  private insertPoint: Database.Statement;
  private upsertLatest: Database.Statement;
  private insertQuarantine: Database.Statement;
  // [series, ts, ...values, q, mask of the points present (2 bits each)]
  private params: (number | null)[] = new Array(N + 4).fill(null);
  readonly apply: (batch: EncodedBatch) => void;

  constructor(db: Database.Database) {
    const cols = POINTS.map((_, i) => column(i));
    this.insertSeries = db.prepare('INSERT OR IGNORE INTO series (site, device) VALUES (?, ?)');
    this.selectSeries = db.prepare('SELECT id FROM series WHERE site = ? AND device = ?').pluck();
    // (series, ts) already stored (a redelivery, or several messages of one instant): the new values
    // and their qualities replace the old ones point by point; the last parameter masks the new points.
    this.insertSample = db.prepare(
      `INSERT INTO device_samples (series, ts, ${cols.join(', ')}, q)
       VALUES (${Array(N + 3)
         .fill('?')
         .join(', ')})
       ON CONFLICT (series, ts) DO UPDATE SET
         ${cols.map((c) => `${c} = coalesce(excluded.${c}, ${c})`).join(', ')},
         q = (q & ~?) | excluded.q`,
    );
    this.insertPoint = db.prepare(
      'INSERT OR REPLACE INTO point_samples (series, point, ts, value, quality) VALUES (?, ?, ?, ?, ?)',
    );
    this.upsertLatest = db.prepare(
      `INSERT INTO latest_values (series, point, ts, value, quality) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (series, point) DO UPDATE SET ts = excluded.ts, value = excluded.value, quality = excluded.quality
       WHERE excluded.ts >= latest_values.ts`,
    );
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
    for (let o = 0; o < data.length; o += STRIDE) {
      const series = ids[data[o]];
      const ts = data[o + 1];
      const q = data[o + 2];
      let mask = 0;
      for (let i = 0; i < N; i++) {
        const v = data[o + 3 + i];
        if (!Number.isNaN(v)) {
          p[2 + i] = v;
          mask += qualityBits(3, i);
          seen(series, series * N + i, POINTS[i], ts, v, qualityAt(q, i));
        } else p[2 + i] = null;
      }
      if (!mask) continue;
      p[0] = series;
      p[1] = ts;
      p[N + 2] = q;
      p[N + 3] = mask;
      this.insertSample.run(p);
    }
    for (const e of extra) {
      const series = ids[e.key];
      const quality = qualityCode(e.quality) ? (e.quality as Quality) : null;
      this.insertPoint.run(series, e.point, e.ts, e.value, quality);
      seen(series, `${series}\0${e.point}`, e.point, e.ts, e.value, quality ?? undefined);
    }
    for (const n of newest.values())
      this.upsertLatest.run(n.series, n.point, n.ts, n.value, n.quality ?? null);
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
