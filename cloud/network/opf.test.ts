import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { chain, loadIeee33 } from '../../test-support/network/feeders.ts';
import type { Offer } from './offers.ts';
import { type DlmpResult, OpfError, solveDlmp, solveDlmpSchedule } from './opf.ts';
import { solvePowerFlow } from './powerflow.ts';
import { syntheticFeeder } from './synthetic.ts';

const offer = (
  bus: string,
  direction: 'up' | 'down',
  kw: number,
  price: number,
  id = `${direction}-${bus}`,
): Offer => ({
  id,
  bus,
  direction,
  quantity_w: kw * 1e3,
  price_per_mwh: price,
});
const price = (r: DlmpResult, bus: string) => r.buses.find((b) => b.bus === bus)!;
const close = (a: number, b: number, tol: number, what = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

/** The OPF's own state agrees with the exact AC power flow at its dispatch. */
function assertMatchesExactPowerFlow(r: DlmpResult) {
  assert.ok(r.converged, 'loss linearization converged');
  assert.ok(r.check.max_voltage_error_pu < 1e-6, `voltage error ${r.check.max_voltage_error_pu}`);
  assert.ok(r.check.import_error_w < 1, `import error ${r.check.import_error_w} W`);
  assert.ok(
    r.check.decomposition_residual_per_mwh < 1e-6,
    `decomposition residual ${r.check.decomposition_residual_per_mwh}`,
  );
  assert.deepEqual(r.check.violations, []);
  for (const b of r.buses) {
    close(
      b.energy_per_mwh + b.loss_per_mwh + b.congestion_per_mwh + b.voltage_per_mwh,
      b.dlmp_per_mwh,
      1e-6,
      `components of bus ${b.bus}`,
    );
  }
}

describe('linearized OPF and DLMPs', () => {
  it('with no binding limit every DLMP is the interface price plus its loss component', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const r = await solveDlmp(net, { lmp_per_mwh: 50 });
    assertMatchesExactPowerFlow(r);
    assert.deepEqual(r.binding, { voltage: [], thermal: [] });
    for (const b of r.buses) {
      assert.equal(b.energy_per_mwh, 50);
      close(b.dlmp_per_mwh, 50 + b.loss_per_mwh, 1e-9, `bus ${b.bus}`);
      close(b.congestion_per_mwh, 0, 1e-9);
      close(b.voltage_per_mwh, 0, 1e-9);
    }
    close(price(r, '1').dlmp_per_mwh, 50, 1e-9);
    // Losses grow with electrical distance along the main trunk.
    const trunk = ['2', '3', '4', '5', '6', '9', '12', '15', '18'].map((b) => price(r, b).loss_per_mwh);
    for (let k = 1; k < trunk.length; k++)
      assert.ok(trunk[k] > trunk[k - 1], `loss component along trunk: ${trunk}`);
    // And the OPF's dispatch-free power flow is the exact base case.
    close(r.losses_w, 202677, 5);
  });

  it('the loss component is the marginal loss of the exact power flow', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const lmp = 40;
    const r = await solveDlmp(net, { lmp_per_mwh: lmp });
    const base = solvePowerFlow(net).slack_p_w;
    for (const bus of ['7', '18', '25', '33']) {
      const dP = 1e3; // 1 kW more demand at the bus
      const more = solvePowerFlow(net, { injections: { [bus]: { p_w: -dP, q_var: 0 } } }).slack_p_w;
      const marginalLoss = (more - base) / dP - 1;
      close(price(r, bus).loss_per_mwh, lmp * marginalLoss, 0.01 * lmp * marginalLoss + 1e-3, `bus ${bus}`);
    }
  });

  it('a binding line limit raises the prices downstream of it, to the marginal local offer', async () => {
    const net = chain({
      sections: 4,
      r_ohm: 0.3,
      x_ohm: 0.3,
      load_w: 500e3,
      load_var: 100e3,
      ratings: { '1-2': 1.2e6 },
    });
    const r = await solveDlmp(net, { lmp_per_mwh: 30, offers: [offer('4', 'up', 1000, 80)] });
    assertMatchesExactPowerFlow(r);
    assert.deepEqual(
      r.binding.thermal.map((t) => t.branch),
      ['1-2'],
    );
    assert.ok(r.binding.thermal[0].shadow_per_mwh > 0);
    const loading = r.powerflow.branches.find((b) => b.id === '1-2')!.loading_pct!;
    assert.ok(loading <= 100.01 && loading > 99.9, `loading ${loading}`);
    // The local offer runs only as much as the limit needs, so it is marginal and sets the price there.
    const cleared = r.offers[0].cleared_w;
    assert.ok(cleared > 100e3 && cleared < 1000e3, `cleared ${cleared}`);
    close(price(r, '4').dlmp_per_mwh, 80, 1e-6);
    for (const up of ['0', '1']) {
      // Upstream only a second-order effect remains (voltage at bus 1 changes the current in 1-2).
      close(price(r, up).congestion_per_mwh, 0, 0.01);
      assert.ok(price(r, up).dlmp_per_mwh < 31);
    }
    for (const down of ['2', '3', '4']) {
      assert.ok(price(r, down).congestion_per_mwh > 40, `congestion at ${down}`);
      assert.ok(price(r, down).dlmp_per_mwh > 75, `dlmp at ${down}`);
      close(price(r, down).voltage_per_mwh, 0, 1e-9);
    }
    // Without the rating the cheap interface supplies everything.
    const free = await solveDlmp(
      chain({ sections: 4, r_ohm: 0.3, x_ohm: 0.3, load_w: 500e3, load_var: 100e3 }),
      {
        lmp_per_mwh: 30,
        offers: [offer('4', 'up', 1000, 80)],
      },
    );
    assert.equal(free.offers[0].cleared_w, 0);
    assert.ok(price(free, '4').dlmp_per_mwh < 31);
  });

  it('a binding voltage limit shows in the voltage component', async () => {
    const net = chain({ sections: 10, r_ohm: 0.5, x_ohm: 0.4, load_w: 200e3, load_var: 80e3, vmin_pu: 0.96 });
    assert.ok(solvePowerFlow(net).min_voltage.v_pu < 0.96);
    const r = await solveDlmp(net, { lmp_per_mwh: 30, offers: [offer('10', 'up', 1000, 60)] });
    assertMatchesExactPowerFlow(r);
    assert.deepEqual(r.binding.thermal, []);
    assert.deepEqual(
      r.binding.voltage.map((v) => [v.bus, v.limit]),
      [['10', 'min']],
    );
    close(r.powerflow.min_voltage.v_pu, 0.96, 1e-6);
    close(price(r, '10').dlmp_per_mwh, 60, 1e-6);
    for (let i = 1; i <= 10; i++) {
      const b = price(r, String(i));
      assert.ok(b.voltage_per_mwh > 0, `voltage component at ${i}`);
      close(b.congestion_per_mwh, 0, 1e-9);
      if (i > 1)
        assert.ok(b.voltage_per_mwh > price(r, String(i - 1)).voltage_per_mwh, 'grows towards the weak end');
    }
  });

  it('clears down bids where the DLMP is below their price', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const bid = offer('14', 'down', 100, 20);
    const cheap = await solveDlmp(net, { lmp_per_mwh: 10, offers: [bid] });
    close(cheap.offers[0].cleared_w, 100e3, 1e-3);
    assertMatchesExactPowerFlow(cheap);
    const dear = await solveDlmp(net, { lmp_per_mwh: 50, offers: [bid] });
    assert.equal(dear.offers[0].cleared_w, 0);
    // More consumption at bus 14 shows in the exact import: load + the bid + losses.
    close(cheap.import_w, 3715e3 + 100e3 + cheap.losses_w, 1);
  });

  it('says when no dispatch of the offers can meet the limits, with the base-case violations', async () => {
    const net = await loadIeee33(); // vmin 0.95: the base case is far below it
    await assert.rejects(
      solveDlmp(net, { lmp_per_mwh: 40, offers: [offer('18', 'up', 50, 90)] }),
      (e: unknown) =>
        e instanceof OpfError &&
        /infeasible/.test(e.message) &&
        e.violations.some((v) => v.kind === 'voltage' && v.bus === '18'),
    );
  });

  it('prices 24 hourly intervals on a 100+-bus feeder', async () => {
    const net = syntheticFeeder({ buses: 120, seed: 7, rating_va: 4.0e6 });
    const hour = 3600e3;
    const day = Date.UTC(2025, 5, 1);
    const profile = Array.from(
      { length: 24 },
      (_, h) => 0.6 + 0.5 * Math.max(0, Math.sin(((h - 6) * Math.PI) / 14)),
    );
    const offers = [offer('b50', 'up', 700, 70), offer('b119', 'up', 500, 95), offer('b30', 'down', 300, 15)];
    const r = await solveDlmpSchedule(net, {
      offers,
      intervals: profile.map((f, h) => ({
        start: day + h * hour,
        lmp_per_mwh: 20 + 30 * f,
        loads: Object.fromEntries(net.loads.map((l) => [l.bus, { p_w: l.p_w * f, q_var: l.q_var * f }])),
      })),
    });
    assert.equal(r.intervals.length, 24);
    for (const iv of r.intervals) assertMatchesExactPowerFlow(iv);
    assert.deepEqual(
      r.intervals.map((iv) => iv.start),
      profile.map((_, h) => day + h * hour),
    );
    // At the evening peak the feeder head is congested and local offers run.
    const peak = r.intervals[profile.indexOf(Math.max(...profile))];
    assert.ok(peak.binding.thermal.length > 0, 'peak congestion');
    assert.ok(peak.offers.some((o) => o.direction === 'up' && o.cleared_w > 0));
    const night = r.intervals[0];
    assert.deepEqual(night.binding.thermal, []);
  });
});
