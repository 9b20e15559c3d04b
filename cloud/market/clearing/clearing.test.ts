import assert from 'node:assert/strict';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { buildNetwork } from '../../network/index.ts';
import { HOUR_MS } from '../model/time.ts';
import { clearArea, interfaceCurve, openArea, sampleCurve, walkChain } from './clearing.ts';
import { compileFeeder } from './feeder.ts';
import { runDayAhead } from './total-dso.ts';

const sell = (q: number, p: number) => [[{ quantity_w: q, price_per_mwh: p }]];
const buy = sell;

describe('market clearing', () => {
  it('clears 3 offers and 2 bids at the hand-computed price and quantities', async () => {
    // Offers 100 kW @10, 100 kW @20, 100 kW @30; bids 150 kW @50, 100 kW @15 (islanded area).
    // Supply 10,20,30 meets demand 50,15: 150 kW clear; the 2nd offer is marginal at 20 $/MWh.
    const r = await clearArea({
      feeder: null,
      periods: 1,
      durationH: 1,
      interfacePrice: [0],
      interfaceLimitW: 0,
      fixedLoadW: new Map(),
      resources: [
        { id: 'g1', bus: 'x', sell: sell(100e3, 10), buy: [] },
        { id: 'g2', bus: 'x', sell: sell(100e3, 20), buy: [] },
        { id: 'g3', bus: 'x', sell: sell(100e3, 30), buy: [] },
        { id: 'd1', bus: 'x', sell: [], buy: buy(150e3, 50) },
        { id: 'd2', bus: 'x', sell: [], buy: buy(100e3, 15) },
      ],
    });
    const net = Object.fromEntries([...r.schedules].map(([id, s]) => [id, s.netW[0]]));
    assert.deepEqual(net, { g1: 100e3, g2: 50e3, g3: 0, d1: -150e3, d2: 0 });
    assert.ok(Math.abs(r.prices[0].get('copper-plate')!.dlmp - 20) < 1e-6);
  });

  it('prices congestion: DLMP behind a full line is set by the local offer, decomposed exactly', async () => {
    const f = compileFeeder(
      buildNetwork({
        base_voltage_v: 12470,
        buses: [
          { id: 'a', type: 'slack' },
          { id: 'b', type: 'pq' },
          { id: 'c', type: 'pq' },
        ],
        branches: [
          { from_bus: 'a', to_bus: 'b', r_ohm: 0.5, x_ohm: 0.5, rating_va: 1e6 },
          { from_bus: 'b', to_bus: 'c', r_ohm: 0.5, x_ohm: 0.5, rating_va: 0.5e6 },
        ],
      }),
    );
    const r = await clearArea({
      feeder: f,
      periods: 1,
      durationH: 1,
      interfacePrice: [40],
      fixedLoadW: new Map([['c', [1.2e6]]]),
      resources: [{ id: 'g', bus: 'c', sell: sell(1e6, 60), buy: [] }],
    });
    assert.equal(r.schedules.get('g')!.netW[0], 700e3); // 1.2 MW load, 0.5 MW over the line
    assert.equal(r.interfaceImportW[0], 500e3);
    const c = r.prices[0].get('c')!;
    assert.ok(Math.abs(c.dlmp - 60) < 1e-6);
    assert.ok(Math.abs(c.energy + c.congestion + c.voltage + c.loss - c.dlmp) < 1e-6);
    assert.ok(Math.abs(c.congestion - 20) < 1e-6);
    assert.ok(Math.abs(r.prices[0].get('b')!.dlmp - 40) < 1e-6);
  });

  it('keeps storage state of charge feasible across 24 hours', async () => {
    const prices = Array.from({ length: 24 }, (_, h) =>
      h >= 17 && h <= 20 ? 120 : h >= 10 && h <= 14 ? 5 : 40,
    );
    const half = [
      { quantity_w: 2500, price_per_mwh: 50 },
      { quantity_w: 2500, price_per_mwh: 70 },
    ];
    const r = await clearArea({
      feeder: null,
      periods: 24,
      durationH: 1,
      interfacePrice: prices,
      fixedLoadW: new Map(),
      resources: [
        {
          id: 'bat',
          bus: 'x',
          sell: Array.from({ length: 24 }, () => half),
          buy: Array.from({ length: 24 }, () => [{ quantity_w: 5000, price_per_mwh: 30 }]),
          storage: { energyWh: 10_000, soc0Wh: 2_000, efficiency: 0.9 },
        },
      ],
    });
    const s = r.schedules.get('bat')!;
    let soc = 2000;
    for (let t = 0; t < 24; t++) {
      const w = s.netW[t];
      soc += w < 0 ? -w * 0.9 : -w / 0.9;
      assert.ok(soc >= -0.01 && soc <= 10_000 + 0.01, `hour ${t}: SoC ${soc}`); // schedules are rounded to the mW
      assert.ok(Math.abs(soc - s.socWh![t]) < 1e-3, `hour ${t}: reported SoC matches`);
    }
    assert.ok(s.socWh![23] >= 2000 - 1e-6, 'ends with at least the initial charge');
    assert.ok(
      s.netW.slice(17, 21).some((w) => w > 0),
      'discharges in the evening peak',
    );
    assert.ok(
      s.netW.slice(10, 15).some((w) => w < 0),
      'charges at midday',
    );
  });

  it('builds a monotone consolidated T-D curve and runs the 7-step Total DSO day', async () => {
    const dayStart = Date.UTC(2026, 6, 1);
    const mk = (id: string, side: 'sell' | 'buy', p: number) => ({
      id: `${id}-${p}`,
      participant: 'p',
      resource: id,
      market: 'DA' as const,
      product: 'energy' as const,
      side,
      steps: [{ quantity_w: 50e3, price_per_mwh: p }],
    });
    const { ResourceRegistry } = await import('../model/resources.ts');
    const registry = new ResourceRegistry([
      {
        id: 'g',
        owner: 'p',
        kind: 'generator',
        bus: 'x',
        max_inject_w: 1e6,
        max_withdraw_w: 0,
        status: 'certified',
      },
      {
        id: 'l',
        owner: 'p',
        kind: 'flex_load',
        bus: 'x',
        max_inject_w: 0,
        max_withdraw_w: 1e6,
        status: 'certified',
      },
    ]);
    const bids = Array.from({ length: 24 }, (_, h) => [
      { ...mk('g', 'sell', 35), interval_start: dayStart + h * HOUR_MS, id: `g${h}` },
      { ...mk('l', 'buy', 60), interval_start: dayStart + h * HOUR_MS, id: `l${h}` },
    ]).flat();
    const iso = new WholesaleMarket({ seed: 3 });
    const forecastLmp = Array.from({ length: 24 }, (_, h) => iso.forecastLmp(dayStart + h * HOUR_MS));
    const da = await runDayAhead({
      dso: 'dso',
      interfaceId: 'sub',
      dayStart,
      registry,
      bids,
      feeder: null,
      loadForecastW: new Map([['x', Array(24).fill(200e3)]]),
      forecastLmp,
      iso,
    });
    const { floorPerMWh, capPerMWh } = iso.bidPriceLimits;
    // The -200 $/MWh sample shifts the whole day only until its cheapest hour meets the ISO's floor.
    const deepest = Math.max(-200, floorPerMWh - Math.min(...forecastLmp));
    assert.ok(deepest > -200, 'the forecast day reaches the floor before -200');
    for (const [t, h] of da.tdBid.hours.entries()) {
      assert.ok(Math.abs(h.points[0].price_per_mwh - (forecastLmp[t] + deepest)) < 1e-9);
      for (const p of h.points) assert.ok(p.price_per_mwh >= floorPerMWh && p.price_per_mwh <= capPerMWh);
      for (let i = 1; i < h.points.length; i++) {
        assert.ok(h.points[i].price_per_mwh > h.points[i - 1].price_per_mwh);
        assert.ok(h.points[i].import_w <= h.points[i - 1].import_w, 'import never rises with price');
      }
    }
    for (let h = 0; h < 24; h++) {
      const lmp = da.lmp[h];
      const g = da.final.schedules.get('g')!.netW[h];
      // Final schedules follow the ISO's LMP: the 35 $/MWh offer runs iff the LMP is above it.
      assert.equal(g, lmp > 35 ? 50e3 : lmp < 35 ? 0 : g);
      assert.equal(
        da.final.schedules.get('l')!.netW[h],
        lmp < 60 ? -50e3 : da.final.schedules.get('l')!.netW[h],
      );
    }
    // The interface curve on a hand-checkable case.
    const { curve } = await interfaceCurve(
      {
        feeder: null,
        periods: 1,
        durationH: 1,
        interfacePrice: [40],
        fixedLoadW: new Map([['x', [200e3]]]),
        resources: [{ id: 'g', bus: 'x', sell: sell(50e3, 35), buy: buy(50e3, 60) }],
      },
      [-30, 10, 30],
    );
    // Load 200 kW; offer 50 kW @35 runs above 35, bid 50 kW @60 consumes below 60.
    assert.deepEqual(
      curve[0].map((p) => [p.pricePerMWh, p.importW]),
      [
        [10, 250e3],
        [40, 200e3],
        [50, 200e3],
        [70, 150e3],
      ],
    );
  });

  it('samples the interface curve inside the ISO bid price limits, solving a clamped duplicate once', async () => {
    const inp = {
      feeder: null,
      periods: 2,
      durationH: 1,
      interfacePrice: [40, 20],
      fixedLoadW: new Map([['x', [200e3, 200e3]]]),
      resources: [
        {
          id: 'g',
          bus: 'x',
          sell: [...sell(50e3, 35), ...sell(50e3, 35)],
          buy: [...buy(50e3, 60), ...buy(50e3, 60)],
        },
      ],
    };
    const limits = { floorPerMWh: 0, capPerMWh: 65 };
    const area = await openArea(inp);
    try {
      const s = sampleCurve(area, inp, [-30, -25, 10, 30], limits);
      // Prices 40/20: the day shifts down until hour 1 meets the floor (-20: -30 and -25 are the
      // same sample) and up until hour 0 meets the cap (+25 instead of +30).
      assert.deepEqual(
        s.curve.map((h) => h.map((p) => [p.pricePerMWh, p.importW])),
        [
          [
            [20, 250e3],
            [20, 250e3],
            [40, 200e3],
            [50, 200e3],
            [65, 150e3],
          ],
          [
            [0, 250e3],
            [0, 250e3],
            [20, 250e3],
            [30, 250e3],
            [45, 200e3],
          ],
        ],
      );
      // A chain whose two samples clamp to the same prices in every hour: the second is the first.
      const raw = new Map<number, number[]>();
      walkChain(area, inp, [-100, -200], undefined, raw, limits);
      assert.deepEqual(raw.get(-100), [250e3, 250e3]);
      assert.equal(raw.get(-200), raw.get(-100), 'one solve: each solve returns its own array');
      const again = area.iterations;
      walkChain(area, inp, [-200], undefined, raw, limits);
      assert.equal(area.iterations - again, 0, 'the model holds the -100 optimum: nothing to do');
    } finally {
      area.dispose();
    }
  });

  it("keeps the day's price shape in a far curve sample, so storage keeps its hours", async () => {
    // A 100 kWh battery (empty, ends empty or fuller) bids to charge 100 kW at 20 $/MWh in hour 0
    // and at 25 in hour 1; forecast prices 10 / 50: it charges in hour 0 (import 300 kW), not in 1.
    // Clamping each hour to the -150 floor alone would make both hours -150 and move the charge to
    // hour 1 (the higher bid), and the curve, non-increasing in price, would then cap hour 0 at
    // 200 kW at every price, the forecast one included. Shifted as a whole (-160: -150 / -110), the
    // battery still charges in hour 0.
    const inp = {
      feeder: null,
      periods: 2,
      durationH: 1,
      interfacePrice: [10, 50],
      fixedLoadW: new Map([['x', [200e3, 200e3]]]),
      resources: [
        {
          id: 'b',
          bus: 'x',
          sell: [[], []],
          buy: [[{ quantity_w: 100e3, price_per_mwh: 20 }], [{ quantity_w: 100e3, price_per_mwh: 25 }]],
          storage: { energyWh: 100e3, soc0Wh: 0, efficiency: 1 },
        },
      ],
    };
    const { base, curve } = await interfaceCurve(inp, [-200, -5, 5], { floorPerMWh: -150, capPerMWh: 1000 });
    assert.deepEqual(base.interfaceImportW, [300e3, 200e3]);
    assert.deepEqual(
      curve.map((h) => h.map((p) => [p.pricePerMWh, p.importW])),
      [
        [
          [-150, 300e3],
          [5, 300e3],
          [10, 300e3],
          [15, 300e3],
        ],
        [
          [-110, 200e3],
          [45, 200e3],
          [50, 200e3],
          [55, 200e3],
        ],
      ],
    );
  });
});
