/**
 * Network benchmark: exact radial power flow on the IEEE 33-bus feeder and on synthetic 1,000- and
 * 10,000-bus feeders (targets < 1 ms, < 20 ms, < 300 ms per power flow), and the DLMP OPF for 24
 * hourly intervals on a 120-bus feeder (target < 2 s).
 *
 * "cold" = the first call in the process (topology compile, JIT; for the OPF also the first solves
 * in the freshly compiled HiGHS wasm); "median" = the median of repeated calls on the same network.
 */

import { getHighs } from '../cloud/lp/highs.ts';
import type { Network } from '../cloud/network/model.ts';
import type { Offer } from '../cloud/network/offers.ts';
import { solveDlmpSchedule } from '../cloud/network/opf.ts';
import { solvePowerFlow } from '../cloud/network/powerflow.ts';
import { syntheticFeeder } from '../cloud/network/synthetic.ts';
import { loadIeee33 } from '../test-support/network/feeders.ts';
import { report, timeMs } from './report.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number) => Math.round(x * 1000) / 1000;

async function powerFlow(label: string, net: Network, repeats: number, targetMs: number) {
  let iterations = 0;
  const cold = await timeMs(() => {
    iterations = solvePowerFlow(net).iterations;
  });
  const runs: number[] = [];
  for (let k = 0; k < repeats; k++) runs.push(await timeMs(() => solvePowerFlow(net)));
  const med = median(runs);
  console.log(
    `${label}: cold ${cold.toFixed(3)} ms, median ${med.toFixed(3)} ms (${iterations} sweeps; target < ${targetMs} ms)`,
  );
  return {
    buses: net.buses.length,
    sweeps: iterations,
    cold_ms: round(cold),
    median_ms: round(med),
    target_ms: targetMs,
    ok: med < targetMs,
  };
}

const pf33 = await powerFlow('33-bus', await loadIeee33(), 200, 1);
const pf1k = await powerFlow('1,000-bus', syntheticFeeder({ buses: 1000, seed: 1 }), 50, 20);
const pf10k = await powerFlow('10,000-bus', syntheticFeeder({ buses: 10000, seed: 1 }), 15, 300);

// 24 hourly intervals: a daily load shape, an LMP that follows it, head-of-feeder congestion at the peak.
const net = syntheticFeeder({ buses: 120, seed: 7, rating_va: 4.0e6 });
const offers: Offer[] = [
  { id: 'bat-50', bus: 'b50', direction: 'up', quantity_w: 700e3, price_per_mwh: 70 },
  { id: 'dr-119', bus: 'b119', direction: 'up', quantity_w: 500e3, price_per_mwh: 95 },
  { id: 'ev-30', bus: 'b30', direction: 'down', quantity_w: 300e3, price_per_mwh: 15 },
];
const shape = Array.from(
  { length: 24 },
  (_, h) => 0.6 + 0.5 * Math.max(0, Math.sin(((h - 6) * Math.PI) / 14)),
);
const day = Date.UTC(2025, 5, 1);
const schedule = {
  offers,
  intervals: shape.map((f, h) => ({
    start: day + h * 3600e3,
    lmp_per_mwh: 20 + 30 * f,
    loads: Object.fromEntries(net.loads.map((l) => [l.bus, { p_w: l.p_w * f, q_var: l.q_var * f }])),
  })),
};
const wasmLoad = await timeMs(() => getHighs());
let lps = 0;
let congested = 0;
const coldOpf = await timeMs(async () => {
  const r = await solveDlmpSchedule(net, schedule);
  lps = r.intervals.reduce((s, iv) => s + iv.iterations, 0);
  congested = r.intervals.filter((iv) => iv.binding.thermal.length > 0).length;
});
const opfRuns: number[] = [];
for (let k = 0; k < 5; k++) opfRuns.push(await timeMs(() => solveDlmpSchedule(net, schedule)));
const opfMedian = median(opfRuns);
console.log(
  `24-interval DLMP OPF, ${net.buses.length} buses: cold ${coldOpf.toFixed(0)} ms, median ${opfMedian.toFixed(0)} ms ` +
    `(${lps} LPs, ${congested} congested intervals; HiGHS wasm load ${wasmLoad.toFixed(0)} ms; target < 2000 ms)`,
);

report('network', {
  powerflow_33: pf33,
  powerflow_1000: pf1k,
  powerflow_10000: pf10k,
  dlmp_24h: {
    buses: net.buses.length,
    intervals: 24,
    lp_solves: lps,
    congested_intervals: congested,
    highs_load_ms: round(wasmLoad),
    cold_ms: round(coldOpf),
    median_ms: round(opfMedian),
    target_ms: 2000,
    ok: coldOpf < 2000 && opfMedian < 2000,
  },
});
