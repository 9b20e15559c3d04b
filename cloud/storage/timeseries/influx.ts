import { InfluxDB, Point, type QueryApi, type WriteApi } from '@influxdata/influxdb-client';
import type { Quality } from '../../../protocols/canonical/points.ts';
import type {
  Bucket,
  LatestValue,
  PointRow,
  QuarantineQuery,
  QuarantineReason,
  QuarantineRow,
  RangeQuery,
  TimeSeriesStore,
} from './types.ts';

/**
 * InfluxDB backend. Layout: measurement `telemetry`, tags site/device/point, field `value` (float) and
 * field `quality` (string, only when not good). Writes are idempotent (same series + time overwrites).
 *
 * - apiVersion 2 (InfluxDB 2.x/3.x, Cloud): writes and Flux queries through @influxdata/influxdb-client
 *   with org/bucket/token.
 * - apiVersion 1 (InfluxDB 1.x, e.g. Debian's 1.6 which has no /api/v2 endpoints): line protocol built
 *   with the client library's Point, POSTed to /write; InfluxQL over /query.
 */
export type InfluxOptions =
  | {
      apiVersion: 1;
      url: string;
      database: string;
      retentionPolicy?: string;
      username?: string;
      password?: string;
      /** Create the database on start if it does not exist (1.x only; needs admin rights with auth on). */
      createDatabase?: boolean;
      timeoutMs?: number;
    }
  | { apiVersion: 2; url: string; org: string; bucket: string; token: string; timeoutMs?: number };

const MEASUREMENT = 'telemetry';
/**
 * Quarantined values: tags site, reason, key (the row's content digest: makes each row its own series,
 * so a redelivery overwrites itself and two rows never collide; quarantine is rare, so the extra series
 * are few), fields raw/detail/device/point/ts/schema/seq; time = when it was received.
 */
const QUARANTINE = 'quarantine';

export class InfluxTimeSeries implements TimeSeriesStore {
  readonly kind: string;
  private writeApi?: WriteApi;
  private queryApi?: QueryApi;

  private constructor(private opts: InfluxOptions) {
    this.kind = `influxdb-v${opts.apiVersion}`;
    if (opts.apiVersion === 2) {
      const client = new InfluxDB({ url: opts.url, token: opts.token, timeout: opts.timeoutMs ?? 10000 });
      // The ingest pipeline batches already; the client's own batching and retry would hide failures
      // from it, so every write is flushed and awaited.
      this.writeApi = client.getWriteApi(opts.org, opts.bucket, 'ms', { maxRetries: 0, batchSize: 1e9 });
      this.queryApi = client.getQueryApi(opts.org);
    }
  }

  static async open(opts: InfluxOptions): Promise<InfluxTimeSeries> {
    const store = new InfluxTimeSeries(opts);
    if (opts.apiVersion === 1 && opts.createDatabase !== false) {
      await store.influxql(`CREATE DATABASE ${ident(opts.database)}`, 'POST');
    }
    return store;
  }

  async write(rows: PointRow[], quarantine: QuarantineRow[] = []): Promise<void> {
    if (!rows.length && !quarantine.length) return;
    const points = [...rows.map(toPoint), ...quarantine.map(quarantinePoint)];
    if (this.opts.apiVersion === 2) {
      const w = this.writeApi as WriteApi;
      w.writePoints(points);
      await w.flush();
      return;
    }
    const o = this.opts;
    const body = points.map((p) => p.toLineProtocol({ convertTime: (t) => String(t) })).join('\n');
    const qs = new URLSearchParams({ db: o.database, precision: 'ms' });
    if (o.retentionPolicy) qs.set('rp', o.retentionPolicy);
    const res = await fetch(`${o.url}/write?${qs}`, {
      method: 'POST',
      headers: this.authHeaders(),
      body,
      signal: AbortSignal.timeout(o.timeoutMs ?? 10000),
    });
    if (res.status !== 204) throw new Error(`InfluxDB write failed: HTTP ${res.status} ${await res.text()}`);
  }

