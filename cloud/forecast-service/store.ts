import type { ForecastKind } from '../forecast/index.ts';
import type { SqlDb } from '../storage/registry/db.ts';

export type Subject = 'site' | 'group';

/** One stored forecast of a site or a group (values in W). */
export interface StoredForecast {
  subject: Subject;
  id: string;
  kind: ForecastKind;
  issuedAt: number;
  modelVersion: string;
  start: number;
  stepMs: number;
  mean: number[];
  p10: number[];
  p50: number[];
  p90: number[];
  /** Group: sites whose forecasts were aggregated. */
  members: number | null;
  details: Record<string, unknown>;
}

/** Outcome of the latest attempt for a subject and kind (so the API can say why nothing is there). */
export interface ForecastStatus {
  subject: Subject;
  id: string;
  kind: ForecastKind;
  status: 'ok' | 'insufficient_history' | 'no_data' | 'error';
  reason: string | null;
  at: number;
}

/** Tables of migration 3 (cloud/storage/registry/migrations.ts), in the registry database. */
export class ForecastStore {
  constructor(private readonly db: SqlDb) {}

  async save(f: StoredForecast): Promise<void> {
    const series = JSON.stringify({ mean: f.mean, p10: f.p10, p50: f.p50, p90: f.p90 });
    await this.db.run(
      `INSERT INTO forecasts (subject, subject_id, kind, issued_at, model_version, start_ts, step_ms,
         series, members, details, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (subject, subject_id, kind, issued_at) DO UPDATE SET model_version = excluded.model_version,
         start_ts = excluded.start_ts, step_ms = excluded.step_ms, series = excluded.series,
         members = excluded.members, details = excluded.details, created_at = excluded.created_at`,
      [
        f.subject,
        f.id,
        f.kind,
        f.issuedAt,
        f.modelVersion,
        f.start,
        f.stepMs,
        series,
        f.members,
        JSON.stringify(f.details),
        Date.now(),
      ],
    );
  }

  async latest(subject: Subject, id: string, kind: ForecastKind): Promise<StoredForecast | undefined> {
    const [r] = await this.db.all<Record<string, unknown>>(
      `SELECT * FROM forecasts WHERE subject = ? AND subject_id = ? AND kind = ?
       ORDER BY issued_at DESC LIMIT 1`,
      [subject, id, kind],
    );
    if (!r) return undefined;
    const s = JSON.parse(String(r.series)) as Pick<StoredForecast, 'mean' | 'p10' | 'p50' | 'p90'>;
    return {
      subject,
      id,
      kind,
      issuedAt: Number(r.issued_at),
      modelVersion: String(r.model_version),
      start: Number(r.start_ts),
      stepMs: Number(r.step_ms),
      ...s,
      members: r.members === null ? null : Number(r.members),
      details: r.details ? JSON.parse(String(r.details)) : {},
    };
  }

  async setStatus(s: ForecastStatus): Promise<void> {
    await this.db.run(
      `INSERT INTO forecast_status (subject, subject_id, kind, status, reason, at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (subject, subject_id, kind) DO UPDATE SET status = excluded.status,
         reason = excluded.reason, at = excluded.at`,
      [s.subject, s.id, s.kind, s.status, s.reason, s.at],
    );
  }

  async status(subject: Subject, id: string, kind: ForecastKind): Promise<ForecastStatus | undefined> {
    const [r] = await this.db.all<Record<string, unknown>>(
      'SELECT * FROM forecast_status WHERE subject = ? AND subject_id = ? AND kind = ?',
      [subject, id, kind],
    );
    return r
      ? {
          subject,
          id,
          kind,
          status: r.status as ForecastStatus['status'],
          reason: (r.reason as string | null) ?? null,
          at: Number(r.at),
        }
      : undefined;
  }

  /** Deletes forecasts issued before `t`; returns how many. */
  async prune(t: number): Promise<number> {
    return this.db.run('DELETE FROM forecasts WHERE issued_at < ?', [t]);
  }
}
