import { emptySums, type ForecastKind, type ScoreSums } from '../forecast/index.ts';
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

/** A stored forecast's score (migration 9): additive sums, so windows aggregate by summing rows. */
export interface StoredScore {
  subject: Subject;
  id: string;
  kind: ForecastKind;
  issuedAt: number;
  /** The model scored: the one the forecast came from, also when a baseline was served instead. */
  modelVersion: string;
  /** What was served: 'model', or the baseline served in its place. */
  served: 'model' | 'persistence_1d' | 'persistence_7d';
  sums: ScoreSums;
}

/** Score sums of one model version (and what was served) over a window. */
export interface ScoreGroup {
  modelVersion: string;
  served: StoredScore['served'];
  forecasts: number;
  firstIssue: number;
  lastIssue: number;
  sums: ScoreSums;
}

/** ScoreSums field → forecast_scores column. */
const SCORE_COLUMNS: [keyof ScoreSums, string][] = [
  ['n', 'n'],
  ['absObs', 'abs_obs'],
  ['absErr', 'abs_err'],
  ['sqErr', 'sq_err'],
  ['absErr1d', 'abs_err_1d'],
  ['sqErr1d', 'sq_err_1d'],
  ['absErr7d', 'abs_err_7d'],
  ['sqErr7d', 'sq_err_7d'],
  ['pin10', 'pin10'],
  ['pin50', 'pin50'],
  ['pin90', 'pin90'],
  ['below10', 'below10'],
  ['below50', 'below50'],
  ['below90', 'below90'],
  ['inBand', 'in_band'],
];

const rowToForecast = (r: Record<string, unknown>): StoredForecast => {
  const s = JSON.parse(String(r.series)) as Pick<StoredForecast, 'mean' | 'p10' | 'p50' | 'p90'>;
  return {
    subject: r.subject as Subject,
    id: String(r.subject_id),
    kind: r.kind as ForecastKind,
    issuedAt: Number(r.issued_at),
    modelVersion: String(r.model_version),
    start: Number(r.start_ts),
    stepMs: Number(r.step_ms),
    ...s,
    members: r.members === null ? null : Number(r.members),
    details: r.details ? JSON.parse(String(r.details)) : {},
  };
};

/** Tables of migrations 3 and 8 (cloud/storage/registry/migrations.ts), in the registry database. */
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
    return r ? rowToForecast(r) : undefined;
  }

  /** The `limit` latest forecasts issued at or before `t`, newest first. */
  async recent(
    subject: Subject,
    id: string,
    kind: ForecastKind,
    t: number,
    limit: number,
  ): Promise<StoredForecast[]> {
    const rows = await this.db.all<Record<string, unknown>>(
      `SELECT * FROM forecasts WHERE subject = ? AND subject_id = ? AND kind = ? AND issued_at <= ?
       ORDER BY issued_at DESC LIMIT ?`,
      [subject, id, kind, t, limit],
    );
    return rows.map(rowToForecast);
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

  /**
   * Forecasts of a subject not yet scored whose last interval has ended by `now`, oldest first
   * (issued within the last `lookbackMs`: older ones lack the history to score them).
   */
  async dueForScoring(
    subject: Subject,
    id: string,
    kind: ForecastKind,
    now: number,
    lookbackMs: number,
  ): Promise<StoredForecast[]> {
    const rows = await this.db.all<Record<string, unknown>>(
      `SELECT f.* FROM forecasts f LEFT JOIN forecast_scores s ON s.subject = f.subject
         AND s.subject_id = f.subject_id AND s.kind = f.kind AND s.issued_at = f.issued_at
       WHERE f.subject = ? AND f.subject_id = ? AND f.kind = ? AND f.issued_at >= ? AND f.start_ts < ?
         AND s.issued_at IS NULL
       ORDER BY f.issued_at`,
      [subject, id, kind, now - lookbackMs, now],
    );
    return rows.map(rowToForecast).filter((f) => f.start + f.p50.length * f.stepMs <= now);
  }

  async saveScore(s: StoredScore): Promise<void> {
    const cols = SCORE_COLUMNS.map(([, c]) => c);
    await this.db.run(
      `INSERT INTO forecast_scores (subject, subject_id, kind, issued_at, model_version, served,
         ${cols.join(', ')}, scored_at)
       VALUES (?, ?, ?, ?, ?, ?, ${cols.map(() => '?').join(', ')}, ?)
       ON CONFLICT (subject, subject_id, kind, issued_at) DO NOTHING`,
      [
        s.subject,
        s.id,
        s.kind,
        s.issuedAt,
        s.modelVersion,
        s.served,
        ...SCORE_COLUMNS.map(([k]) => s.sums[k]),
        Date.now(),
      ],
    );
  }

  /** Summed scores of forecasts issued in [from, to), per model version and what was served. */
  async scoreGroups(
    subject: Subject,
    id: string,
    kind: ForecastKind,
    from: number,
    to: number,
  ): Promise<ScoreGroup[]> {
    const rows = await this.db.all<Record<string, unknown>>(
      `SELECT model_version, served, COUNT(*) AS forecasts, MIN(issued_at) AS first_issue,
         MAX(issued_at) AS last_issue, ${SCORE_COLUMNS.map(([, c]) => `SUM(${c}) AS ${c}`).join(', ')}
       FROM forecast_scores WHERE subject = ? AND subject_id = ? AND kind = ? AND issued_at >= ? AND issued_at < ?
       GROUP BY model_version, served ORDER BY model_version, served`,
      [subject, id, kind, from, to],
    );
    return rows.map((r) => {
      const sums = emptySums();
      for (const [k, c] of SCORE_COLUMNS) sums[k] = Number(r[c]);
      return {
        modelVersion: String(r.model_version),
        served: r.served as StoredScore['served'],
        forecasts: Number(r.forecasts),
        firstIssue: Number(r.first_issue),
        lastIssue: Number(r.last_issue),
        sums,
      };
    });
  }

  /** Deletes scores of forecasts issued before `t`; returns how many. */
  async pruneScores(t: number): Promise<number> {
    return this.db.run('DELETE FROM forecast_scores WHERE issued_at < ?', [t]);
  }

  /** Deletes forecasts issued before `t`; returns how many. */
  async prune(t: number): Promise<number> {
    return this.db.run('DELETE FROM forecasts WHERE issued_at < ?', [t]);
  }
}