  async latest(site: string): Promise<LatestValue[]> {
    if (this.opts.apiVersion === 2) {
      const flux = `from(bucket: ${fluxStr(this.opts.bucket)})
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "${MEASUREMENT}" and r._field == "value" and r.site == ${fluxStr(site)})
  |> group(columns: ["device", "point"])
  |> last()`;
      const rows = await (this.queryApi as QueryApi).collectRows<Record<string, unknown>>(flux);
      return rows
        .map((r) => ({
          device: String(r.device),
          point: String(r.point),
          ts: Date.parse(String(r._time)),
          value: Number(r._value),
        }))
        .sort(byDevicePoint);
    }
    const series = await this.influxql(
      // Bounded by now (+ the default skew allowance): a sample from the future stored before ingest
      // refused them must not stay "latest" forever (Flux's range() stops at now by default).
      `SELECT last(value) AS value, quality FROM ${MEASUREMENT} WHERE site = ${str(site)} AND time <= now() + 5m GROUP BY device, point`,
    );
    const out: LatestValue[] = [];
    for (const s of series) {
      const row = s.values[0];
      const col = (name: string) => row[s.columns.indexOf(name)];
      const v: LatestValue = {
        device: s.tags.device,
        point: s.tags.point,
        ts: Number(col('time')),
        value: Number(col('value')),
      };
      const q = col('quality');
      if (typeof q === 'string' && q) v.quality = q as Quality;
      out.push(v);
    }
    return out.sort(byDevicePoint);
  }

  async range(q: RangeQuery): Promise<Bucket[]> {
    if (!q.sites.length) return [];
    const bucketMs = Math.max(1, Math.trunc(q.bucketMs));
    if (this.opts.apiVersion === 2) return this.rangeFlux(q, bucketMs);
    const where = [
      `(${q.sites.map((s) => `site = ${str(s)}`).join(' OR ')})`,
      `time >= ${Math.trunc(q.from)}ms`,
      `time < ${Math.trunc(q.to)}ms`,
    ];
    if (q.devices?.length) where.push(`(${q.devices.map((d) => `device = ${str(d)}`).join(' OR ')})`);
    if (q.points?.length) where.push(`(${q.points.map((p) => `point = ${str(p)}`).join(' OR ')})`);
    const series = await this.influxql(
      `SELECT mean(value), min(value), max(value), count(value) FROM ${MEASUREMENT}
       WHERE ${where.join(' AND ')} GROUP BY time(${bucketMs}ms), site, device, point fill(none)`,
    );
    const out: Bucket[] = [];
    for (const s of series) {
      const i = (n: string) => s.columns.indexOf(n);
      for (const row of s.values) {
        out.push({
          site: s.tags.site,
          device: s.tags.device,
          point: s.tags.point,
          t: Number(row[i('time')]),
          mean: Number(row[i('mean')]),
          min: Number(row[i('min')]),
          max: Number(row[i('max')]),
          count: Number(row[i('count')]),
        });
      }
    }
    return out.sort(byBucket);
  }

  /** Flux: one aggregateWindow per statistic, merged by series and window start. */
  private async rangeFlux(q: RangeQuery, bucketMs: number): Promise<Bucket[]> {
    const o = this.opts as Extract<InfluxOptions, { apiVersion: 2 }>;
    const anyOf = (col: string, vals: string[]) =>
      `(${vals.map((v) => `r.${col} == ${fluxStr(v)}`).join(' or ')})`;
    const filters = [`r._measurement == "${MEASUREMENT}"`, 'r._field == "value"', anyOf('site', q.sites)];
    if (q.devices?.length) filters.push(anyOf('device', q.devices));
    if (q.points?.length) filters.push(anyOf('point', q.points));
    const base = `from(bucket: ${fluxStr(o.bucket)})
  |> range(start: ${new Date(q.from).toISOString()}, stop: ${new Date(q.to).toISOString()})
  |> filter(fn: (r) => ${filters.join(' and ')})
  |> group(columns: ["site", "device", "point"])`;
    const merged = new Map<string, Bucket>();
    for (const fn of ['mean', 'min', 'max', 'count'] as const) {
      const flux = `${base}\n  |> aggregateWindow(every: ${bucketMs}ms, fn: ${fn}, createEmpty: false, timeSrc: "_start")`;
      const rows = await (this.queryApi as QueryApi).collectRows<Record<string, unknown>>(flux);
      for (const r of rows) {
        const t = Date.parse(String(r._time));
        const key = `${r.site}\0${r.device}\0${r.point}\0${t}`;
        let b = merged.get(key);
        if (!b) {
          b = {
            site: String(r.site),
            device: String(r.device),
            point: String(r.point),
            t,
            mean: 0,
            min: 0,
            max: 0,
            count: 0,
          };
          merged.set(key, b);
        }
        b[fn] = Number(r._value);
      }
    }
    return [...merged.values()].sort(byBucket);
  }

