import assert from 'node:assert/strict';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { loadIeee33, modify } from '../../../test-support/network/feeders.ts';
import { type Network, solvePowerFlow } from '../../network/index.ts';
import type { Bid } from '../model/bids.ts';
import { ResourceRegistry } from '../model/resources.ts';
import { HOUR_MS } from '../model/time.ts';
import { checkBooks, Ledger } from '../settlement/ledger.ts';
import { expectedSurplus } from '../settlement/surplus.ts';
import { clearArea } from './clearing.ts';
import { compileFeeder } from './feeder.ts';
import { gridServiceOffers, NetworkRefiner } from './grid-services.ts';
import { clearWithLosses, scheduleInjections } from './losses.ts';
import { clearRealTime } from './realtime.ts';
import { runDayAhead } from './total-dso.ts';
import type { ClearingInput, ClearingResult } from './types.ts';

/**
 * Marginal losses and DSO grid services on the IEEE 33-bus feeder (Baran & Wu), with the feeder's
 * published loads as the non-participating load forecast, the simulated ISO as the wholesale
 * counterpart, and settlement through the real ledger.
 */

const dayStart = Date.UTC(2030, 5, 3);

function loadsOf(net: Network, periods: number) {
  const p = new Map<string, number[]>();
  const q = new Map<string, number[]>();
  for (const l of net.loads) {
    p.set(l.bus, Array(periods).fill(l.p_w));
    q.set(l.bus, Array(periods).fill(l.q_var));
  }
  return { p, q };
}

/** The total-DSO day-ahead on `net` with the simulated ISO as wholesale counterpart, refined by `refiner`. */
function dayAhead(
  net: Network,
  registry: ResourceRegistry,
  bids: Bid[],
  loadForecastW: Map<string, number[]>,
  refiner: NetworkRefiner,
) {
  const iso = new WholesaleMarket({ seed: 5 });
  return runDayAhead({
    dso: 'dso',
    interfaceId: '1',
    dayStart,
    registry,
    bids,
    feeder: compileFeeder(net),
    loadForecastW,
    forecastLmp: Array.from({ length: 24 }, (_, h) => iso.forecastLmp(dayStart + h * HOUR_MS)),
    iso,
    refine: refiner,
  });
}

/** A refiner that procures the grid-service offers among the bids (2 loss iterations). */
function gridServiceRefiner(bids: Bid[], registry: ResourceRegistry) {
  return new NetworkRefiner({
    lossIterations: 2,
    offers: gridServiceOffers(bids, registry, 24, (s) => (s - dayStart) / HOUR_MS),
  });
}

/**
 * Settles a DA run as the market service does: resources (at their registered bus, to their bidding
 * participant) and loads at their DLMP, the ISO at the LMP.
 */
function settle(
  da: { final: ClearingResult; lmp: number[] },
  loads: Map<string, number[]>,
  registry: ResourceRegistry,
  refiner: NetworkRefiner,
) {
  const busOf = new Map(registry.all().map((r) => [r.id, r.bus]));
  const ledger = new Ledger();
  for (let h = 0; h < 24; h++) {
    const period = dayStart + h * HOUR_MS;
    const p = da.final.prices[h];
    for (const [id, s] of da.final.schedules)
      ledger.energy(period, participantOf(id), s.netW[h], p.get(busOf.get(id)!)!.dlmp, 'da_energy', id);
    for (const [bus, series] of loads)
      ledger.energy(period, 'utility', -series[h], p.get(bus)!.dlmp, 'da_energy', `load@${bus}`);
    ledger.energy(period, 'iso', da.final.interfaceImportW[h], da.lmp[h], 'da_energy', 'interface');
    const services = refiner.settle(ledger, {
      t: h,
      period,
      durationH: 1,
      runId: 'r',
      dgo: 'utility',
      market: 'DA',
    });
    ledger.closePeriod(
      period,
      'utility',
      expectedSurplus({
        priceAt: (bus) => p.get(bus)!,
        refPricePerMWh: da.lmp[h],
        importWh: da.final.interfaceImportW[h],
        atDlmp: [
          ...[...da.final.schedules].map(([id, s]) => [busOf.get(id)!, -s.netW[h]] as const),
          ...[...loads].map(([bus, series]) => [bus, series[h]] as const),
        ],
        atEnergyAndLoss: services.map((a) => [a.bus, -a.awardW] as const),
      }),
    );
  }
  return ledger;
}

