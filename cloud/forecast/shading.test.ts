import assert from 'node:assert/strict';
import { syntheticResidentialPv } from '../../test-support/forecast/synthetic.ts';
import { backtest } from './backtest.ts';
import { fitShading, shadingFactor } from './shading.ts';

const STEP = 900_000;
const SITE = { latitude: 48.1, longitude: 11.6, tilt: 30, azimuth: 190, capacity: 5 };
/** A neighbour's house to the south-east and a deciduous tree to the south-west, as in docs/forecasting.md. */
const OBSTRUCTIONS = [
  { from: 110, to: 165, elevation: 17 },
  { from: 195, to: 245, elevation: 24, transmittance: { summer: 0.15, winter: 0.5 } },
];

describe('obstruction shading per sun-position bin', () => {
  it('recovers a known factor per bin, taking the weather out by the day’s index, and shrinks thin bins', () => {
    // Ten days with clear-sky indices 0.6…1.0; each day the sun passes azimuth 100…250° at 12.5°
    // elevation. Behind the "house" (azimuth 130–160°) only 30 % of the clear-sky power arrives.
    const x = {
      azimuth: [] as number[],
      elevation: [] as number[],
      actual: [] as number[],
      clear: [] as number[],
      day: [] as number[],
    };
    const truth = (az: number) => (az >= 130 && az < 160 ? 0.3 : 1);
    for (let d = 0; d < 10; d++) {
      const kappa = 0.6 + 0.04 * d;
      for (let az = 105; az < 250; az += 10) {
        x.azimuth.push(az);
        x.elevation.push(12.5);
        x.clear.push(1000);
        x.actual.push(1000 * kappa * truth(az));
        x.day.push(d);
      }
    }
    // One lone interval at a position seen once (azimuth 300°, on the clearest day), fully dark.
    x.azimuth.push(300);
    x.elevation.push(12.5);
    x.clear.push(1000);
    x.actual.push(0);
    x.day.push(9);
    // Nearly no prior: the ratio behind the house is recovered (the level goes into the daily index).
    const exact = fitShading(x, { prior: 0.01 });
    const ratio = shadingFactor(exact, 145, 12.5) / shadingFactor(exact, 205, 12.5);
    assert.ok(Math.abs(ratio - 0.3) < 0.02, `house/open ${ratio}`);
    // A prior of 2 intervals: ten samples still dominate a bin; the lone one is pulled two thirds of
    // the way to the global factor instead of reading as a total shadow.
    const m = fitShading(x, { prior: 2 });
    const open = shadingFactor(m, 205, 12.5);
    const house = shadingFactor(m, 145, 12.5);
    assert.ok(house / open < 0.45, `house/open ${house / open}`);
    const lone = shadingFactor(m, 300, 12.5);
    assert.ok(lone > 0.5 * open, `lone bin ${lone} shrunk towards the global factor`);
    assert.equal(m.thinBins, 1);
    // Unseen bins and night: no correction.
    assert.equal(shadingFactor(m, 20, 40), 1);
    assert.equal(shadingFactor(m, 145, -3), 1);
  });

  it('the residential simulator blocks the beam behind obstructions, most at low winter sun', () => {
    const start = Date.UTC(2023, 11, 20);
    const gen = (obstructions: typeof OBSTRUCTIONS) =>
      syntheticResidentialPv({
        start,
        days: 1,
        stepMs: STEP,
        seed: 1,
        site: SITE,
        obstructions,
        weather: 'clear',
      });
    const free = gen([]);
    const shaded = gen(OBSTRUCTIONS);
    // 09:00 UTC (10:00 local) on 20 December: sun at azimuth ≈ 150°, elevation ≈ 13° — behind the house.
    const i = 9 * 4;
    assert.ok(
      shaded.values[i] < 0.5 * free.values[i],
      `${shaded.values[i]} vs ${free.values[i]} behind the house`,
    );
    // 11:00 UTC: azimuth ≈ 180°, elevation ≈ 18°: between house and tree, unobstructed.
    assert.ok(Math.abs(shaded.values[44] - free.values[44]) < 0.1 * free.values[44]);
  });

  it('learns the obstructions: on clear winter days the forecast error halves with the shading map', () => {
    const s = syntheticResidentialPv({
      start: Date.UTC(2023, 9, 1),
      days: 80,
      stepMs: STEP,
      seed: 5,
      site: SITE,
      obstructions: OBSTRUCTIONS,
      weather: 'clear',
    });
    const run = (shading: boolean) =>
      backtest(s, {
        kind: 'pv',
        timeZone: 'Europe/Berlin',
        testDays: 7,
        site: { latitude: SITE.latitude, longitude: SITE.longitude, capacity: SITE.capacity },
        shading,
      });
    const without = run(false);
    const withMap = run(true);
    assert.ok(
      withMap.model.mae_kw < 0.6 * without.model.mae_kw,
      `MAE ${withMap.model.mae_kw} with the map vs ${without.model.mae_kw} without`,
    );
  });
});
