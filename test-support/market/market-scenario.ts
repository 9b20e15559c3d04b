import type { NetworkInput } from '../../cloud/network/model.ts';

/**
 * The building blocks of a market test's scenario, as data: small feeders for startMarketCloud
 * (market-cloud.ts) and the REST bodies for resources, day-ahead offers and peer-to-peer orders. They
 * fill in only what every body repeats (kind, the direction a resource cannot use, single-step curves);
 * the numbers a test asserts on stay in the test.
 */

export interface FeederSpec {
  readonly base_voltage_v: number;
  readonly vmin_pu?: number;
  readonly vmax_pu?: number;
  /** Bus ids; the first is the slack (substation). */
  readonly buses: readonly string[];
  readonly branches: readonly NetworkInput['branches'][number][];
}

/**
 * 400 V, two laterals from the substation 0: bus 1 stiff (0.02 ohm), bus 2 weak behind 0.4 ohm
 * (about 0.025 pu per 10 kW).
 */
export const twoLateralFeeder400V: FeederSpec = {
  base_voltage_v: 400,
  buses: ['0', '1', '2'],
  branches: [
    { id: 'b01', from_bus: '0', to_bus: '1', r_ohm: 0.02, x_ohm: 0.01 },
    { id: 'b02', from_bus: '0', to_bus: '2', r_ohm: 0.4, x_ohm: 0.1 },
  ],
};

/** 400 V radial 0-1-2, 0.005 + j0.005 ohm a branch; branch b12 rated `b12RatingVa` if given. */
export function radialFeeder400V(o: { b12RatingVa?: number } = {}): FeederSpec {
  const rating = o.b12RatingVa === undefined ? {} : { rating_va: o.b12RatingVa };
  return {
    base_voltage_v: 400,
    buses: ['0', '1', '2'],
    branches: [
      { id: 'b01', from_bus: '0', to_bus: '1', r_ohm: 0.005, x_ohm: 0.005 },
      { id: 'b12', from_bus: '1', to_bus: '2', r_ohm: 0.005, x_ohm: 0.005, ...rating },
    ],
  };
}

/** 12.47 kV radial 0-1-2, 0.2 + j0.2 ohm a branch: no limit binds at the tens of kW the tests trade. */
export const radialFeeder12kV: FeederSpec = {
  base_voltage_v: 12470,
  buses: ['0', '1', '2'],
  branches: [
    { from_bus: '0', to_bus: '1', r_ohm: 0.2, x_ohm: 0.2 },
    { from_bus: '1', to_bus: '2', r_ohm: 0.2, x_ohm: 0.2 },
  ],
};

/** A POST /market/resources body. */
const resource = (
  kind: string,
  id: string,
  owner: string,
  bus: string,
  maxInjectW: number,
  maxWithdrawW: number,
  more: object,
) => ({ id, owner, kind, bus, max_inject_w: maxInjectW, max_withdraw_w: maxWithdrawW, ...more });

/** A PV plant: injects up to `maxInjectW`, withdraws nothing. */
export const pv = (id: string, owner: string, bus: string, maxInjectW: number, more: object = {}) =>
  resource('pv', id, owner, bus, maxInjectW, 0, more);

/** A flexible load: withdraws up to `maxWithdrawW`, injects nothing. */
export const flexLoad = (id: string, owner: string, bus: string, maxWithdrawW: number, more: object = {}) =>
  resource('flex_load', id, owner, bus, 0, maxWithdrawW, more);

/** A battery of `powerW` both ways and `energyWh` of storage. */
export const battery = (
  id: string,
  owner: string,
  bus: string,
  powerW: number,
  energyWh: number,
  more: object = {},
) => resource('battery', id, owner, bus, powerW, powerW, { energy_wh: energyWh, ...more });

/** A single-step sell offer in the day-ahead market (POST /market/bids body). */
export const daSellOffer = (
  resource: string,
  intervalStart: number,
  quantityW: number,
  pricePerMWh: number,
  more: object = {},
) => ({
  resource,
  market: 'DA',
  side: 'sell',
  interval_start: intervalStart,
  steps: [{ quantity_w: quantityW, price_per_mwh: pricePerMWh }],
  ...more,
});

/** A peer-to-peer order (POST /market/p2p/orders body). */
export const p2pOrder = (
  resource: string,
  side: 'buy' | 'sell',
  intervalStart: number,
  quantityWh: number,
  limitPrice: number,
  more: object = {},
) => ({ resource, side, intervalStart, quantityWh, limitPrice, ...more });