describe('marginal losses in the DLMPs (IEEE 33-bus)', function () {
  this.timeout(60000);

  it('prices losses: a far bus above the substation, loss component = finite-difference marginal loss', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const feeder = compileFeeder(net);
    const { p, q } = loadsOf(net, 1);
    const inp = {
      feeder,
      periods: 1,
      durationH: 1,
      interfacePrice: [45],
      fixedLoadW: p,
      fixedLoadVar: q,
      resources: [{ id: 'g18', bus: '18', sell: [[{ quantity_w: 100e3, price_per_mwh: 200 }]], buy: [] }],
    };
    const { result, lossW } = await clearWithLosses(inp, 2);
    const price = result.prices[0];
    const sub = price.get('1')!;
    const far = price.get('18')!;
    assert.ok(far.dlmp > sub.dlmp + 1, `bus 18 ${far.dlmp} vs substation ${sub.dlmp}`);
    assert.equal(sub.loss, 0);
    for (const [bus, bp] of price) {
      assert.ok(Math.abs(bp.congestion) < 1e-6 && Math.abs(bp.voltage) < 1e-6, `no congestion at ${bus}`);
      assert.ok(Math.abs(bp.energy + bp.loss + bp.congestion + bp.voltage - bp.dlmp) < 1e-6);
    }
    // The published losses at the published loads: 202.7 kW; the LP's import carries them.
    assert.ok(Math.abs(lossW![0] - 202.68e3) < 100, `losses ${lossW![0]}`);
    const load = [...p.values()].reduce((s, x) => s + x[0], 0);
    assert.ok(Math.abs(result.interfaceImportW[0] - load - lossW![0]) < 500, 'import = load + losses');
    assertLossComponentsMatchFd(net, inp, result, 45);
  });

  // The same interval as a 5-minute real-time market run (its loads at pf 0.95, no DA position).
  const rtInterval = (net: Network, lossIterations?: number) =>
    clearRealTime({
      feeder: compileFeeder(net),
      intervalStart: dayStart,
      interfacePrice: 45,
      loadForecastW: new Map(net.loads.map((l) => [l.bus, l.p_w])),
      resources: [{ id: 'g18', bus: '18', sell: [[{ quantity_w: 100e3, price_per_mwh: 200 }]], buy: [] }],
      daScheduleW: new Map(),
      ...(lossIterations !== undefined ? { lossIterations } : {}),
    });

  it('prices losses in a real-time interval: loss component = finite-difference marginal loss', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const rt = await rtInterval(net, 2);
    const price = rt.clearing.prices[0];
    assert.equal(price.get('1')!.loss, 0);
    assert.ok(price.get('18')!.loss > 5, `bus 18 loss component ${price.get('18')!.loss}`);
    const load = net.loads.reduce((s, l) => s + l.p_w, 0);
    const ac = solvePowerFlow(modify(net, { loads: [] }), {
      injections: scheduleInjections(rt.input, rt.clearing, 0),
    });
    assert.ok(rt.lossW! > 100e3 && Math.abs(rt.lossW! - ac.losses_w) < 1, `losses ${rt.lossW}`);
    assert.ok(Math.abs(rt.clearing.interfaceImportW[0] - load - rt.lossW!) < 500, 'import = load + losses');
    assertLossComponentsMatchFd(net, rt.input, rt.clearing, 45);
    // The loss iterations re-solve the loaded LP warm: same optimum as a fresh clearing.
    const cold = await clearArea(rt.input);
    for (const [bus, bp] of cold.prices[0]) assert.ok(Math.abs(bp.dlmp - price.get(bus)!.dlmp) < 1e-6, bus);
    assert.ok(Math.abs(cold.interfaceImportW[0] - rt.clearing.interfaceImportW[0]) < 1e-3);
  });

  it('clears a real-time interval lossless with 0 loss iterations, as before', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const lossy = await rtInterval(net, 2);
    const { losses: _, ...lossless } = lossy.input;
    const reference = await clearArea(lossless);
    for (const rt of [await rtInterval(net, 0), await rtInterval(net)]) {
      assert.equal(rt.input.losses, undefined);
      assert.equal(rt.lossW, null);
      assert.equal(rt.lossSurplusPerH, 0);
      assert.deepEqual(rt.clearing.prices, reference.prices);
      assert.deepEqual(rt.clearing.interfaceImportW, reference.interfaceImportW);
      for (const bp of rt.clearing.prices[0].values()) assert.equal(bp.loss, 0);
    }
    const load = net.loads.reduce((s, l) => s + l.p_w, 0);
    assert.ok(Math.abs(reference.interfaceImportW[0] - load) < 1, 'no losses in the import');
  });

  it('keeps the books balanced with the loss surplus to the DGO', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const { p } = loadsOf(net, 24);
    const registry = new ResourceRegistry([
      res('pv', '18', 400e3, 0),
      res('bat', '33', 200e3, 200e3, { energy_wh: 800e3, soc0_wh: 400e3 }),
    ]);
    const bids = hourly((h, t) => [
      bid(`pv${h}`, 'pv', 'energy', 'sell', t, 300e3, 0),
      bid(`bs${h}`, 'bat', 'energy', 'sell', t, 200e3, 55),
      bid(`bb${h}`, 'bat', 'energy', 'buy', t, 200e3, 30),
    ]);
    const refiner = new NetworkRefiner({ lossIterations: 2, offers: [] });
    const da = await dayAhead(net, registry, bids, p, refiner);
    const ledger = settle(da, p, registry, refiner);
    const books = checkBooks(ledger);
    assert.equal(books.length, 24);
    assert.ok(books.every((b) => b.balanced));
    const lossSurplus = ledger.entries.filter((e) => e.kind === 'loss_surplus');
    assert.equal(lossSurplus.length, 24);
    for (const e of lossSurplus) {
      const h = (e.period - dayStart) / HOUR_MS;
      // Marginal losses ~ 2x average: the surplus is about LMP x losses.
      const expect = (refiner.lossW![h] / 1e6) * da.lmp[h] * 100;
      assert.equal(e.to, 'utility');
      assert.ok(e.cents > 0.5 * expect && e.cents < 1.5 * expect, `hour ${h}: ${e.cents} c vs ~${expect}`);
    }
  });
});

