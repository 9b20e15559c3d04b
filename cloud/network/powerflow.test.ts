import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { chain, loadIeee33, modify } from '../../test-support/network/feeders.ts';
import { buildNetwork, NetworkError } from './model.ts';
import { PowerFlowError, solvePowerFlow } from './powerflow.ts';

describe('radial power flow', () => {
  it('matches the closed-form two-bus solution', () => {
    const net = chain({ sections: 1, r_ohm: 1.5, x_ohm: 2.5, load_w: 2e6, load_var: 1e6 });
    const pf = solvePowerFlow(net);
    // |V2|^4 + (2(RP+XQ) - |V1|^2)|V2|^2 + |Z|^2 |S|^2 = 0, everything per unit.
    const zb = 12.47e3 ** 2 / 1e6;
    const [R, X, P, Q] = [1.5 / zb, 2.5 / zb, 2, 1];
    const b = 2 * (R * P + X * Q) - 1;
    const c = (R * R + X * X) * (P * P + Q * Q);
    const v2 = Math.sqrt((-b + Math.sqrt(b * b - 4 * c)) / 2);
    const got = pf.buses.find((x) => x.bus === '1')!.v_pu;
    assert.ok(Math.abs(got - v2) < 1e-8, `${got} vs ${v2}`);
    // Losses = R |I|^2 with |I| = |S| / |V2|.
    const loss = (R * (P * P + Q * Q)) / (v2 * v2);
    assert.ok(Math.abs(pf.losses_w / 1e6 - loss) < 1e-8);
  });

  it('reports flows in the CSV orientation of each branch, whatever the tree direction', async () => {
    const base = await loadIeee33();
    const flipped = modify(base, {
      branches: base.branches.map((b) =>
        b.id === '5-6' ? { ...b, id: '6-5', from_bus: b.to_bus, to_bus: b.from_bus } : { ...b },
      ),
    });
    const a = solvePowerFlow(base).branches.find((b) => b.id === '5-6')!;
    const f = solvePowerFlow(flipped).branches.find((b) => b.id === '6-5')!;
    // Measured at the from end: the flipped branch sees the receiving end, negated.
    assert.ok(a.p_w > 0);
    assert.ok(Math.abs(f.p_w + (a.p_w - a.loss_w)) < 1e-3);
    assert.ok(Math.abs(f.loss_w - a.loss_w) < 1e-6);
  });

  it('DER injection and schedule overrides enter the balance with the canonical sign', async () => {
    const net = await loadIeee33();
    const base = solvePowerFlow(net);
    const withPv = solvePowerFlow(net, { injections: { 18: { p_w: 500e3, q_var: 0 } } });
    assert.ok(withPv.losses_w < base.losses_w);
    assert.ok(Math.abs(withPv.slack_p_w - (3715e3 - 500e3 + withPv.losses_w)) < 1);
    const shed = solvePowerFlow(net, { loads: { 30: { p_w: 0, q_var: 0 } } });
    assert.ok(Math.abs(shed.slack_q_var - (2300e3 - 600e3 + shed.losses_var)) < 1);
    // The same DER given as a network element gives the same answer.
    const der = modify(net, { ders: [{ bus: '18', p_w: 500e3, q_var: 0 }] });
    assert.ok(Math.abs(solvePowerFlow(der).losses_w - withPv.losses_w) < 1e-6);
  });

  it('fails with a clear error instead of returning a wrong answer when the feeder cannot carry the load', () => {
    const net = chain({ sections: 5, r_ohm: 2, x_ohm: 2, load_w: 8e6, load_var: 4e6 });
    assert.throws(
      () => solvePowerFlow(net),
      (e: unknown) => e instanceof PowerFlowError && /diverged|did not converge/.test(e.message),
    );
  });

  it('reports non-convergence within the sweep limit', async () => {
    assert.throws(
      () =>
        solvePowerFlow(chain({ sections: 3, r_ohm: 1, x_ohm: 1, load_w: 1e6, load_var: 0 }), {
          maxIterations: 2,
          tolerance: 1e-15,
        }),
      (e: unknown) =>
        e instanceof PowerFlowError && /did not converge in 2 sweeps/.test(e.message) && e.iterations === 2,
    );
  });

  it('rejects loops and islands of in-service branches', async () => {
    const net = await loadIeee33();
    const looped = modify(net, {
      branches: net.branches.map((b) => ({ ...b, in_service: b.in_service || b.id === '18-33' })),
    });
    assert.throws(
      () => solvePowerFlow(looped),
      (e: unknown) => e instanceof NetworkError && /loop/.test(e.message),
    );
    const islanded = modify(net, {
      branches: net.branches.map((b) => ({ ...b, in_service: b.in_service && b.id !== '17-18' })),
    });
    assert.throws(
      () => solvePowerFlow(islanded),
      (e: unknown) => e instanceof NetworkError && /not connected.*18/.test(e.message),
    );
  });

  it('rejects inconsistent models with a message naming the element', () => {
    const bus = (id: string, type: 'slack' | 'pq' = 'pq') => ({ id, type });
    const br = { from_bus: 'a', to_bus: 'b', r_ohm: 1, x_ohm: 1 };
    assert.throws(
      () => buildNetwork({ base_voltage_v: 1e4, buses: [bus('a'), bus('b')], branches: [br] }),
      /exactly one slack bus, found 0/,
    );
    assert.throws(
      () =>
        buildNetwork({
          base_voltage_v: 1e4,
          buses: [bus('a', 'slack'), bus('b')],
          branches: [{ ...br, to_bus: 'c' }],
        }),
      /branch a-c refers to unknown bus "c"/,
    );
    assert.throws(
      () =>
        buildNetwork({
          base_voltage_v: 1e4,
          buses: [{ id: 'a', type: 'slack', vmin_pu: 1.1, vmax_pu: 1 }],
          branches: [],
        }),
      /vmin_pu <= vmax_pu/,
    );
  });
});
