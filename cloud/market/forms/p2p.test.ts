import assert from 'node:assert/strict';
import { buildNetwork } from '../../network/index.ts';
import { compileFeeder } from '../clearing/feeder.ts';
import { ContinuousDoubleAuction, LinearNetworkScreen, type P2pOrder } from './p2p.ts';

const T = Date.UTC(2026, 6, 1, 12);
const o = (
  id: string,
  side: 'buy' | 'sell',
  wh: number,
  price: number,
  bus = 'b',
  participant = id,
): P2pOrder => ({
  id,
  participant,
  resource: `${id}-r`,
  bus,
  side,
  intervalStart: T,
  quantityWh: wh,
  limitPrice: price,
});

describe('peer-to-peer continuous double auction', () => {
  it('matches on price-time priority at the resting price', () => {
    const cda = new ContinuousDoubleAuction('t');
    cda.submit(o('s1', 'sell', 1000, 30));
    cda.submit(o('s2', 'sell', 1000, 25));
    cda.submit(o('s3', 'sell', 1000, 25)); // same price as s2, later
    const trades = cda.submit(o('b1', 'buy', 2500, 40));
    assert.deepEqual(
      trades.map((t) => [t.sellOrder, t.quantityWh, t.price]),
      [
        ['s2', 1000, 25],
        ['s3', 1000, 25],
        ['s1', 500, 30],
      ],
    );
    assert.deepEqual(cda.book(T).asks, [{ id: 's1', price: 30, wh: 500 }]);
    assert.equal(cda.submit(o('b2', 'buy', 100, 20)).length, 0, 'no cross below the best ask');
    assert.deepEqual(cda.book(T).bids, [{ id: 'b2', price: 20, wh: 100 }]);
  });

  it('lets the DGO curtail a trade to the line limit and reject one that cannot flow', () => {
    const net = buildNetwork({
      base_voltage_v: 12470,
      buses: [
        { id: 'sub', type: 'slack', vmin_pu: 0.9, vmax_pu: 1.1 },
        { id: 'a', type: 'pq', vmin_pu: 0.9, vmax_pu: 1.1 },
        { id: 'b', type: 'pq', vmin_pu: 0.9, vmax_pu: 1.1 },
      ],
      branches: [
        { from_bus: 'sub', to_bus: 'a', r_ohm: 0.1, x_ohm: 0.1 },
        { from_bus: 'a', to_bus: 'b', r_ohm: 0.1, x_ohm: 0.1, rating_va: 30_000 },
      ],
    });
    const f = compileFeeder(net);
    const base = new Float64Array(3); // no background load
    const cda = new ContinuousDoubleAuction('t', new LinearNetworkScreen(f, 1, () => base));
    cda.submit(o('seller', 'sell', 50_000, 20, 'b'));
    const [t1] = cda.submit(o('buyer', 'buy', 50_000, 40, 'a'));
    assert.equal(t1.status, 'curtailed');
    assert.ok(Math.abs(t1.quantityWh - 30_000) < 1e-6, `curtailed to the 30 kW rating, got ${t1.quantityWh}`);
    assert.match(t1.reason!, /thermal limit/);
    const [t2] = cda.submit(o('buyer2', 'buy', 10_000, 40, 'a'));
    assert.equal(t2.status, 'rejected');
    // A buyer on the same bus as the seller needs no line: it trades in full.
    const [t3] = cda.submit(o('buyer3', 'buy', 10_000, 40, 'b'));
    assert.equal(t3.status, 'accepted');
    assert.equal(t3.quantityWh, 10_000);
  });

  it('lets DGO emergency dispatch override trades', () => {
    const cda = new ContinuousDoubleAuction('t');
    cda.submit(o('s', 'sell', 4000, 10));
    cda.submit(o('b1', 'buy', 1000, 50));
    cda.submit(o('b2', 'buy', 3000, 50));
    const cut = cda.emergencyOverride('s-r', T, 1500, 1); // seller may inject only 1.5 kW
    assert.deepEqual(
      cut.map((t) => [t.buyOrder, t.quantityWh, t.status]),
      [['b2', 500, 'curtailed']],
    ); // latest trade cut first
    const sold = cda.trades.filter((t) => t.sellerResource === 's-r').reduce((s, t) => s + t.quantityWh, 0);
    assert.equal(sold, 1500);
    assert.match(cut[0].reason!, /emergency dispatch/);
  });
});