describe('DSO grid services in the day-ahead (IEEE 33-bus)', function () {
  this.timeout(60000);

  // Buses 26-33 (920 kW of load) hang off branch 6-26; a local generator at 30 is expensive and a
  // battery at 31 offers congestion relief (discharge) at 10 $/MWh on top of energy.
  async function run(rating: number | undefined) {
    const base = await loadIeee33({ default_vmin_pu: 0.85 });
    const net = modify(base, {
      branches: base.branches.map((b) => ({
        ...b,
        ...(b.id === '6-26' && rating !== undefined ? { rating_va: rating } : {}),
      })),
    });
    const { p } = loadsOf(net, 24);
    const registry = new ResourceRegistry([res('gen', '30', 500e3, 0), res('bat', '31', 300e3, 300e3)]);
    const bids = hourly((h, t) => [
      bid(`g${h}`, 'gen', 'energy', 'sell', t, 500e3, 150),
      bid(`cr${h}`, 'bat', 'congestion_relief', 'sell', t, 300e3, 10),
    ]);
    const refiner = gridServiceRefiner(bids, registry);
    const da = await dayAhead(net, registry, bids, p, refiner);
    const ledger = settle(da, p, registry, refiner);
    return { da, refiner, ledger };
  }

  it('procures congestion relief where a line limit binds, pays it and keeps the books balanced', async () => {
    const { da, refiner, ledger } = await run(700e3);
    assert.equal(refiner.eligible.length, 24, 'the 6-26 limit binds every hour provisionally');
    assert.equal(refiner.awards.length, 24);
    for (const a of refiner.awards) {
      const h = a.period;
      // 920 kW + losses behind a 700 kW line: ~220+ kW relief, cheaper than the 150 $/MWh generator.
      assert.ok(a.netW > 200e3 && a.netW < 300e3, `hour ${h}: relief ${a.netW} W`);
      assert.equal(da.final.schedules.get('gen')!.netW[h], 0, 'the expensive local generator stays off');
      // The relief offer is marginal: paid its price (the shadow price of the line at bus 31).
      assert.ok(Math.abs(a.pricePerMWh - 10) < 1e-6, `hour ${h}: ${a.pricePerMWh} $/MWh`);
      const bp = da.final.prices[h].get('31')!;
      assert.ok(Math.abs(bp.dlmp - (bp.energy + bp.loss + 10)) < 1e-6);
    }
    const svc = ledger.entries.filter((e) => e.kind === 'grid_service');
    assert.equal(svc.length, 24);
    for (const e of svc) {
      const a = refiner.awards.find((x) => dayStart + x.period * HOUR_MS === e.period)!;
      assert.equal(e.from, 'utility');
      assert.equal(e.to, a.participant);
      assert.equal(e.cents, Math.round((a.netW / 1e6) * 10 * 100));
    }
    assert.ok(checkBooks(ledger).every((b) => b.balanced));
    assert.equal(refiner.summary().gridServices.awards, 24);
  });

  it('procures nothing when the feeder is not congested', async () => {
    const { da, refiner, ledger } = await run(undefined);
    assert.equal(refiner.eligible.length, 0);
    assert.equal(refiner.awards.length, 0);
    assert.equal(ledger.entries.filter((e) => e.kind === 'grid_service').length, 0);
    for (const prices of da.final.prices)
      for (const bp of prices.values()) assert.ok(Math.abs(bp.congestion) < 1e-6);
    assert.ok(checkBooks(ledger).every((b) => b.balanced));
  });
});

