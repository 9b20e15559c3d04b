/**
 * Fit and forecast 24 h (15-minute intervals, P10/P50/P90) for 1,000 sites, each with one year of
 * 15-minute load and PV history, then aggregate the fleet. Target: under 60 s on the 2-core machine.
 * Data is synthetic (household-like load, clear-sky PV with Markov cloud days); its generation is
 * not timed.
 */
import { aggregate, type Forecast, forecastSite } from '../cloud/forecast/index.ts';
import type { RegularSeries } from '../cloud/forecast/series.ts';
import { seededRandom as rng } from '../cloud/random.ts';
import { gaussian, syntheticLoad, syntheticPv } from '../test-support/forecast/synthetic.ts';
import { report } from './report.ts';

const SITES = Number(process.env.FORECAST_BENCH_SITES ?? 1000);
const TZ = 'Europe/Berlin';
const STEP = 900_000;
const DAYS = 365;
const START = Date.UTC(2023, 11, 31, 23); // 2024-01-01 00:00 local
const ISSUE = START + DAYS * 86_400_000; // next local midnight (winter time again)
const N = DAYS * 96;

// Shared shapes: the fleet shares a calendar and a sky; sites differ in scale, orientation and noise.
const loadShape = syntheticLoad({ start: START, days: DAYS, stepMs: STEP, timeZone: TZ, seed: 1, noise: 0 });
const orientations = [
  [30, 180],
  [20, 135],
  [35, 225],
  [10, 90],
  [40, 270],
  [25, 160],
  [15, 200],
  [0, 180],
];
const pvShapes = orientations.map(([tilt, azimuth], k) =>
  syntheticPv({
    start: START,
    days: DAYS,
    stepMs: STEP,
    seed: k,
    site: { latitude: 50.1, longitude: 8.7, tilt, azimuth, capacity: 1 },
  }),
);

const loadBuf = new Float64Array(N);
const pvBuf = new Float64Array(N);
let loadMs = 0;
let pvMs = 0;
const loads: Forecast[] = [];
const pvs: Forecast[] = [];
const wall0 = process.hrtime.bigint();
for (let site = 0; site < SITES; site++) {
  const r = rng(1000 + site);
  const scale = 0.5 + 2 * r();
  for (let i = 0; i < N; i++)
    loadBuf[i] = Math.max(0, loadShape.values[i] * scale * (1 + 0.25 * gaussian(r)));
  const shape = pvShapes[site % pvShapes.length].values;
  const cap = 3 + 12 * r();
  let kappa = 1;
  for (let i = 0; i < N; i++) {
    if (i % 96 === 0 && r() < 0.5) kappa = r() < 0.4 ? 1 : 0.2 + 0.7 * r();
    pvBuf[i] = Math.min(cap, shape[i] * cap * (kappa === 1 ? 1 : Math.max(0, kappa + 0.2 * gaussian(r))));
  }
  const load: RegularSeries = { start: START, stepMs: STEP, values: loadBuf };
  const pv: RegularSeries = { start: START, stepMs: STEP, values: pvBuf };
  let t0 = process.hrtime.bigint();
  loads.push(forecastSite(load, { kind: 'load', timeZone: TZ, issueTime: ISSUE }));
  let t1 = process.hrtime.bigint();
  loadMs += Number(t1 - t0) / 1e6;
  t0 = t1;
  pvs.push(
    forecastSite(pv, {
      kind: 'pv',
      timeZone: TZ,
      issueTime: ISSUE,
      site: { latitude: 50.1, longitude: 8.7, capacity: cap },
    }),
  );
  t1 = process.hrtime.bigint();
  pvMs += Number(t1 - t0) / 1e6;
  if ((site + 1) % 100 === 0) process.stderr.write(`\rsites: ${site + 1}/${SITES}`);
}
process.stderr.write('\n');
const a0 = process.hrtime.bigint();
const fleetLoad = aggregate(loads);
const fleetPv = aggregate(pvs);
const aggregateMs = Number(process.hrtime.bigint() - a0) / 1e6;
const wallMs = Number(process.hrtime.bigint() - wall0) / 1e6;

report('forecast', {
  sites: SITES,
  history: '365 days × 96 intervals (15 min) of load and of PV per site',
  load_fit_forecast_s: +(loadMs / 1000).toFixed(2),
  pv_fit_forecast_s: +(pvMs / 1000).toFixed(2),
  fit_forecast_total_s: +((loadMs + pvMs) / 1000).toFixed(2),
  per_site_ms: +((loadMs + pvMs) / SITES).toFixed(2),
  aggregate_ms: +aggregateMs.toFixed(1),
  wall_incl_data_generation_s: +(wallMs / 1000).toFixed(2),
  target_s: 60,
  within_target: (loadMs + pvMs) / 1000 < 60,
  fleet_peak_load_p50_kw: +Math.max(...fleetLoad.p50).toFixed(1),
  fleet_peak_pv_p50_kw: +Math.max(...fleetPv.p50).toFixed(1),
});
