import assert from 'node:assert/strict';
import { aggregate } from './aggregate.ts';
import type { Forecast } from './types.ts';

const member = (p10: number, p50: number, p90: number, kind: Forecast['kind'] = 'load'): Forecast => ({
  kind,
  modelVersion: 'test/1',
  issuedAt: 0,
  start: 0,
  stepMs: 900_000,
  mean: [p50, p50],
  p10: [p10, p10],
  p50: [p50, p50],
  p90: [p90, p90],
  details: {},
});

describe('aggregation to groups', () => {
  it('sums P50 and mean; ρ = 1 sums quantiles, ρ = 0 adds spreads in quadrature', () => {
    const members = [member(1, 2, 4), member(1, 2, 4), member(1, 2, 4), member(1, 2, 4)];
    const full = aggregate(members, { correlation: 1 });
    assert.deepEqual(full.p50, [8, 8]);
    assert.deepEqual(full.mean, [8, 8]);
    assert.deepEqual(full.p10, [4, 4]);
    assert.deepEqual(full.p90, [16, 16]);
    const indep = aggregate(members, { correlation: 0 });
    assert.equal(indep.p10[0], 8 - 2); // sqrt(4 × 1²)
    assert.equal(indep.p90[0], 8 + 4); // sqrt(4 × 2²)
    assert.equal(indep.members, 4);
  });

  it('keeps quantiles ordered and narrower than the sum with partial correlation', () => {
    const g = aggregate([member(0.5, 1, 3), member(2, 4, 5), member(0, 0.2, 1)]);
    assert.equal(g.correlation, 0.3);
    assert.ok(g.p10[0] <= g.p50[0] && g.p50[0] <= g.p90[0]);
    assert.ok(g.p10[0] > 0.5 + 2 + 0 && g.p90[0] < 3 + 5 + 1);
    assert.equal(aggregate([member(0, 1, 2, 'pv'), member(0, 1, 2, 'pv')]).correlation, 1);
  });

  it('refuses forecasts that do not line up', () => {
    assert.throws(() => aggregate([]), /no forecasts/);
    assert.throws(() => aggregate([member(0, 1, 2), { ...member(0, 1, 2), start: 900_000 }]), /share start/);
    assert.throws(() => aggregate([member(0, 1, 2), member(0, 1, 2, 'pv')]), /mixed kinds/);
    assert.throws(() => aggregate([member(0, 1, 2)], { correlation: 2 }), /correlation/);
  });
});