/** Each bus's loss component is the LMP x a finite difference of the exact AC losses (1 kW more demand). */
function assertLossComponentsMatchFd(net: Network, inp: ClearingInput, result: ClearingResult, lmp: number) {
  const ac = modify(net, { loads: [] });
  const base = scheduleInjections(inp, result, 0);
  const losses = (extra: string | null) => {
    const inj = structuredClone(base);
    if (extra) inj[extra].p_w -= 1e3;
    return solvePowerFlow(ac, { injections: inj }).losses_w;
  };
  const l0 = losses(null);
  for (const bus of ['18', '33', '25', '10']) {
    const fd = ((losses(bus) - l0) / 1e3) * lmp;
    const lc = result.prices[0].get(bus)!.loss;
    assert.ok(Math.abs(lc - fd) < 0.005 * Math.abs(fd), `bus ${bus}: loss component ${lc} vs FD ${fd}`);
  }
}
describe("a storage battery's grid-service call shares its SoC and capability (IEEE 33-bus)", function () {
  this.timeout(60000);

  // Branch 6-26 carries buses 26-33 (920 kW at the published loads); loads follow a daily shape, so
  // the line binds only in the evening peak, where the generator at 30 (150 $/MWh) sets the price.
  // The 300 kW battery at 31 trades energy (charges below 35, discharges above 80 $/MWh) and offers
  // congestion relief in hour 18 only (10 $/MWh on top of energy: cheaper than its energy offer).
  const shape = (h: number) => (h >= 16 && h <= 20 ? 1 : 0.3);
  // Energy-limited: the energy schedule alone empties the battery in the peak (before the fix the
  // call in hour 18 took the charge to -116 kWh). Power-limited: a 400 kVA line needs more relief
  // than the battery's power (before the fix: 300 kW energy + 300 kW call in hour 18).
  const cases = [
    { name: 'energy-limited (600 kWh)', ratingVa: 700e3, bat: { energy_wh: 600e3, soc0_wh: 300e3 } },
    { name: 'power-limited (2.4 MWh)', ratingVa: 400e3, bat: { energy_wh: 2400e3, soc0_wh: 1200e3 } },
  ].map((c) => ({ ...c, bat: { ...c.bat, efficiency: 0.95 } }));
  for (const { name, ratingVa, bat } of cases)
    it(`${name}: schedule + service call within the battery's energy and power every hour, books balanced`, async () => {
      const base = await loadIeee33({ default_vmin_pu: 0.85 });
      const net = modify(base, {
        branches: base.branches.map((b) => (b.id === '6-26' ? { ...b, rating_va: ratingVa } : b)),
      });
      const p = new Map(
        net.loads.map((l) => [l.bus, Array.from({ length: 24 }, (_, h) => l.p_w * shape(h))]),
      );
      const registry = new ResourceRegistry([
        res('gen', '30', 500e3, 0),
        res('bat', '31', 300e3, 300e3, bat),
      ]);
      const bids = hourly((h, t) => [
        bid(`g${h}`, 'gen', 'energy', 'sell', t, 500e3, 150),
        bid(`bs${h}`, 'bat', 'energy', 'sell', t, 300e3, 80),
        bid(`bb${h}`, 'bat', 'energy', 'buy', t, 300e3, 35),
        ...(h === 18 ? [bid('cr18', 'bat', 'congestion_relief', 'sell', t, 300e3, 10)] : []),
      ]);
      const refiner = gridServiceRefiner(bids, registry);
      const da = await dayAhead(net, registry, bids, p, refiner);
      assert.deepEqual(
        refiner.eligible.map((o) => o.period),
        [18],
        'the line binds in hour 18 of the provisional clearing',
      );
      assert.equal(refiner.awards.length, 1, 'the relief is called');
      const call = refiner.awards[0];
      assert.ok(call.netW > 1e3, `relief ${call.netW} W`);
      // What the battery does in the field: its energy schedule plus its service call.
      const energy = da.final.schedules.get('bat')!.netW;
      const device = energy.map((w, h) => w + (h === call.period ? call.netW : 0));
      let soc = bat.soc0_wh;
      const tol = 1; // Wh / W: solver tolerance
      device.forEach((w, h) => {
        assert.ok(w <= 300e3 + tol && w >= -300e3 - tol, `hour ${h}: ${w} W beyond the 300 kW capability`);
        soc -= w > 0 ? w / bat.efficiency : w * bat.efficiency; // 1-hour periods: W = Wh
        assert.ok(soc >= -tol && soc <= bat.energy_wh + tol, `hour ${h}: state of charge ${soc} Wh`);
        // The LP's own trajectory (with the call in it) is the device's.
        assert.ok(Math.abs(soc - da.final.schedules.get('bat')!.socWh![h]) < tol, `hour ${h}: SoC rows`);
      });
      assert.ok(soc >= bat.soc0_wh - tol, 'the day ends with at least the initial charge');
      const ledger = settle(da, p, registry, refiner);
      const books = checkBooks(ledger);
      assert.equal(books.length, 24);
      assert.ok(books.every((b) => b.balanced));
      const svc = ledger.entries.filter((e) => e.kind === 'grid_service');
      assert.equal(svc.length, 1);
      assert.equal(svc[0].to, 'sun');
      assert.equal(svc[0].cents, Math.round((call.netW / 1e6) * call.pricePerMWh * 100));
    });
});

