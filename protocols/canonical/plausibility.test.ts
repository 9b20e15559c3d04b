import assert from 'node:assert/strict';
import { implausible, nameplatePowerW } from './plausibility.ts';
import { CANONICAL_POINT_NAMES, CANONICAL_POINTS } from './points.ts';

describe('canonical plausibility ranges', () => {
  it('every canonical point has a range with min < max', () => {
    for (const p of CANONICAL_POINT_NAMES) {
      const r = CANONICAL_POINTS[p];
      assert.ok(Number.isFinite(r.min) && Number.isFinite(r.max) && r.min < r.max, p);
    }
  });

  it('refuses values outside the physical ranges, with the unit, and keeps the edges', () => {
    assert.equal(implausible('soc_pct', -500), 'soc_pct=-500 outside 0..100 %');
    assert.equal(implausible('soc_pct', 100.5), 'soc_pct=100.5 outside 0..100 %');
    assert.equal(implausible('soc_pct', 0), undefined);
    assert.equal(implausible('soc_pct', 100), undefined);
    assert.equal(implausible('v', -1), 'v=-1 outside 0..50000 V');
    assert.equal(implausible('pf', -1), undefined);
    assert.equal(implausible('pf', 1.01), 'pf=1.01 outside -1..1');
    assert.equal(implausible('hz', 0), 'hz=0 outside 40..70 Hz');
    assert.equal(implausible('w', 1e308), 'w=1e+308 outside -100000000..100000000 W');
    assert.equal(implausible('w', -1e8), undefined);
    assert.equal(implausible('w', Number.POSITIVE_INFINITY), 'w: not a finite number');
    assert.equal(implausible('temp_c', Number.NaN), 'temp_c: not a finite number');
    // Points outside the canonical set have no range (they are quarantined as unknown elsewhere).
    assert.equal(implausible('not_a_point', 1e300), undefined);
  });

  it('bounds |w| by the nameplate × 1.5 when one is known', () => {
    const np = nameplatePowerW({ w_charge_max: 3000, w_discharge_max: 5000, wh_capacity: 10_000 });
    assert.equal(np, 5000);
    assert.equal(implausible('w', -7500, np), undefined);
    assert.equal(implausible('w', -7501, np), 'w=-7501 beyond nameplate 5000 W × 1.5');
    assert.equal(implausible('w', 7600, np), 'w=7600 beyond nameplate 5000 W × 1.5');
    assert.equal(nameplatePowerW({ wh_capacity: 10_000 }), undefined);
    assert.equal(nameplatePowerW({ w_max: 0 }), undefined);
    assert.equal(implausible('w', 50_000, undefined), undefined);
  });
});
