import assert from 'node:assert/strict';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { buildNetwork, checkFeasibility } from '../../network/index.ts';
import type { ClearingResource } from '../clearing/types.ts';
import { ancillaryOffers, screenAncillary, splitAncillaryAward } from './centralized-ancillary.ts';

/**
 * The ISO ancillary path of the centralized models: offers summed into the T-D bid, the ISO's award
 * split in merit order, and the DGO's screen of the capacity a full call would use.
 */

// 400 V, limits 0.95-1.05 pu. Bus 1 is stiff (0.02 ohm); bus 2 hangs behind 0.4 ohm, where every
// 10 kW moves the voltage by about 0.025 pu.
const net = buildNetwork({
  base_voltage_v: 400,
  buses: [
    { id: '0', type: 'slack' },
    { id: '1', type: 'pq', vmin_pu: 0.95, vmax_pu: 1.05 },
    { id: '2', type: 'pq', vmin_pu: 0.95, vmax_pu: 1.05 },
  ],
  branches: [
    { id: 'b01', from_bus: '0', to_bus: '1', r_ohm: 0.02, x_ohm: 0.01 },
    { id: 'b02', from_bus: '0', to_bus: '2', r_ohm: 0.4, x_ohm: 0.1 },
  ],
});
const T0 = Date.UTC(2030, 0, 2, 12);
const noLoads = new Map<string, number>();

function res(id: string, bus: string, anc: ClearingResource['ancillary']): ClearingResource {
  return { id, bus, sell: [[]], buy: [[]], ...(anc ? { ancillary: anc } : {}) };
}

/** The exact power flow with the given injections (W per bus). */
function feasible(inj: Record<string, number>): boolean {
  const injections = Object.fromEntries(Object.entries(inj).map(([b, p]) => [b, { p_w: p, q_var: 0 }]));
  return checkFeasibility(net, { intervals: [{ start: T0, injections, loads: {} }] }).feasible;
}