  async quarantined(q: QuarantineQuery = {}): Promise<QuarantineRow[]> {
    const limit = Math.max(1, Math.trunc(q.limit ?? 1000));
    if (this.opts.apiVersion === 2) {
      const rows = await (this.queryApi as QueryApi).collectRows<Record<string, unknown>>(
        `${this.quarantineFlux(q)}
  |> pivot(rowKey: ["_time", "site", "reason", "key"], columnKey: ["_field"], valueColumn: "_value")
  |> group() |> sort(columns: ["_time"], desc: true) |> limit(n: ${limit})`,
      );
      return rows.map((r) => fromQuarantineFields({ ...r, time: Date.parse(String(r._time)) }));
    }
    const series = await this.influxql(
      `SELECT * FROM ${QUARANTINE} WHERE ${this.quarantineWhere(q)} ORDER BY time DESC LIMIT ${limit}`,
    );
    const out: QuarantineRow[] = [];
    for (const s of series)
      for (const row of s.values)
        out.push(fromQuarantineFields(Object.fromEntries(s.columns.map((c, i) => [c, row[i]]))));
    return out;
  }

  async quarantineCount(q: Omit<QuarantineQuery, 'limit'> = {}): Promise<number> {
    if (this.opts.apiVersion === 2) {
      const rows = await (this.queryApi as QueryApi).collectRows<Record<string, unknown>>(
        `${this.quarantineFlux(q)}\n  |> filter(fn: (r) => r._field == "raw") |> group() |> count()`,
      );
      return rows.length ? Number(rows[0]._value) : 0;
    }
    const series = await this.influxql(
      `SELECT count(raw) FROM ${QUARANTINE} WHERE ${this.quarantineWhere(q)}`,
    );
    return series.length ? Number(series[0].values[0][series[0].columns.indexOf('count')]) : 0;
  }

  private quarantineWhere(q: QuarantineQuery): string {
    const where = [`time >= ${Math.trunc(q.from ?? 0)}ms`];
    if (q.to !== undefined) where.push(`time < ${Math.trunc(q.to)}ms`);
    if (q.site !== undefined) where.push(`site = ${str(q.site)}`);
    if (q.reason !== undefined) where.push(`reason = ${str(q.reason)}`);
    return where.join(' AND ');
  }

  private quarantineFlux(q: QuarantineQuery): string {
    const o = this.opts as Extract<InfluxOptions, { apiVersion: 2 }>;
    const filters = [`r._measurement == "${QUARANTINE}"`];
    if (q.site !== undefined) filters.push(`r.site == ${fluxStr(q.site)}`);
    if (q.reason !== undefined) filters.push(`r.reason == ${fluxStr(q.reason)}`);
    const stop = q.to !== undefined ? `, stop: ${new Date(q.to).toISOString()}` : '';
    return `from(bucket: ${fluxStr(o.bucket)})
  |> range(start: ${new Date(q.from ?? 0).toISOString()}${stop})
  |> filter(fn: (r) => ${filters.join(' and ')})`;
  }

