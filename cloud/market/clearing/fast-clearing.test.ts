import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { buildNetwork } from '../../network/index.ts';
import { seededRandom } from '../../random.ts';
import { ResourceRegistry } from '../model/resources.ts';
import { DEFAULT_CURVE_OFFSETS } from '../model/settings.ts';
import { clearArea, curveChains, openArea, sampleCurve } from './clearing.ts';
import { sampleCurveParallel, startCurveWorker } from './curve-parallel.ts';
import { compileFeeder } from './feeder.ts';
import { NetworkRefiner } from './grid-services.ts';
import { type DayAheadRefiner, runDayAhead } from './total-dso.ts';
import type { ClearingInput, ClearingResource } from './types.ts';

// The fast day-ahead path (per-bus merging of energy-only resources, price-taking crash basis, one
// loaded LP re-solved warm for the curve and the final clearing) against the straightforward one
// (every step its own column, HiGHS's own cold start for every price) on small random areas with
// distinct prices, so the optimum is unique.

const T = 24;
const feeder = compileFeeder(
  buildNetwork({
    base_voltage_v: 12470,
    buses: ['s', 'a', 'b', 'c', 'd'].map((id) => ({ id, type: id === 's' ? 'slack' : 'pq' })),
    branches: [
      { from_bus: 's', to_bus: 'a', r_ohm: 0.3, x_ohm: 0.3, rating_va: 3e6 },
      { from_bus: 'a', to_bus: 'b', r_ohm: 0.4, x_ohm: 0.4, rating_va: 0.4e6 },
      { from_bus: 'a', to_bus: 'c', r_ohm: 0.4, x_ohm: 0.4, rating_va: 1e6 },
      { from_bus: 'c', to_bus: 'd', r_ohm: 0.5, x_ohm: 0.5, rating_va: 0.3e6 },
    ],
  }),
);
const buses = ['a', 'b', 'c', 'd'];
const dayStart = Date.UTC(2026, 6, 1);

// fast-check picks the shape (how many resources, where, seeds); the prices come from a seeded
// generator so they are distinct and no shrink collapses them into ties (tied steps make the
// optimum non-unique, where either split is right).
const area = fc.record({
  energy: fc.array(fc.constantFrom(...buses), { minLength: 2, maxLength: 10 }),
  batteries: fc.array(fc.constantFrom(...buses), { maxLength: 2 }),
  load: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 4, maxLength: 4 }),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});
type AreaCase = typeof area extends fc.Arbitrary<infer A> ? A : never;