describe('centralized ISO ancillary: offers, award split, DGO screen of the full call', () => {
  it('sums the resources’ offers per product into the T-D bid’s ancillary field', () => {
    const rs = [
      res('a', '1', { reg_up: [[{ quantity_w: 4000, price_per_mwh: 5 }]] }),
      res('b', '2', {
        reg_up: [[{ quantity_w: 6000, price_per_mwh: 5 }]],
        reserve: [[{ quantity_w: 1000, price_per_mwh: 2 }]],
      }),
    ];
    assert.deepEqual(ancillaryOffers(rs, 0), [
      { product: 'reg_up', steps: [{ price_per_mwh: 5, quantity_w: 10000 }] },
      { product: 'reserve', steps: [{ price_per_mwh: 2, quantity_w: 1000 }] },
    ]);
  });

  it('splits the ISO award in merit order: below the price in full, at the price pro rata, above nothing', () => {
    const rs = [
      res('cheap', '1', { reg_up: [[{ quantity_w: 2000, price_per_mwh: 2 }]] }),
      res('m1', '1', { reg_up: [[{ quantity_w: 3000, price_per_mwh: 7 }]] }),
      res('m2', '2', { reg_up: [[{ quantity_w: 1000, price_per_mwh: 7 }]] }),
      res('dear', '2', { reg_up: [[{ quantity_w: 5000, price_per_mwh: 9 }]] }),
    ];
    const s = splitAncillaryAward(rs, 0, 'reg_up', 7, 4000);
    assert.deepEqual(
      [...s].sort(([a], [b]) => a.localeCompare(b)),
      [
        ['cheap', 2000],
        ['m1', 1500],
        ['m2', 500],
      ],
    );
  });

  it('curtails a reg-up award at the congested bus whose full call would break the voltage limit; keeps the stiff bus', () => {
    // Both resources export 10 kW of energy; each holds a 20 kW reg-up award. Called in full, bus 2
    // would take 30 kW behind 0.4 ohm (about 1.075 pu), beyond 1.05 pu.
    const energy = new Map([
      ['pv-far', 10000],
      ['pv-near', 10000],
    ]);
    const placed = [
      { id: 'pv-far', bus: '2', maxInjectW: 40000, maxWithdrawW: 0 },
      { id: 'pv-near', bus: '1', maxInjectW: 40000, maxWithdrawW: 0 },
    ];
    assert.equal(feasible({ '1': 10000, '2': 10000 }), true, 'the energy schedules alone are feasible');
    assert.equal(feasible({ '1': 30000, '2': 30000 }), false, 'the full call is not');
    const out = screenAncillary(
      net,
      placed,
      energy,
      new Map([
        ['pv-far', { reg_up: 20000 }],
        ['pv-near', { reg_up: 20000 }],
      ]),
      noLoads,
      T0,
    );
    const far = out.get('pv-far')!;
    const near = out.get('pv-near')!;
    assert.equal(near.screenedW.reg_up, 20000, 'the stiff bus keeps its award');
    assert.equal(near.reason, null);
    assert.ok(far.screenedW.reg_up! > 0 && far.screenedW.reg_up! < 20000, `held ${far.screenedW.reg_up}`);
    assert.match(
      far.reason!,
      /full reg-up\/reserve call: voltage 1\.0\d+ pu at bus 2 beyond the max of 1\.05 pu/,
    );
    // What the DGO lets through can be called in full.
    assert.equal(feasible({ '1': 10000 + 20000, '2': 10000 + far.screenedW.reg_up! }), true);
  });

  it('curtails reg-down at a weak bus (under-voltage when called) and caps capacity at the resource’s own headroom', () => {
    const placed = [
      { id: 'bat', bus: '2', maxInjectW: 40000, maxWithdrawW: 40000 },
      { id: 'pv', bus: '1', maxInjectW: 30000, maxWithdrawW: 0 },
    ];
    const out = screenAncillary(
      net,
      placed,
      new Map([
        ['bat', 0],
        ['pv', 25000],
      ]),
      new Map([
        ['bat', { reg_down: 30000 }],
        ['pv', { reg_up: 8000, reserve: 2000 }],
      ]),
      noLoads,
      T0,
    );
    const bat = out.get('bat')!;
    assert.ok(
      bat.screenedW.reg_down! > 0 && bat.screenedW.reg_down! < 30000,
      `held ${bat.screenedW.reg_down}`,
    );
    assert.match(bat.reason!, /full reg-down call: voltage 0\.9\d+ pu at bus 2 beyond the min of 0\.95 pu/);
    assert.equal(feasible({ '2': -bat.screenedW.reg_down! }), true);
    // 25 kW scheduled on a 30 kW PV leaves 5 kW up: reg-up and reserve shrink in proportion.
    const pv = out.get('pv')!;
    assert.deepEqual(pv.screenedW, { reg_up: 4000, reserve: 1000 });
    assert.match(
      pv.reason!,
      /resource headroom: 10000 W up on a 25000 W schedule exceeds the 30000 W injection limit/,
    );
  });

  it('without a network checks only the headroom', () => {
    const out = screenAncillary(
      null,
      [{ id: 'x', bus: '2', maxInjectW: 50000, maxWithdrawW: 0 }],
      new Map([['x', 10000]]),
      new Map([['x', { reg_up: 30000 }]]),
      noLoads,
      T0,
    );
    assert.deepEqual(out.get('x'), { awardW: { reg_up: 30000 }, screenedW: { reg_up: 30000 }, reason: null });
  });

  it('the simulated ISO awards a cheap DSO reg-up step in full and prices it at or above the offer', async () => {
    const iso = new WholesaleMarket({ seed: 1 });
    const rs = [res('a', '1', { reg_up: [[{ quantity_w: 20000, price_per_mwh: 1 }]] })];
    const award = await iso.clearDayAhead({
      dso: 'aggregators@utility',
      interface_id: '0',
      hours: [
        {
          interval_start: T0,
          points: [
            { price_per_mwh: -1000, import_w: 0 },
            { price_per_mwh: 10000, import_w: 0 },
          ],
          ancillary: ancillaryOffers(rs, 0),
        },
      ],
    });
    const a = award.hours[0].ancillary.reg_up!;
    assert.equal(a.award_w, 20000);
    assert.ok(a.price_per_mwh >= 1, `price ${a.price_per_mwh}`);
    assert.deepEqual([...splitAncillaryAward(rs, 0, 'reg_up', a.price_per_mwh, a.award_w)], [['a', 20000]]);
  });
});
