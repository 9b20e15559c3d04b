/**
 * What the cloud makes of stored forecast scores: per-model metrics over a window, the verdict on
 * whether a site's model is doing worse than persistence, and the baseline forecast served then.
 */
import {
  addSums,
  type Baseline,
  emptySums,
  type Forecast,
  persistenceForecast,
  type RegularSeries,
  type ScoreMetrics,
  scoreMetrics,
} from '../forecast/index.ts';
import type { ScoreGroup, StoredScore } from './store.ts';

export interface ModelScores {
  modelVersion: string;
  forecasts: number;
  firstIssue: number;
  lastIssue: number;
  /** How many of its forecasts were served as made, and how many replaced by a baseline. */
  served: Record<StoredScore['served'], number>;
  /** null when none of its intervals could be scored (no actuals or baselines yet). */
  metrics: ScoreMetrics | null;
}

export interface Assessment {
  /** The model version judged (null: nothing scored yet). */
  modelVersion: string | null;
  windowDays: number;
  intervals: number;
  minIntervals: number;
  /** Skill against the better persistence baseline (null: nothing scored). */
  skill: number | null;
  betterBaseline: Baseline | null;
  /** Worse than the better baseline on at least minIntervals scored intervals. */
  flagged: boolean;
  reason: string;
}

export interface ScoreReport {
  subject: 'site' | 'group';
  id: string;
  kind: 'load' | 'pv';
  windowDays: number;
  from: number;
  to: number;
  models: ModelScores[];
  assessment: Assessment;
}

/** Per model version, merged over what was served. */
export function scoreReport(groups: ScoreGroup[]): ModelScores[] {
  const byModel = new Map<string, ModelScores & { sums: ReturnType<typeof emptySums> }>();
  for (const g of groups) {
    let m = byModel.get(g.modelVersion);
    if (!m) {
      m = {
        modelVersion: g.modelVersion,
        forecasts: 0,
        firstIssue: g.firstIssue,
        lastIssue: g.lastIssue,
        served: { model: 0, persistence_1d: 0, persistence_7d: 0 },
        metrics: null,
        sums: emptySums(),
      };
      byModel.set(g.modelVersion, m);
    }
    m.forecasts += g.forecasts;
    m.firstIssue = Math.min(m.firstIssue, g.firstIssue);
    m.lastIssue = Math.max(m.lastIssue, g.lastIssue);
    m.served[g.served] += g.forecasts;
    addSums(m.sums, g.sums);
  }
  return [...byModel.values()]
    .map(({ sums, ...m }) => ({ ...m, metrics: scoreMetrics(sums) ?? null }))
    .sort((a, b) => b.lastIssue - a.lastIssue);
}

/** Verdict on `modelVersion` (default: the most recently scored version) over the groups' window. */
export function assess(
  groups: ScoreGroup[],
  modelVersion: string | undefined,
  windowDays: number,
  minIntervals: number,
): Assessment {
  const models = scoreReport(groups);
  const m = modelVersion ? models.find((x) => x.modelVersion === modelVersion) : models[0];
  const base = { windowDays, minIntervals };
  if (!m?.metrics)
    return {
      ...base,
      modelVersion: m?.modelVersion ?? modelVersion ?? null,
      intervals: 0,
      skill: null,
      betterBaseline: null,
      flagged: false,
      reason: 'no scored forecast in the window yet',
    };
  const { intervals, skill, better_baseline: better } = m.metrics;
  const enough = intervals >= minIntervals;
  const flagged = enough && skill < 0;
  return {
    ...base,
    modelVersion: m.modelVersion,
    intervals,
    skill,
    betterBaseline: better,
    flagged,
    reason: !enough
      ? `only ${intervals} scored interval(s) in the window (need ${minIntervals})`
      : flagged
        ? `worse than ${better} (skill ${skill.toFixed(3)})`
        : `better than ${better} (skill ${skill.toFixed(3)})`,
  };
}

/**
 * The better baseline in place of a flagged model's forecast. The model's band width is kept
 * around the baseline (its spread is the best uncertainty estimate at hand) and the model's own
 * forecast goes into details.model, so it is still scored and the fallback ends once it is better.
 * Where history has a gap the model's value stays.
 */
export function fallbackForecast(
  f: Forecast,
  history: RegularSeries,
  timeZone: string,
  verdict: Assessment,
): Forecast {
  const baseline = verdict.betterBaseline as Baseline;
  const base = persistenceForecast(history, f.issuedAt, f.stepMs, f.p50.length, timeZone, baseline);
  const lower = f.kind === 'pv' ? 0 : Number.NEGATIVE_INFINITY;
  const clip = (x: number) => Math.max(lower, x);
  const p50 = base.map((v, j) => (Number.isFinite(v) ? v : f.p50[j]));
  return {
    ...f,
    modelVersion: baseline === 'persistence_1d' ? 'persistence-1d/1' : 'persistence-7d/1',
    mean: p50.map((v, j) => (Number.isFinite(base[j]) ? v : f.mean[j])),
    p10: p50.map((v, j) => clip(v + f.p10[j] - f.p50[j])),
    p50,
    p90: p50.map((v, j) => clip(v + f.p90[j] - f.p50[j])),
    details: {
      fallback: {
        baseline,
        model: f.modelVersion,
        skill: verdict.skill,
        windowDays: verdict.windowDays,
        intervals: verdict.intervals,
      },
      model: { modelVersion: f.modelVersion, mean: f.mean, p10: f.p10, p50: f.p50, p90: f.p90 },
    },
  };
}

/**
 * Interval-wise sum of member series on [from, to); NaN wherever a member has no value (a group
 * total with a member missing is unknown, not smaller).
 */
export function sumSeries(
  members: (RegularSeries | undefined)[],
  from: number,
  to: number,
  stepMs: number,
): RegularSeries | null {
  if (!members.length || members.some((m) => !m)) return null;
  const n = Math.round((to - from) / stepMs);
  const values = new Float64Array(n);
  for (const m of members as RegularSeries[]) {
    for (let k = 0; k < n; k++) {
      const i = (from + k * stepMs - m.start) / m.stepMs;
      values[k] += Number.isInteger(i) && i >= 0 && i < m.values.length ? m.values[i] : Number.NaN;
    }
  }
  return { start: from, stepMs, values };
}
