import assert from 'node:assert/strict';
import { ExceptionFilter } from './exceptions.ts';

const T0 = Date.UTC(2026, 5, 21, 12);

describe('report by exception: deadband and heartbeat (ExceptionFilter)', () => {
  it('sends the first sample whole, then only points beyond their deadband, compared with the last reported value', () => {
    // Defaults: w 50 W, v 1 V, soc_pct 0.5 %.
    const f = new ExceptionFilter({ heartbeatMs: 10_000 });
    const at = (dt: number, values: Record<string, number>) =>
      f.filter({ ts: T0 + dt, device: 'bat1', values }, T0 + dt);
    assert.deepEqual(at(0, { w: 1000, v: 230, soc_pct: 50 }), {
      heartbeat: true,
      sample: { ts: T0, device: 'bat1', values: { w: 1000, v: 230, soc_pct: 50 } },
    });
    assert.equal(at(1000, { w: 1040, v: 230.9, soc_pct: 50.5 }), undefined, 'all within deadband (|Δ| ≤ db)');
    // w drifted 40 W then 20 W more: 1060 − 1000 = 60 > 50 against the last *reported* 1000.
    assert.deepEqual(at(2000, { w: 1060, v: 230.9, soc_pct: 50.5 })?.sample.values, { w: 1060 });
    assert.equal(at(3000, { w: 1100, v: 230, soc_pct: 50 }), undefined, '1100 − 1060 = 40 ≤ 50');
    assert.deepEqual(at(4000, { w: 1100, v: 228.5, soc_pct: 51 })?.sample.values, { v: 228.5, soc_pct: 51 });
  });

  it('sends every point again at the heartbeat, and a point that appears or changes quality at once', () => {
    const f = new ExceptionFilter({ heartbeatMs: 5000, deadband: { w: 500 } });
    const at = (dt: number, values: Record<string, number>, quality?: Record<string, 'stale'>) =>
      f.filter({ ts: T0 + dt, device: 'pv1', values, ...(quality && { quality }) }, T0 + dt);
    assert.equal(at(0, { w: 3000 })?.heartbeat, true);
    assert.equal(at(1000, { w: 3400 }), undefined, 'override: 400 ≤ 500');
    assert.deepEqual(at(2000, { w: 3400, hz: 50 })?.sample.values, { hz: 50 }, 'a new point');
    assert.deepEqual(at(3000, { w: 3400, hz: 50 }, { w: 'stale', hz: 'stale' })?.sample, {
      ts: T0 + 3000,
      device: 'pv1',
      values: { w: 3400, hz: 50 },
      quality: { w: 'stale', hz: 'stale' },
    });
    assert.deepEqual(at(4000, { w: 3400, hz: 50 })?.sample.values, { w: 3400, hz: 50 }, 'good again');
    assert.equal(at(4999, { w: 3400, hz: 50 }), undefined);
    // 5000 ms after the last heartbeat (at 0): whole sample, unchanged points included.
    assert.deepEqual(at(5000, { w: 3400, hz: 50 }), {
      heartbeat: true,
      sample: { ts: T0 + 5000, device: 'pv1', values: { w: 3400, hz: 50 } },
    });
    assert.equal(at(6000, { w: 3400, hz: 50 }), undefined);
  });

  it('reports a value withheld as invalid (quality only) once, and the next valid value as new', () => {
    const f = new ExceptionFilter({ heartbeatMs: 60_000 });
    const at = (dt: number, values: Record<string, number>, quality?: Record<string, 'invalid'>) =>
      f.filter({ ts: T0 + dt, device: 'm', values, ...(quality && { quality }) }, T0 + dt);
    at(0, { w: 1000, hz: 50 });
    assert.deepEqual(at(1000, { hz: 50 }, { w: 'invalid' })?.sample, {
      ts: T0 + 1000,
      device: 'm',
      values: {},
      quality: { w: 'invalid' },
    });
    assert.equal(at(2000, { hz: 50 }, { w: 'invalid' }), undefined, 'still invalid: nothing new');
    // Valid again at the value it had before it was withheld: reported (quality moved, value new).
    assert.deepEqual(at(3000, { w: 1000, hz: 50 })?.sample.values, { w: 1000 });
  });

  it('keeps each device apart, and a reset device sends its next sample whole', () => {
    const f = new ExceptionFilter({ heartbeatMs: 60_000 });
    f.filter({ ts: T0, device: 'a', values: { w: 0 } }, T0);
    assert.equal(f.filter({ ts: T0, device: 'b', values: { w: 0 } }, T0)?.heartbeat, true);
    assert.equal(f.filter({ ts: T0 + 1, device: 'a', values: { w: 0 } }, T0 + 1), undefined);
    f.reset('a');
    assert.equal(f.filter({ ts: T0 + 2, device: 'a', values: { w: 0 } }, T0 + 2)?.heartbeat, true);
  });
});
