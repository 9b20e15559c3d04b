import assert from 'node:assert/strict';
import { faultSeed, planFaults } from './fault-schedule.ts';

const options = {
  targets: { cloud: ['kill9', 'stop'] as const, 'edge:a': ['restart', 'stopkill'] as const },
  extraFaults: 8,
  gapMs: [2000, 5000] as [number, number],
  outageMs: [1500, 5000] as [number, number],
  commandTargets: ['a', 'b'],
  commandEveryMs: [1200, 2500] as [number, number],
  ttlSeconds: [2, 5] as [number, number],
};
const plan = (seed: number) =>
  planFaults({
    ...options,
    seed,
    targets: { cloud: [...options.targets.cloud], 'edge:a': [...options.targets['edge:a']] },
  });

describe('fault schedule', () => {
  it('draws every kind of a part class once, on any of its members', () => {
    const p = planFaults({
      ...options,
      seed: 7,
      extraFaults: 0,
      targets: { 'edge:a': ['kill9', 'stop'], 'edge:b': ['kill9', 'stop'], cloud: ['restart'] },
    });
    assert.deepEqual(p.faults.map((f) => `${f.kind} ${f.target.split(':')[0]}`).sort(), [
      'kill9 edge',
      'restart cloud',
      'stop edge',
    ]);
  });

  it('is the same plan for the same seed and a different one for another seed', () => {
    assert.deepEqual(plan(42), plan(42));
    assert.notDeepEqual(plan(42).faults, plan(43).faults);
  });

  it('keeps every fault, outage and command inside the stated bounds, one fault at a time', () => {
    for (const seed of [1, 2, 3, 99, 2 ** 31]) {
      const p = plan(seed);
      assert.equal(p.faults.length, 12);
      // Coverage: every kind of every part at least once.
      for (const want of ['kill9 cloud', 'stop cloud', 'restart edge:a', 'stopkill edge:a'])
        assert.ok(
          p.faults.some((f) => `${f.kind} ${f.target}` === want),
          `${want} in seed ${seed}`,
        );
      let end = 0;
      for (const f of p.faults) {
        assert.ok(f.atMs - end >= 2000 && f.atMs - end < 5000, `gap ${f.atMs - end}`);
        assert.ok(f.outageMs >= 1500 && f.outageMs < 5000);
        assert.ok(
          (f.target === 'cloud' && ['kill9', 'stop'].includes(f.kind)) ||
            (f.target === 'edge:a' && ['restart', 'stopkill'].includes(f.kind)),
          `${f.kind} ${f.target}`,
        );
        assert.equal(f.killAfterMs !== undefined, f.kind === 'stopkill');
        end = f.atMs + f.outageMs + (f.killAfterMs ?? 0);
      }
      assert.ok(p.durationMs > end);
      assert.ok(p.commands.length >= p.durationMs / 2500 - 1);
      for (const c of p.commands) {
        assert.ok(c.atMs < p.durationMs);
        assert.ok(Number.isInteger(c.ttlSeconds) && c.ttlSeconds >= 2 && c.ttlSeconds <= 5);
        assert.ok(['a', 'b'].includes(c.target));
      }
    }
  });

  it('takes the seed from GRIDLAYER_FAULT_SEED and names the variable when it is not a seed', () => {
    assert.equal(faultSeed({ GRIDLAYER_FAULT_SEED: '12345' }), 12345);
    assert.throws(() => faultSeed({ GRIDLAYER_FAULT_SEED: 'abc' }), /GRIDLAYER_FAULT_SEED/);
    assert.throws(() => faultSeed({ GRIDLAYER_FAULT_SEED: '-1' }), /GRIDLAYER_FAULT_SEED/);
    const fresh = faultSeed({});
    assert.ok(Number.isInteger(fresh) && fresh >= 0);
  });
});