  async ping(): Promise<boolean> {
    const path = this.opts.apiVersion === 2 ? '/health' : '/ping';
    try {
      const r = await fetch(`${this.opts.url}${path}`, { signal: AbortSignal.timeout(3000) });
      return r.ok;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.writeApi) await this.writeApi.close().catch(() => undefined);
  }

  private authHeaders(): Record<string, string> {
    const o = this.opts;
    if (o.apiVersion === 1 && o.username) {
      return {
        Authorization: `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}`,
      };
    }
    return {};
  }

  /** Runs one InfluxQL statement over the 1.x /query endpoint; returns its series. */
  private async influxql(q: string, method: 'GET' | 'POST' = 'GET'): Promise<InfluxSeries[]> {
    const o = this.opts as Extract<InfluxOptions, { apiVersion: 1 }>;
    const qs = new URLSearchParams({ db: o.database, epoch: 'ms', q });
    if (o.retentionPolicy) qs.set('rp', o.retentionPolicy);
    const res = await fetch(`${o.url}/query?${qs}`, {
      method,
      headers: this.authHeaders(),
      signal: AbortSignal.timeout(o.timeoutMs ?? 10000),
    });
    const body = (await res.json().catch(() => ({}))) as {
      error?: string;
      results?: { error?: string; series?: InfluxSeries[] }[];
    };
    const err = body.error ?? body.results?.[0]?.error;
    if (!res.ok || err) throw new Error(`InfluxDB query failed: HTTP ${res.status} ${err ?? ''}`);
    return (body.results?.[0]?.series ?? []).map((s) => ({ ...s, tags: s.tags ?? {} }));
  }
}

interface InfluxSeries {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

function toPoint(r: PointRow): Point {
  const p = new Point(MEASUREMENT)
    .tag('site', r.site)
    .tag('device', r.device)
    .tag('point', r.point)
    .floatField('value', r.value)
    .timestamp(r.ts);
  if (r.quality && r.quality !== 'good') p.stringField('quality', r.quality);
  return p;
}

function quarantinePoint(r: QuarantineRow): Point {
  const p = new Point(QUARANTINE)
    .tag('site', r.site)
    .tag('reason', r.reason)
    .tag('key', r.key)
    .stringField('raw', r.raw)
    .stringField('detail', r.detail)
    .timestamp(r.receivedMs);
  if (r.device !== undefined) p.stringField('device', r.device);
  if (r.point !== undefined) p.stringField('point', r.point);
  if (r.ts !== undefined) p.intField('ts', r.ts);
  if (r.schema !== undefined) p.intField('schema', r.schema);
  if (r.seq !== undefined) p.intField('seq', r.seq);
  return p;
}

/** A quarantine row from its tags and fields (`time`: epoch ms); missing fields stay absent. */
function fromQuarantineFields(f: Record<string, unknown>): QuarantineRow {
  const has = (k: string) => f[k] !== undefined && f[k] !== null && f[k] !== '';
  const r: QuarantineRow = {
    key: String(f.key),
    site: String(f.site),
    raw: String(f.raw),
    reason: String(f.reason) as QuarantineReason,
    detail: String(f.detail),
    receivedMs: Number(f.time),
  };
  if (has('device')) r.device = String(f.device);
  if (has('point')) r.point = String(f.point);
  if (has('ts')) r.ts = Number(f.ts);
  if (has('schema')) r.schema = Number(f.schema);
  if (has('seq')) r.seq = Number(f.seq);
  return r;
}

/** InfluxQL string literal. */
function str(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
/** InfluxQL identifier. */
function ident(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
function fluxStr(s: string): string {
  return JSON.stringify(s);
}
function byDevicePoint(a: LatestValue, b: LatestValue): number {
  return a.device.localeCompare(b.device) || a.point.localeCompare(b.point);
}
function byBucket(a: Bucket, b: Bucket): number {
  return (
    a.site.localeCompare(b.site) ||
    a.device.localeCompare(b.device) ||
    a.point.localeCompare(b.point) ||
    a.t - b.t
  );
}
