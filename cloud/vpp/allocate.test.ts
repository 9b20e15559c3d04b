import assert from 'node:assert/strict';
import { getHighs } from '../lp/highs.ts';
import { allocate, type DeviceFlexibility } from './allocate.ts';

/**
 * The allocation as a linear program solved by HiGHS (the formulation allocate.ts solved before it
 * computed the optimum directly): the oracle for the closed form. Returns the LP's optimal cost
 * (Σ cost·|move| in W), its delivered change, shortfall and common headroom fraction z.
 */
async function lpOptimum(devices: DeviceFlexibility[], targetW: number) {
  const k = 1 / 1000;
  const rooms = devices.map((d) => {
    const base = Math.min(d.maxW, Math.max(d.minW, d.baselineW));
    return { up: d.maxW - base, down: base - d.minW };
  });
  const obj: string[] = [];
  const cons: string[] = [];
  const bounds: string[] = [];
  const bal: string[] = [];
  devices.forEach((d, i) => {
    const c = (d.costPerKwh ?? 0) + 1e-6;
    obj.push(`+ ${c} u${i} + ${c} d${i}`);
    bal.push(`+ u${i} - d${i}`);
    bounds.push(`0 <= u${i} <= ${rooms[i].up * k}`, `0 <= d${i} <= ${rooms[i].down * k}`);
    if (rooms[i].up > 0) cons.push(`su${i}: u${i} - ${rooms[i].up * k} z <= 0`);
    if (rooms[i].down > 0) cons.push(`sd${i}: d${i} - ${rooms[i].down * k} z <= 0`);
  });
  obj.push('+ 0.00001 z + 1000000 sp + 1000000 sn');
  const lp = [
    'Minimize',
    ` obj: ${obj.join(' ')}`,
    'Subject To',
    ` target: ${bal.join(' ')} + sp - sn = ${targetW * k}`,
    ...cons.map((c) => ` ${c}`),
    'Bounds',
    ...bounds.map((b) => ` ${b}`),
    ' 0 <= z <= 1',
    ' sp >= 0',
    ' sn >= 0',
    'End',
  ].join('\n');
  const sol = (await getHighs()).solve(lp, { output_flag: false } as never);
  assert.equal(sol.Status, 'Optimal');
  const col = (n: string) => (sol.Columns[n]?.Primal ?? 0) / k;
  let cost = 0;
  let delivered = 0;
  devices.forEach((d, i) => {
    cost += (d.costPerKwh ?? 0) * (col(`u${i}`) + col(`d${i}`));
    delivered += col(`u${i}`) - col(`d${i}`);
  });
  return { cost, delivered, shortfall: col('sp') - col('sn'), z: sol.Columns.z?.Primal ?? 0 };
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing case can be replayed. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const batteries = [
  { id: 'b1', baselineW: 0, minW: -5000, maxW: 5000 },
  { id: 'b2', baselineW: 0, minW: -5000, maxW: 5000 },
  { id: 'b3', baselineW: 1000, minW: -3000, maxW: 3000 },
];

describe('VPP allocation (merit order; the HiGHS LP as oracle)', () => {
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

  it('finds the same optimum as the linear program solved by HiGHS (cost, delivered, shortfall, spread)', async () => {
    const r = rng(17);
    for (let n = 0; n < 40; n++) {
      const devices: DeviceFlexibility[] = Array.from({ length: 1 + Math.floor(r() * 25) }, (_, i) => {
        const minW = -Math.round(r() * 6000);
        const maxW = Math.round(r() * 6000);
        return {
          id: `d${i}`,
          // Sometimes outside its range (clamped), sometimes without a cost.
          baselineW: Math.round(minW - 500 + r() * (maxW - minW + 1000)),
          minW,
          maxW,
          costPerKwh: [undefined, 0.02, 0.02, 0.2, 0.05][Math.floor(r() * 5)],
        };
      });
      const total = devices.reduce((a, d) => a + d.maxW - d.minW, 0);
      const target = Math.round((r() - 0.5) * total * 1.2);
      const lp = await lpOptimum(devices, target);
      const a = await allocate(devices, target);
      let cost = 0;
      let delta = 0;
      for (const d of devices) {
        const base = Math.min(d.maxW, Math.max(d.minW, d.baselineW));
        const sp = a.setpoints.get(d.id) as number;
        assert.ok(sp >= d.minW && sp <= d.maxW, `case ${n}: ${d.id} at ${sp} outside [${d.minW}, ${d.maxW}]`);
        cost += (d.costPerKwh ?? 0) * Math.abs(sp - base);
        delta += sp - base;
      }
      // Setpoints are rounded to whole watts: up to 0.5 W per device.
      const tol = devices.length;
      assert.ok(Math.abs(cost - lp.cost) <= tol * 0.2 + 1e-6, `case ${n}: cost ${cost} vs LP ${lp.cost}`);
      assert.ok(Math.abs(delta - lp.delivered) <= tol, `case ${n}: delivered ${delta} vs LP ${lp.delivered}`);
      assert.ok(
        Math.abs(a.shortfallW - lp.shortfall) <= 1,
        `case ${n}: shortfall ${a.shortfallW} vs ${lp.shortfall}`,
      );
      assert.ok(Math.abs(a.headroomUsed - lp.z) <= 1e-4, `case ${n}: z ${a.headroomUsed} vs LP ${lp.z}`);
    }
  });

  it('allocates a 10,000-site fleet (20,000 devices) in one pass', async () => {
    const devices = Array.from({ length: 20_000 }, (_, i) => ({
      id: `d${i}`,
      baselineW: 0,
      minW: -5000,
      maxW: 5000,
      costPerKwh: i % 2 ? 0.02 : 0.2,
    }));
    // 10,000 cheap devices × 5 kW = 50 MW; 60 MW takes all of them, and the other 10 MW is a fifth of
    // the 50 MW the dear ones have: 1 kW each.
    const a = await allocate(devices, 60_000_000);
    assert.equal(a.shortfallW, 0);
    assert.equal(a.setpoints.get('d1'), 5000);
    assert.equal(a.setpoints.get('d0'), 1000);
  });
});