function toResources(a: AreaCase): ClearingResource[] {
  const rand = seededRandom(a.seed);
  const steps = (side: 'sell' | 'buy') => {
    const n = Math.floor(rand() * 3);
    const s = Array.from({ length: n }, () => ({
      quantity_w: 10e3 + rand() * 190e3,
      price_per_mwh: 1 + rand() * 149,
    }));
    return s.sort((x, y) => (side === 'sell' ? 1 : -1) * (x.price_per_mwh - y.price_per_mwh));
  };
  return [
    ...a.energy.map((bus, k) => ({
      id: `e${k}`,
      bus,
      sell: Array.from({ length: T }, () => steps('sell')),
      buy: Array.from({ length: T }, () => steps('buy')),
    })),
    ...a.batteries.map((bus, k) => {
      const energyWh = 50e3 + rand() * 350e3;
      return {
        id: `b${k}`,
        bus,
        sell: Array.from({ length: T }, () => [{ quantity_w: 50e3, price_per_mwh: 60 + rand() * 90 }]),
        buy: Array.from({ length: T }, () => [{ quantity_w: 50e3, price_per_mwh: 1 + rand() * 39 }]),
        storage: { energyWh, soc0Wh: energyWh / 2, efficiency: 0.92 },
      };
    }),
  ];
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe('fast day-ahead clearing', () => {
  it('gives the same curve, schedules and prices as the straightforward LP on random areas', async () => {
    await fc.assert(
      fc.asyncProperty(area, async (a) => {
        const resources = toResources(a);
        const loadForecastW = new Map(buses.map((b, i) => [b, Array(T).fill(a.load[i] * 1e3)]));
        const iso = new WholesaleMarket({ seed: a.seed });
        const forecastLmp = Array.from({ length: T }, (_, h) => iso.forecastLmp(dayStart + h * HOUR));
        const da = await runDayAhead({
          dso: 'dso',
          interfaceId: 's',
          dayStart,
          registry: new ResourceRegistry(),
          bids: [],
          resources,
          feeder,
          loadForecastW,
          forecastLmp,
          iso,
        });
        const plain = (interfacePrice: readonly number[]) => {
          const inp: ClearingInput = {
            feeder,
            periods: T,
            durationH: 1,
            interfacePrice,
            fixedLoadW: loadForecastW,
            resources,
            fast: false,
          };
          return clearArea(inp);
        };
        // Step 3: the curve at every offset, each a cold straightforward solve, made monotone alike.
        const offsets = [...new Set([0, ...DEFAULT_CURVE_OFFSETS])].sort((x, y) => x - y);
        const raw: number[][] = [];
        // Samples sit inside the ISO's bid price limits: the -200 one shifts the day only until its
        // cheapest hour is on the -150 floor.
        const deepest = iso.bidPriceLimits.floorPerMWh - Math.min(...forecastLmp);
        const at = (d: number) => forecastLmp.map((p) => p + Math.max(d, deepest));
        for (const d of offsets) raw.push((await plain(at(d))).interfaceImportW);
        for (let t = 0; t < T; t++) {
          let prev = Infinity;
          offsets.forEach((d, k) => {
            prev = Math.min(prev, raw[k][t]);
            const pt = da.tdBid.hours[t].points[k];
            assert.ok(close(pt.price_per_mwh, at(d)[t], 1e-12));
            assert.ok(
              Math.abs(pt.import_w - prev) <= 1,
              `curve h${t} offset ${d}: ${pt.import_w} vs ${prev}`,
            );
          });
        }
        // Steps 2 and 6: provisional and final clearing.
        for (const [fast, ref] of [
          [da.provisional, await plain(forecastLmp)],
          [da.final, await plain(da.lmp)],
        ] as const) {
          assert.ok(
            close(fast.objective, ref.objective, 1e-7),
            `objective ${fast.objective} vs ${ref.objective}`,
          );
          for (const r of resources) {
            const f = fast.schedules.get(r.id)!.netW;
            const s = ref.schedules.get(r.id)!.netW;
            for (let t = 0; t < T; t++)
              assert.ok(Math.abs(f[t] - s[t]) <= 5, `${r.id} h${t}: ${f[t]} vs ${s[t]}`);
          }
          for (let t = 0; t < T; t++) {
            assert.ok(Math.abs(fast.interfaceImportW[t] - ref.interfaceImportW[t]) <= 5);
            for (const b of feeder.buses) {
              const x = fast.prices[t].get(b)!.dlmp;
              const y = ref.prices[t].get(b)!.dlmp;
              assert.ok(close(x, y, 1e-6), `DLMP ${b} h${t}: ${x} vs ${y}`);
            }
          }
        }
      }),
      { numRuns: 15, seed: 8 },
    );
  });

  it('matches on a copper plate with ancillary requirements and an interface limit', async () => {
    await fc.assert(
      fc.asyncProperty(area, async (a) => {
        const rand = seededRandom(a.seed + 1);
        const resources: ClearingResource[] = toResources(a).map((r, k) =>
          k % 3 === 0
            ? {
                ...r,
                ancillary: {
                  reg_up: Array.from({ length: T }, () => [
                    { quantity_w: 20e3, price_per_mwh: 1 + rand() * 20 },
                  ]),
                  reserve: Array.from({ length: T }, () => [
                    { quantity_w: 30e3, price_per_mwh: 1 + rand() * 10 },
                  ]),
                },
              }
            : r,
        );
        const inp: ClearingInput = {
          feeder: null,
          periods: T,
          durationH: 1,
          interfacePrice: Array.from({ length: T }, () => 20 + rand() * 60),
          interfaceLimitW: 100e3 + rand() * 400e3,
          fixedLoadW: new Map([['x', Array(T).fill(a.load[0] * 1e3)]]),
          resources,
          ancillaryRequirementW: { reg_up: Array(T).fill(15e3), reserve: Array(T).fill(40e3) },
        };
        const fast = await clearArea(inp);
        const ref = await clearArea({ ...inp, fast: false });
        assert.ok(
          close(fast.objective, ref.objective, 1e-7),
          `objective ${fast.objective} vs ${ref.objective}`,
        );
        for (const r of resources) {
          const f = fast.schedules.get(r.id)!.netW;
          const s = ref.schedules.get(r.id)!.netW;
          for (let t = 0; t < T; t++)
            assert.ok(Math.abs(f[t] - s[t]) <= 5, `${r.id} h${t}: ${f[t]} vs ${s[t]}`);
        }
        for (let t = 0; t < T; t++) {
          const x = fast.prices[t].get('copper-plate')!.dlmp;
          const y = ref.prices[t].get('copper-plate')!.dlmp;
          assert.ok(close(x, y, 1e-6), `price h${t}: ${x} vs ${y}`);
        }
      }),
      { numRuns: 15, seed: 9 },
    );
  });
  it('splits the T-D curve offsets into chains that sample each offset once', () => {
    const { offsets, main, worker } = curveChains(DEFAULT_CURVE_OFFSETS);
    assert.deepEqual(main, [[-5, -10, -20, -40, -80, -200]]);
    assert.deepEqual(worker, [[5, 10, 20, 40, 80, 200]]);
    const sampled = [0, ...main.flat(), ...worker.flat()].sort((a, b) => a - b);
    assert.deepEqual(sampled, offsets);
    // Each chain walks outward from the base price.
    for (const c of [...main, ...worker])
      for (let k = 1; k < c.length; k++) assert.ok(Math.abs(c[k]) > Math.abs(c[k - 1]));
    assert.deepEqual(curveChains([5, 10]), { offsets: [0, 5, 10], main: [], worker: [[5, 10]] });
    assert.deepEqual(curveChains([-5]), { offsets: [-5, 0], main: [[-5]], worker: [] });
  });
  it('samples the same T-D curve with part of its chains in a worker thread', async () => {
    await fc.assert(
      fc.asyncProperty(area, async (a) => {
        const rand = seededRandom(a.seed + 3);
        const iso = new WholesaleMarket({ seed: a.seed });
        const inp: ClearingInput = {
          feeder,
          periods: T,
          durationH: 1,
          interfacePrice: Array.from({ length: T }, (_, h) => iso.forecastLmp(dayStart + h * HOUR)),
          fixedLoadW: new Map(buses.map((b, i) => [b, Array(T).fill(a.load[i] * 1e3)])),
          resources: toResources(a),
          losses: {
            factor: Array.from({ length: T }, () =>
              Float64Array.from({ length: feeder.buses.length }, (_, i) => (i ? rand() * 0.05 : 0)),
            ),
            constantMw: Array.from({ length: T }, () => new Float64Array(feeder.buses.length).fill(0.001)),
          },
        };
        const { losses: _, ...lossless } = inp;
        const serialArea = await openArea(inp);
        // Built lossless and given the losses afterwards, as in runDayAhead: the worker copies the
        // LP as built and must take the losses with the basis.
        const parallelArea = await openArea(lossless);
        // Half the runs as the refiner leaves the model: solved lossless first (the worker then
        // solves the base too); the other half fresh (the base solved here, from the crash).
        const presolved = a.seed % 2 === 1;
        if (presolved) {
          parallelArea.solve(inp.interfacePrice, 'lossless pre-solve');
          serialArea.setLosses(undefined);
          serialArea.solve(inp.interfacePrice, 'lossless pre-solve');
          serialArea.setLosses(inp.losses);
        }
        parallelArea.setLosses(inp.losses);
        assert.equal(parallelArea.solved, presolved);
        // minResources 0: take the worker path even for this small area.
        const worker = startCurveWorker(lossless, DEFAULT_CURVE_OFFSETS, 0)!;
        try {
          const serial = sampleCurve(serialArea, inp, DEFAULT_CURVE_OFFSETS);
          const parallel = await sampleCurveParallel(parallelArea, inp, DEFAULT_CURVE_OFFSETS, worker);
          assert.deepEqual(parallel.curve, serial.curve);
          assert.equal(parallel.base.objective, serial.base.objective);
          // The worker then solves at other prices (the final) for this thread to extract, with
          // the losses this thread's model has now.
          const lmp = inp.interfacePrice.map((p, t) => p + (t % 2 ? 25 : -15));
          const relinearized = {
            ...inp.losses!,
            factor: inp.losses!.factor.map((f) => f.map((x) => x * 1.5)),
          };
          serialArea.setLosses(relinearized);
          parallelArea.setLosses(relinearized);
          const here = serialArea.solve(lmp, 'final here');
          const there = parallelArea.fromSolution(lmp, await worker.solve(parallelArea, lmp), 'final there');
          assert.ok(close(there.objective, here.objective, 1e-7), `${there.objective} vs ${here.objective}`);
          assert.deepEqual(there.interfaceImportW, here.interfaceImportW);
          for (let t = 0; t < T; t++)
            for (const [bus, p] of here.prices[t])
              assert.ok(close(there.prices[t].get(bus)!.dlmp, p.dlmp, 1e-6), `h${t} ${bus}`);
        } finally {
          await worker.terminate();
          serialArea.dispose();
          parallelArea.dispose();
        }
      }),
      { numRuns: 4, seed: 12 },
    );
  });
  it('refines losses in the loaded model as fresh solves do', async () => {
    await fc.assert(
      fc.asyncProperty(area, async (a) => {
        const resources = toResources(a);
        const loadForecastW = new Map(buses.map((b, i) => [b, Array(T).fill(a.load[i] * 1e3)]));
        const day = (refine: DayAheadRefiner) => {
          const iso = new WholesaleMarket({ seed: a.seed });
          const forecastLmp = Array.from({ length: T }, (_, h) => iso.forecastLmp(dayStart + h * HOUR));
          return runDayAhead({
            ...{ dso: 'dso', interfaceId: 's', dayStart, registry: new ResourceRegistry(), bids: [] },
            ...{ resources, feeder, loadForecastW, forecastLmp, iso, refine },
          });
        };
        const reused = new NetworkRefiner({ lossIterations: 2, offers: [] });
        const fresh = new NetworkRefiner({ lossIterations: 2, offers: [] });
        const da = await day(reused);
        // Without the loaded model the refiner solves every step from scratch (the former path).
        const ref = await day({
          provisional: (inp) => fresh.provisional(inp),
          final: (inp, prov) => fresh.final(inp, prov),
        });
        assert.deepEqual(
          da.tdBid.hours.map((h) => h.points.length),
          ref.tdBid.hours.map((h) => h.points.length),
        );
        for (let t = 0; t < T; t++)
          da.tdBid.hours[t].points.forEach((p, k) => {
            assert.ok(
              Math.abs(p.import_w - ref.tdBid.hours[t].points[k].import_w) <= 1,
              `curve h${t} point ${k}: ${p.import_w} vs ${ref.tdBid.hours[t].points[k].import_w}`,
            );
          });
        assert.deepEqual(reused.lossW, fresh.lossW);
        for (const [x, y] of [
          [da.provisional, ref.provisional],
          [da.final, ref.final],
        ] as const) {
          assert.ok(close(x.objective, y.objective, 1e-7), `objective ${x.objective} vs ${y.objective}`);
          for (const r of resources)
            for (let t = 0; t < T; t++)
              assert.ok(Math.abs(x.schedules.get(r.id)!.netW[t] - y.schedules.get(r.id)!.netW[t]) <= 5);
          for (let t = 0; t < T; t++)
            for (const b of feeder.buses) {
              const p = x.prices[t].get(b)!;
              const q = y.prices[t].get(b)!;
              assert.ok(close(p.dlmp, q.dlmp, 1e-6) && close(p.loss, q.loss, 1e-6), `DLMP ${b} h${t}`);
            }
        }
      }),
      { numRuns: 10, seed: 14 },
    );
  });
  it('matches with linearized losses on the feeder', async () => {
    await fc.assert(
      fc.asyncProperty(area, async (a) => {
        const rand = seededRandom(a.seed + 2);
        const nb = feeder.buses.length;
        const inp: ClearingInput = {
          feeder,
          periods: T,
          durationH: 1,
          interfacePrice: Array.from({ length: T }, () => 20 + rand() * 60),
          fixedLoadW: new Map(buses.map((b, i) => [b, Array(T).fill(a.load[i] * 1e3)])),
          resources: toResources(a),
          losses: {
            factor: Array.from({ length: T }, () =>
              Float64Array.from({ length: nb }, (_, i) => (i ? rand() * 0.05 : 0)),
            ),
            constantMw: Array.from({ length: T }, () => new Float64Array(nb).fill(0.001)),
          },
        };
        const fast = await clearArea(inp);
        const ref = await clearArea({ ...inp, fast: false });
        assert.ok(
          close(fast.objective, ref.objective, 1e-7),
          `objective ${fast.objective} vs ${ref.objective}`,
        );
        for (const r of inp.resources) {
          const f = fast.schedules.get(r.id)!.netW;
          const s = ref.schedules.get(r.id)!.netW;
          for (let t = 0; t < T; t++)
            assert.ok(Math.abs(f[t] - s[t]) <= 5, `${r.id} h${t}: ${f[t]} vs ${s[t]}`);
        }
        for (let t = 0; t < T; t++)
          for (const b of feeder.buses) {
            const x = fast.prices[t].get(b)!;
            const y = ref.prices[t].get(b)!;
            assert.ok(
              close(x.dlmp, y.dlmp, 1e-6) && close(x.loss, y.loss, 1e-6),
              `DLMP ${b} h${t}: ${x.dlmp} vs ${y.dlmp}`,
            );
          }
      }),
      { numRuns: 15, seed: 10 },
    );
  });
});

const HOUR = 3_600_000;
