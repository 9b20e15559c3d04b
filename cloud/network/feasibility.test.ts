import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { ZodError } from 'zod';
import { chain, loadIeee33, modify } from '../../test-support/network/feeders.ts';
import { checkFeasibility } from './feasibility.ts';

const hour = 3600e3;
const t0 = Date.UTC(2025, 0, 15);

describe('feasibility service', () => {
  it('passes a schedule that keeps every limit, with per-interval figures', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.9 });
    const report = checkFeasibility(net, {
      intervals: [
        { start: t0, injections: {} },
        { start: t0 + hour, injections: { 18: { p_w: 300e3, q_var: 0 }, 33: { p_w: 200e3, q_var: 50e3 } } },
      ],
    });
    assert.equal(report.feasible, true);
    assert.equal(report.violation_count, 0);
    assert.equal(report.intervals[0].min_voltage?.bus, '18');
    assert.ok(report.intervals[1].min_voltage!.v_pu > report.intervals[0].min_voltage!.v_pu);
    assert.ok(report.intervals[1].losses_w! < report.intervals[0].losses_w!);
  });

  it('names the interval, bus and limit of voltage violations', async () => {
    const net = await loadIeee33({ default_vmin_pu: 0.92 });
    const report = checkFeasibility(net, {
      intervals: [
        { start: t0, injections: { 18: { p_w: 400e3, q_var: 0 } } },
        { start: t0 + hour, injections: {} },
        { start: t0 + 2 * hour, injections: { 18: { p_w: 4000e3, q_var: 0 } } },
      ],
    });
    assert.equal(report.feasible, false);
    assert.deepEqual(
      report.intervals.map((iv) => iv.feasible),
      [true, false, false],
    );
    const low = report.intervals[1].violations;
    assert.ok(
      low.length > 0 && low.every((v) => v.kind === 'voltage' && v.limit === 'min' && v.limit_pu === 0.92),
    );
    assert.ok(low.some((v) => v.kind === 'voltage' && v.bus === '18'));
    const high = report.intervals[2].violations;
    assert.ok(high.some((v) => v.kind === 'voltage' && v.bus === '18' && v.limit === 'max' && v.v_pu > 1.05));
    assert.equal(report.violation_count, low.length + high.length);
  });

  it('names overloaded branches, including reverse flow from DER export', () => {
    const net = chain({
      sections: 3,
      r_ohm: 0.2,
      x_ohm: 0.2,
      load_w: 300e3,
      load_var: 50e3,
      ratings: { '1-2': 800e3 },
    });
    const report = checkFeasibility(net, {
      intervals: [
        { start: t0, injections: {} },
        { start: t0 + hour, injections: { 3: { p_w: 1500e3, q_var: 0 } } },
        { start: t0 + 2 * hour, injections: {}, loads: { 2: { p_w: 700e3, q_var: 100e3 } } },
      ],
    });
    assert.deepEqual(
      report.intervals.map((iv) => iv.feasible),
      [true, false, false],
    );
    for (const iv of report.intervals.slice(1)) {
      assert.deepEqual(
        iv.violations.map((v) => v.kind === 'thermal' && v.branch),
        ['1-2'],
      );
    }
    assert.equal(report.intervals[0].max_loading?.branch, '1-2');
    assert.ok(report.intervals[0].max_loading!.loading_pct < 100);
  });

  it('reports a dispatch that collapses the feeder as a power-flow violation', () => {
    const net = chain({ sections: 3, r_ohm: 1, x_ohm: 1, load_w: 100e3, load_var: 0 });
    const report = checkFeasibility(net, {
      intervals: [{ start: t0, loads: { 3: { p_w: 50e6, q_var: 0 } } }],
    });
    assert.equal(report.feasible, false);
    assert.equal(report.intervals[0].violations[0].kind, 'power_flow');
  });

  it('rejects malformed schedules and unknown buses', async () => {
    const net = modify(await loadIeee33(), {});
    assert.throws(() => checkFeasibility(net, { intervals: [] }), ZodError);
    assert.throws(
      () => checkFeasibility(net, { intervals: [{ start: t0, injections: { 18: { p_w: Number.NaN } } }] }),
      ZodError,
    );
    assert.throws(
      () => checkFeasibility(net, { intervals: [{ start: t0, injections: { 99: { p_w: 1, q_var: 0 } } }] }),
      /interval 0 .*unknown bus "99"/,
    );
  });
});
