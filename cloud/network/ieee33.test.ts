import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { loadIeee33, modify } from '../../test-support/network/feeders.ts';
import { solvePowerFlow } from './powerflow.ts';

// Published base-case results of the Baran & Wu (1989) 33-bus feeder: total real losses 202.67 kW,
// and the bus voltage profile (pu, 4 decimals) as widely reproduced from the paper's data.
const PUBLISHED_LOSS_KW = 202.67;
const PUBLISHED_V: Record<string, number> = {
  1: 1.0,
  2: 0.997,
  3: 0.9829,
  4: 0.9755,
  5: 0.9681,
  6: 0.9497,
  7: 0.9462,
  8: 0.9413,
  9: 0.9351,
  10: 0.9292,
  11: 0.9284,
  12: 0.9269,
  13: 0.9208,
  14: 0.9185,
  15: 0.9171,
  16: 0.9157,
  17: 0.9137,
  18: 0.9131,
  19: 0.9965,
  20: 0.9929,
  21: 0.9922,
  22: 0.9916,
  23: 0.9794,
  24: 0.9727,
  25: 0.9694,
  26: 0.9477,
  27: 0.9452,
  28: 0.9337,
  29: 0.9255,
  30: 0.922,
  31: 0.9178,
  32: 0.9169,
  33: 0.9166,
};

describe('IEEE 33-bus feeder (Baran & Wu)', () => {
  it('reproduces the published losses within 0.1% and the minimum voltage at bus 18 within 0.0005 pu', async () => {
    const pf = solvePowerFlow(await loadIeee33());
    assert.ok(
      Math.abs(pf.losses_w / 1000 - PUBLISHED_LOSS_KW) / PUBLISHED_LOSS_KW < 0.001,
      `losses ${pf.losses_w / 1000} kW`,
    );
    assert.equal(pf.min_voltage.bus, '18');
    assert.ok(Math.abs(pf.min_voltage.v_pu - 0.9131) < 0.0005, `min voltage ${pf.min_voltage.v_pu}`);
    assert.equal(pf.max_voltage.bus, '1');
  });

  it('reproduces every published bus voltage within 0.0005 pu', async () => {
    const pf = solvePowerFlow(await loadIeee33());
    assert.equal(pf.buses.length, 33);
    for (const b of pf.buses) {
      assert.ok(
        Math.abs(b.v_pu - PUBLISHED_V[b.bus]) < 0.0005,
        `bus ${b.bus}: ${b.v_pu} vs ${PUBLISHED_V[b.bus]}`,
      );
    }
  });

  it('balances power: import = load + losses, and branch losses sum to the total', async () => {
    const pf = solvePowerFlow(await loadIeee33());
    assert.ok(Math.abs(pf.slack_p_w - (3715e3 + pf.losses_w)) < 1, `import ${pf.slack_p_w}`);
    assert.ok(Math.abs(pf.slack_q_var - (2300e3 + pf.losses_var)) < 1);
    const sum = pf.branches.reduce((s, b) => s + b.loss_w, 0);
    assert.ok(Math.abs(sum - pf.losses_w) < 1e-6);
    // Open tie switches carry nothing.
    const tie = pf.branches.find((b) => b.from_bus === '18' && b.to_bus === '33');
    assert.deepEqual([tie?.p_w, tie?.loss_w], [0, 0]);
  });

  it('follows switching: the optimal reconfiguration of the paper drops losses to ~139.5 kW', async () => {
    const base = await loadIeee33();
    const open = new Set(['7-8', '9-10', '14-15', '32-33', '25-29']);
    const net = modify(base, { branches: base.branches.map((b) => ({ ...b, in_service: !open.has(b.id) })) });
    const pf = solvePowerFlow(net);
    assert.ok(Math.abs(pf.losses_w / 1000 - 139.55) < 0.5, `losses ${pf.losses_w / 1000} kW`);
    assert.equal(pf.min_voltage.bus, '32');
    assert.ok(Math.abs(pf.min_voltage.v_pu - 0.9378) < 0.0005);
  });
});
