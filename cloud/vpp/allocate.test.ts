import assert from 'node:assert/strict';
import { allocate } from './allocate.ts';

const batteries = [
  { id: 'b1', baselineW: 0, minW: -5000, maxW: 5000 },
  { id: 'b2', baselineW: 0, minW: -5000, maxW: 5000 },
  { id: 'b3', baselineW: 1000, minW: -3000, maxW: 3000 },
];

describe('VPP allocation (HiGHS LP)', () => {
  it('meets a reachable target exactly and spreads it by headroom', async () => {
    const a = await allocate(batteries, 6000);
    assert.equal(a.shortfallW, 0);
    assert.equal(a.deliveredDeltaW, 6000);
    const sum = [...a.setpoints.entries()].reduce(
      (s, [id, w]) => s + w - batteries.find((b) => b.id === id)!.baselineW,
      0,
    );
    assert.equal(sum, 6000);
    // Up-headroom is 5000, 5000, 2000 (12000 in all): half of each device's headroom.
    assert.equal(a.setpoints.get('b1'), 2500);
    assert.equal(a.setpoints.get('b2'), 2500);
    assert.equal(a.setpoints.get('b3'), 2000);
    assert.ok(Math.abs(a.headroomUsed - 0.5) < 1e-6);
  });

  it('never sets a device outside its limits and reports a shortfall it cannot meet', async () => {
    const a = await allocate(batteries, 20000);
    assert.equal(a.shortfallW, 8000);
    assert.deepEqual([...a.setpoints.values()], [5000, 5000, 3000]);
    const down = await allocate(batteries, -30000);
    assert.deepEqual([...down.setpoints.values()], [-5000, -5000, -3000]);
    assert.equal(down.shortfallW, -30000 + 14000);
  });

  it('moves the cheapest devices first', async () => {
    const a = await allocate(
      [
        { id: 'cheap', baselineW: 0, minW: 0, maxW: 4000, costPerKwh: 0.01 },
        { id: 'dear', baselineW: 0, minW: 0, maxW: 4000, costPerKwh: 0.2 },
      ],
      5000,
    );
    assert.equal(a.setpoints.get('cheap'), 4000);
    assert.equal(a.setpoints.get('dear'), 1000);
  });

  it('refuses nonsense limits with a clear error', async () => {
    await assert.rejects(allocate([{ id: 'x', baselineW: 0, minW: 10, maxW: -10 }], 0), /device x: limits/);
    await assert.rejects(allocate(batteries, Number.NaN), /finite/);
  });
});
