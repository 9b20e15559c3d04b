/**
 * Market clearing benchmark: day-ahead LDA clearing (24 h, storage SoC, LinDistFlow on a 120-bus
 * synthetic feeder) for 1,000 and 10,000 resources, the full Total DSO day (provisional clearing,
 * consolidated curve, ISO, re-optimization), and one real-time 5-minute interval.
 */

import type { ClearingResource } from '../cloud/market/clearing/index.ts';
import {
  clearArea,
  clearRealTime,
  compileFeeder,
  NetworkRefiner,
  runDayAhead,
} from '../cloud/market/clearing/index.ts';
import { DEFAULT_MARKET_SETTINGS, HOUR_MS, ResourceRegistry } from '../cloud/market/model/index.ts';
import { syntheticFeeder } from '../cloud/network/index.ts';
import { seededRandom as mulberry32 } from '../cloud/random.ts';
import { WholesaleMarket } from '../sim-devices/iso/wholesale.ts';
import { report, timeMs } from './report.ts';

const network = syntheticFeeder({ buses: 120, seed: 1, total_load_w: 4e6 });
const feeder = compileFeeder(network);
const buses = feeder.buses.slice(1);
const loads = new Map(
  network.loads.map((l) => [
    l.bus,
    Array.from({ length: 24 }, (_, h) => l.p_w * (0.6 + 0.4 * Math.sin((Math.PI * h) / 24))),
  ]),
);
const lmp = Array.from({ length: 24 }, (_, h) => 30 + 25 * Math.sin((Math.PI * (h - 6)) / 12));

function fleet(n: number, seed: number): ClearingResource[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const bus = buses[Math.floor(rand() * buses.length)];
    const kind = i % 10 < 2 ? 'bat' : i % 10 < 6 ? 'pv' : 'load';
    const sell = Array.from({ length: 24 }, (_, h) => {
      const sun = Math.max(0, Math.sin((Math.PI * (h + 0.5 - 6)) / 12));
      if (kind === 'pv')
        return sun > 0 ? [{ quantity_w: 5000 * sun, price_per_mwh: Math.round(rand() * 10) }] : [];
      if (kind === 'bat')
        return [
          { quantity_w: 2500, price_per_mwh: 45 + Math.round(rand() * 10) },
          { quantity_w: 2500, price_per_mwh: 80 },
        ];
      return [];
    });
    const buy = Array.from({ length: 24 }, () => {
      if (kind === 'bat')
        return [
          { quantity_w: 2500, price_per_mwh: 30 + Math.round(rand() * 5) },
          { quantity_w: 2500, price_per_mwh: 15 },
        ];
      if (kind === 'load')
        return [
          { quantity_w: 1500, price_per_mwh: 500 },
          { quantity_w: 1500, price_per_mwh: 30 + Math.round(rand() * 40) },
        ];
      return [];
    });
    return {
      id: `r${i}`,
      bus,
      sell,
      buy,
      ...(kind === 'bat' ? { storage: { energyWh: 13500, soc0Wh: 6750, efficiency: 0.95 } } : {}),
    };
  });
}

const figures: Record<string, unknown> = { buses: network.buses.length };
for (const n of [1000, 10000]) {
  const resources = fleet(n, n);
  let cols = 0;
  const ms = await timeMs(async () => {
    const r = await clearArea({
      feeder,
      periods: 24,
      durationH: 1,
      interfacePrice: lmp,
      fixedLoadW: loads,
      resources,
    });
    cols = r.bigCounts.cols;
  });
  figures[`da_clear_${n}_resources_ms`] = Math.round(ms);
  figures[`da_lp_columns_${n}`] = cols;
  // The whole 7-step day: provisional clearing, consolidated T-D curve (12 warm re-solves), ISO,
  // re-optimization with the ISO's LMP; lossless, then as the cloud's market service runs it by
  // default: marginal losses from the AC power flow (market.lossIterations) in both clearings.
  const { lossIterations } = DEFAULT_MARKET_SETTINGS;
  for (const [name, refine] of [
    ['da_full_7_steps', undefined],
    ['da_full_7_steps_with_losses', new NetworkRefiner({ lossIterations, offers: [] })],
  ] as const) {
    let timings: Record<string, number> = {};
    let iterations: Record<string, number> = {};
    const fullMs = await timeMs(async () => {
      const da = await runDayAhead({
        dso: 'dso',
        interfaceId: feeder.buses[0],
        dayStart: Date.UTC(2026, 6, 1),
        registry: new ResourceRegistry(),
        bids: [],
        resources,
        feeder,
        loadForecastW: loads,
        forecastLmp: lmp,
        iso: new WholesaleMarket({ seed: 1 }),
        ...(refine ? { refine } : {}),
      });
      timings = da.timings;
      iterations = da.iterations;
    });
    figures[`${name}_${n}_resources_ms`] = Math.round(fullMs);
    figures[`${name}_${n}_breakdown_ms`] = Object.fromEntries(
      Object.entries(timings).map(([k, v]) => [k, Math.round(v)]),
    );
    // Simplex iterations do not depend on how busy the machine is: compare runs by them too.
    figures[`${name}_${n}_simplex_iterations`] = iterations;
  }
}
const rtRes = fleet(10000, 7).map((r) => ({ ...r, sell: [r.sell[18]], buy: [r.buy[18]] }));
// One real-time interval, lossless and as the service clears it (marginal losses, lossIterations).
for (const [name, lossIterations] of [
  ['rt_interval_10000_resources_ms', 0],
  ['rt_interval_10000_resources_with_losses_ms', DEFAULT_MARKET_SETTINGS.lossIterations],
] as const) {
  const rtMs = await timeMs(() =>
    clearRealTime({
      feeder,
      intervalStart: Date.UTC(2026, 6, 1) + 18 * HOUR_MS,
      interfacePrice: 60,
      loadForecastW: new Map([...loads].map(([b, s]) => [b, s[18]])),
      resources: rtRes,
      daScheduleW: new Map(),
      lossIterations,
    }),
  );
  figures[name] = Math.round(rtMs);
}
report('market', figures);