describe('grid-service calls linked to their resource in the clearing LP', () => {
  // Copper plate, two hours: the battery charges at 30 and its call (cheaper than its energy offer)
  // discharges it at 100 $/MWh; two PV plants are what the bus aggregation would merge the call into.
  const battery = {
    id: 'b',
    bus: 'x',
    sell: [[{ quantity_w: 100e3, price_per_mwh: 50 }], [{ quantity_w: 100e3, price_per_mwh: 50 }]],
    buy: [[{ quantity_w: 100e3, price_per_mwh: 40 }], [{ quantity_w: 100e3, price_per_mwh: 40 }]],
    storage: { energyWh: 100e3, soc0Wh: 50e3, efficiency: 1, endSocMinWh: 0 },
    capability: { maxInjectW: 100e3, maxWithdrawW: 100e3 },
  };
  const pv = (id: string) => ({
    id,
    bus: 'x',
    sell: [0, 1].map(() => [{ quantity_w: 50e3, price_per_mwh: 0 }]),
    buy: [[], []],
  });
  const call = {
    id: 'gs:1',
    bus: 'x',
    serviceOf: 'b',
    sell: [[], [{ quantity_w: 100e3, price_per_mwh: 20 }]],
    buy: [[], []],
  };

  it("shares the battery's SoC and capability, also when energy-only resources are merged per bus", async () => {
    const results = [];
    for (const fast of [true, false]) {
      const r = await clearArea({
        feeder: null,
        periods: 2,
        durationH: 1,
        interfacePrice: [30, 100],
        fixedLoadW: new Map([['x', [300e3, 300e3]]]),
        resources: [battery, pv('pv1'), call, pv('pv2')],
        fast,
      });
      const b = r.schedules.get('b')!;
      const c = r.schedules.get('gs:1')!;
      assert.deepEqual(c.netW, [0, 100e3], "the call takes the battery's whole power in hour 1");
      assert.deepEqual(b.netW, [-50e3, 0], 'so its energy schedule charges for it and stays idle then');
      assert.deepEqual(b.socWh, [100e3, 0], 'its SoC rows carry the call');
      assert.deepEqual(r.schedules.get('pv1')!.netW, [50e3, 50e3]);
      results.push(r);
    }
    assert.ok(Math.abs(results[0].objective - results[1].objective) < 1e-9);
  });
});

function res(id: string, bus: string, inj: number, wd: number, extra: object = {}) {
  return {
    id,
    owner: 'sun',
    kind: (wd > 0 ? 'battery' : 'generator') as 'battery' | 'generator',
    bus,
    max_inject_w: inj,
    max_withdraw_w: wd,
    status: 'certified' as const,
    ...extra,
  };
}

function bid(
  id: string,
  resource: string,
  product: Bid['product'],
  side: 'sell' | 'buy',
  t: number,
  q: number,
  price: number,
): Bid {
  return {
    id,
    participant: participantOf(resource),
    resource,
    market: 'DA',
    product,
    side,
    interval_start: t,
    steps: [{ quantity_w: q, price_per_mwh: price }],
  };
}

/** Who bids (and is paid) for a resource: the generator is genco's, the rest sun's. */
function participantOf(resource: string) {
  return resource === 'gen' ? 'genco' : 'sun';
}

function hourly(f: (h: number, t: number) => Bid[]): Bid[] {
  return Array.from({ length: 24 }, (_, h) => f(h, dayStart + h * HOUR_MS)).flat();
}
