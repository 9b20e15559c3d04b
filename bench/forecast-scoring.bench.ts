/**
 * Scoring a day's forecasts for 10,000 sites: with the default hourly schedule that is 24 forecasts
 * per site of 24 h at 15 minutes (2,304 scored intervals per site, each against the actual and both
 * persistence baselines, pinball losses and quantile hits), then summing each site's day into its
 * metrics. Europe/Berlin, so every baseline look-up goes through the DST-aware local-time path.
 * Actuals and forecasts are synthetic; their generation is not timed.
 */
import { addSums, emptySums, scoreForecast, scoreMetrics } from '../cloud/forecast/index.ts';
import type { RegularSeries } from '../cloud/forecast/series.ts';
import { seededRandom as rng } from '../cloud/random.ts';
import { report } from './report.ts';

const SITES = Number(process.env.SCORING_BENCH_SITES ?? 10_000);
const ISSUES = Number(process.env.SCORING_BENCH_ISSUES_PER_DAY ?? 24);
const TZ = 'Europe/Berlin';
const STEP = 900_000;
const DAY = 86_400_000;
const DAY0 = Date.UTC(2024, 5, 10, 22); // 2024-06-11 00:00 local
const HIST_DAYS = 10; // a week before the first issue (weekly baseline) up to the last horizon
const HIST_START = DAY0 - 8 * DAY;
const N = HIST_DAYS * 96;
const STEPS = 96;

const actual: RegularSeries = { start: HIST_START, stepMs: STEP, values: new Float64Array(N) };
const p10 = new Float64Array(STEPS);
const p50 = new Float64Array(STEPS);
const p90 = new Float64Array(STEPS);

let scoreMs = 0;
let intervals = 0;
let skillSum = 0;
const wall0 = process.hrtime.bigint();
for (let site = 0; site < SITES; site++) {
  const r = rng(7 + site);
  const scale = 500 + 2000 * r();
  for (let i = 0; i < N; i++) {
    const h = ((i % 96) + 0.5) / 4;
    actual.values[i] = scale * (0.4 + Math.exp(-(((h - 19) / 2) ** 2)) + 0.3 * r());
  }
  const forecasts = Array.from({ length: ISSUES }, (_, k) => {
    const issuedAt = DAY0 + Math.round((k * DAY) / ISSUES / STEP) * STEP;
    for (let j = 0; j < STEPS; j++) {
      const h = (((issuedAt - DAY0) / STEP + j + 0.5) % 96) / 4;
      p50[j] = scale * (0.55 + Math.exp(-(((h - 19) / 2) ** 2)));
      p10[j] = p50[j] - 0.2 * scale;
      p90[j] = p50[j] + 0.2 * scale;
    }
    return { issuedAt, start: issuedAt, stepMs: STEP, p10: p10.slice(), p50: p50.slice(), p90: p90.slice() };
  });
  const t0 = process.hrtime.bigint();
  const day = emptySums();
  for (const f of forecasts) addSums(day, scoreForecast(f, actual, TZ));
  const m = scoreMetrics(day);
  scoreMs += Number(process.hrtime.bigint() - t0) / 1e6;
  intervals += day.n;
  skillSum += m?.skill ?? 0;
  if ((site + 1) % 1000 === 0) process.stderr.write(`\rsites: ${site + 1}/${SITES}`);
}
process.stderr.write('\n');

report('forecast-scoring', {
  sites: SITES,
  forecasts_per_site: ISSUES,
  intervals_scored: intervals,
  scoring_s: +(scoreMs / 1000).toFixed(2),
  per_site_ms: +(scoreMs / SITES).toFixed(3),
  intervals_per_s: Math.round(intervals / (scoreMs / 1000)),
  wall_incl_data_generation_s: +(Number(process.hrtime.bigint() - wall0) / 1e9).toFixed(2),
  mean_skill: +(skillSum / SITES).toFixed(3),
});
