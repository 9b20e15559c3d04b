import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { startTestCloud, type TestCloud } from '../../../test-support/cloud/test-cloud.ts';
import { loadIeee33 } from '../../../test-support/network/feeders.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';

/**
 * Grid services and losses through the market service on a real cloud (SQLite registry): the
 * 33-bus feeder with branch 6-26 rated 700 kVA, a battery's congestion-relief offer procured in the
 * DA run, awards visible to their participant and to the DMO/DGO only, books balanced per hour.
 */
describe('market service: DSO grid services and losses', function () {
  this.timeout(60000);
  let t: TestCloud;
  const dayStart = Date.UTC(2030, 0, 16);
  let clock = dayStart - DAY_MS;
  const who = (id: string) => ({ userId: id, auditActor: `user:${id}` });
  const [dora, uma, alice, bob] = ['dora', 'uma', 'alice', 'bob'].map(who);
  let summary: Record<string, unknown> = {};
  let loads: Record<string, number[]> = {};

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridlayer-gridsvc-'));
    const net = await loadIeee33({ default_vmin_pu: 0.85 });
    loads = Object.fromEntries(net.loads.map((l) => [l.bus, Array(24).fill(l.p_w)]));
    writeFileSync(
      join(dir, 'feeder.json'),
      JSON.stringify({
        base_voltage_v: net.base_voltage_v,
        buses: net.buses,
        branches: net.branches.map((b) => (b.id === '6-26' ? { ...b, rating_va: 700e3 } : b)),
      }),
    );
    t = await startTestCloud(
      {
        market: {
          model: 4,
          networkFile: 'feeder.json',
          curveOffsetsPerMWh: [-30, -10, 10, 30],
          actors: [
            { id: 'iso', kind: 'iso', users: [] },
            { id: 'utility', kind: 'utility', users: ['uma'] },
            { id: 'dso', kind: 'independent_dso', users: ['dora'] },
            { id: 'battco', kind: 'producer', users: ['alice'] },
            { id: 'genco', kind: 'producer', users: ['bob'] },
          ],
        },
      },
      dir,
      { iso: new WholesaleMarket({ seed: 1 }) },
    );
    const m = t.cloud.market!;
    m.now = () => clock;
    const res = (id: string, owner: string, kind: string, bus: string, wd: number) =>
      ({ id, owner, kind, bus, max_inject_w: 300e3, max_withdraw_w: wd }) as never;
    await m.registerResource(uma, res('bat', 'battco', 'battery', '31', 300e3));
    await m.registerResource(uma, res('gen', 'genco', 'generator', '30', 0));
    for (const id of ['bat', 'gen']) await m.setResourceStatus(uma, id, 'certified');
    for (let h = 0; h < 24; h++) {
      const interval_start = dayStart + h * HOUR_MS;
      await m.submitBid(bob, {
        resource: 'gen',
        market: 'DA',
        product: 'energy',
        side: 'sell',
        interval_start,
        steps: [{ quantity_w: 300e3, price_per_mwh: 150 }],
      });
      await m.submitBid(alice, {
        resource: 'bat',
        market: 'DA',
        product: 'congestion_relief',
        side: 'sell',
        interval_start,
        steps: [{ quantity_w: 300e3, price_per_mwh: 10 }],
      });
    }
    clock = dayStart - 6 * HOUR_MS;
    summary = await m.runDayAhead(dora, { dayStart, loadForecastW: loads });
  });
  after(async () => t?.stop());

  it('samples the T-D bid curve at the configured price offsets', () => {
    const iso = new WholesaleMarket({ seed: 1 });
    const curve = summary.tdCurve as { price_per_mwh: number; import_w: number }[][];
    assert.equal(curve.length, 24);
    curve.forEach((points, h) => {
      const lmp = iso.forecastLmp(dayStart + h * HOUR_MS);
      assert.deepEqual(
        points.map((p) => Math.round((p.price_per_mwh - lmp) * 1e6) / 1e6),
        [-30, -10, 0, 10, 30],
      );
      for (let k = 1; k < points.length; k++) assert.ok(points[k].import_w <= points[k - 1].import_w);
    });
  });

  it('procures relief, prices losses and balances the books of every hour', async () => {
    assert.equal(summary.balanced, true);
    const gs = summary.gridServices as { awards: number; costDollars: number };
    assert.equal(gs.awards, 24);
    assert.ok(gs.costDollars > 0);
    assert.equal((summary.lossesW as number[]).length, 24);
    const s = await t.cloud.market!.settlements(dora, { all: true, market: 'DA' });
    assert.equal(s.balanced, true);
    assert.ok(s.books?.every((b) => b.sumCents === 0 && b.clearingCents === 0));
    const kinds = new Set(s.entries.map((e) => e.kind));
    assert.ok(kinds.has('grid_service') && kinds.has('loss_surplus'));
    // The DGO pays the service and receives the surpluses.
    assert.ok((s.totals.utility.byKind.grid_service ?? 0) < 0);
    assert.ok((s.totals.utility.byKind.loss_surplus ?? 0) > 0);
    assert.ok((s.totals.battco.byKind.grid_service ?? 0) > 0);
    const prices = await t.cloud.market!.prices({ market: 'DA', from: dayStart, to: dayStart + 1 });
    const at = (bus: string) => prices.find((p) => p.bus === bus)!;
    assert.ok(at('18').loss > 0 && at('18').dlmp > at('1').dlmp);
  });

  it('shows awards to their participant, all of them to the DMO, and the DGO its grid services in its schedule only', async () => {
    const m = t.cloud.market!;
    const mine = await m.awards(alice, { market: 'DA' });
    const relief = mine.filter((a) => a.product === 'congestion_relief');
    assert.equal(relief.length, 24);
    assert.ok(relief.every((a) => a.participant === 'battco' && a.awardW > 0 && a.pricePerMWh >= 10 - 1e-6));
    const theirs = await m.awards(bob, { market: 'DA' });
    assert.ok(theirs.every((a) => a.participant === 'genco'));
    assert.ok(!theirs.some((a) => a.product === 'congestion_relief'));
    const all = await m.awards(dora, { all: true, market: 'DA' });
    assert.equal(all.filter((a) => a.product === 'congestion_relief').length, 24);
    // Model 4 separates the DGO from the market: it sees the services it buys in its schedule, by
    // resource and bus, without the participant or the price; every award is the DMO's view only.
    const schedule = await m.dgoSchedule(uma, { market: 'DA' });
    const services = schedule.services.filter((a) => a.product === 'congestion_relief');
    assert.equal(services.length, 24);
    assert.deepEqual(
      services.map((a) => a.awardW),
      relief.map((a) => a.awardW),
    );
    assert.ok(services.every((a) => !('participant' in a) && !('pricePerMWh' in a)));
    await assert.rejects(m.awards(uma, { all: true }), /INFORMATION_SEPARATION/);
    await assert.rejects(m.awards(alice, { all: true }), /NOT_DMO/);
  });

  it('prices losses in a real-time interval and books its loss surplus to the DGO, balanced to the cent', async () => {
    const m = t.cloud.market!;
    const start = dayStart + 12 * HOUR_MS;
    clock = start - RT_INTERVAL_MS;
    // Loads 40% below the DA forecast (the 6-26 line no longer binds, so the clearing account's
    // residual after the loss surplus is rounding only) during an ISO real-time price spike above
    // the generator's 150 $/MWh offer: loads and the generator both deviate from their DA schedule.
    const lmp = 300;
    const rtLoads = Object.fromEntries(Object.entries(loads).map(([bus, s]) => [bus, 0.6 * s[12]]));
    const run = (await m.runRealTime(dora, {
      intervalStart: start,
      interfacePrice: lmp,
      loadForecastW: rtLoads,
      dispatch: false,
    })) as { balanced: boolean; lossesW?: number; runId: string };
    assert.equal(run.balanced, true);
    assert.ok((run.lossesW ?? 0) > 10e3, `RT losses ${run.lossesW} W`);
    const prices = await m.prices({ market: 'RT', from: start, to: start + 1 });
    const at = (bus: string) => prices.find((p) => p.bus === bus)!;
    assert.equal(at('1').loss, 0);
    assert.ok(at('18').loss > 0 && at('18').dlmp > at('1').dlmp);
    for (const p of prices) {
      assert.ok(Math.abs(p.energy - lmp) < 1e-6, `energy ${p.energy} at ${p.bus}`);
      assert.ok(Math.abs(p.congestion) < 1e-6 && Math.abs(p.voltage) < 1e-6);
    }
    const rtAwards = await m.awards(dora, { all: true, market: 'RT', from: start, to: start + 1 });
    assert.ok(rtAwards.find((a) => a.resource === 'gen')!.deviationW! > 200e3);
    const s = await m.settlements(dora, { all: true, market: 'RT' });
    assert.equal(s.balanced, true);
    assert.deepEqual(
      s.books?.map((b) => [b.period, b.sumCents, b.clearingCents]),
      [[start, 0, 0]],
    );
    const lines = s.entries.filter((e) => e.kind === 'rt_deviation').length;
    const loss = s.entries.filter((e) => e.kind === 'loss_surplus');
    assert.equal(loss.length, 1);
    assert.equal(loss[0].from === 'utility' ? loss[0].to : loss[0].from, 'dmo:clearing');
    const lossCents = loss[0].from === 'utility' ? -loss[0].cents : loss[0].cents;
    // Expected from the physics, not from the clearing's own formula: with one energy price (the
    // LMP) everywhere, what the deviations pay over the LMP is the loss component times each bus's
    // net withdrawal deviation; the interface is paid the LMP for the change in losses (AC, at the DA
    // and the RT schedule). Marginal losses priced on a convex loss curve: positive, second order.
    let perH = 0;
    for (const a of rtAwards) perH -= (a.deviationW! / 1e6) * at(a.bus).loss;
    for (const [bus, w] of Object.entries(rtLoads)) perH += ((w - loads[bus][12]) / 1e6) * at(bus).loss;
    perH -= ((run.lossesW! - (summary.lossesW as number[])[12]) / 1e6) * lmp;
    const expectedCents = (perH * 100) / 12;
    assert.ok(
      Math.abs(lossCents - expectedCents) <= 0.5,
      `loss surplus ${lossCents} c, expected ${expectedCents} c`,
    );
    // Well above what rounding the deviation lines could make.
    assert.ok(Math.abs(lossCents) > lines, `loss surplus ${lossCents} c`);
    // Each deviation line is rounded once (<= 0.5 c): what the DGO gets as congestion surplus.
    const congestion = s.totals.utility.byKind.congestion_surplus ?? 0;
    assert.ok(Math.abs(congestion) <= lines / 2, `congestion surplus ${congestion} c over ${lines} lines`);
  });

  it('sends the battery its DA relief call on top of its real-time energy award', async () => {
    const m = t.cloud.market!;
    const start = dayStart + 10 * HOUR_MS;
    const call = (await m.awards(dora, { all: true, market: 'DA', from: start, to: start + 1 })).find(
      (a) => a.resource === 'bat' && a.product === 'congestion_relief',
    )!;
    assert.ok(call.awardW > 200e3, `call ${call.awardW} W`);
    clock = start;
    const rt = await m.runRealTime(dora, {
      intervalStart: start,
      loadForecastW: Object.fromEntries(Object.entries(loads).map(([bus, w]) => [bus, w[10]])),
    });
    assert.equal(rt.balanced, true);
    const energy = (await m.awards(dora, { all: true, market: 'RT', from: start, to: start + 1 })).find(
      (a) => a.resource === 'bat',
    );
    const sent = rt.dispatch.find((d) => d.resource === 'bat')!;
    assert.equal(sent.awardW, (energy?.awardW ?? 0) + call.awardW);
    // Loads as forecast day ahead: no load deviation to settle (the call is not one: it was scheduled
    // and settled day ahead), and the interval's loss surplus is no more than rounding.
    const book = (await m.settlements(dora, { all: true, market: 'RT' })).entries.filter(
      (e) => e.period === start,
    );
    const loadLines = book.filter((e) => e.kind === 'rt_deviation' && e.ref?.startsWith('load@'));
    assert.deepEqual(loadLines, []);
    assert.ok(book.filter((e) => e.kind === 'loss_surplus').every((e) => e.cents <= 1));
    // The call is already in the grid: the real-time clearing does not replace it with generation.
    const gen = (await m.awards(dora, { all: true, market: 'RT', from: start, to: start + 1 })).find(
      (a) => a.resource === 'gen',
    )!;
    assert.ok(Math.abs(gen.awardW) < 1e3, `generator ${gen.awardW} W`);
  });
});
