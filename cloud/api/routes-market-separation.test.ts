import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import {
  battery,
  daSellOffer,
  flexLoad,
  p2pOrder,
  pv,
  radialFeeder400V,
} from '../../test-support/market/market-scenario.ts';
import { IEEE33 } from '../../test-support/network/feeders.ts';
import { DAY_MS, HOUR_MS } from '../market/index.ts';

/**
 * Information separation in the independent models (4 and 6) per role, over real HTTP: the DGO (the
 * utility) sees the network schedule it screens, injections by bus and interval, through
 * GET /market/dgo/schedule, and is refused the DMO's full views (awards, bids, trades, orders,
 * settlements, runs) with INFORMATION_SEPARATION or NOT_DMO; the independent DMO is refused the
 * network state (/network/*) and the DGO's own views. A user acting for both organizations sees both.
 * The expected schedule is summed here from the DMO's full award list (model 4) or by hand from the
 * trades (model 6), not by the schedule code.
 */

type Injection = {
  market: string;
  intervalStart: number;
  bus: string;
  product: string;
  injectionW: number;
  resources: number;
};
type Schedule = { injections: Injection[]; services: unknown[] };
const ROW_KEYS = ['bus', 'injectionW', 'intervalStart', 'market', 'product', 'resources'];

describe('information separation, model 4 (independent DMO): per role over HTTP', function () {
  this.timeout(60000);
  const dayStart = Date.UTC(2030, 0, 2);
  const noon = dayStart + 12 * HOUR_MS;
  let mc: MarketCloud;

  before(async () => {
    mc = await startMarketCloud({
      clock: dayStart - DAY_MS,
      market: {
        model: 4,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['uma', 'olaf'] },
          { id: 'dso', kind: 'independent_dso', users: ['dora', 'olaf'] },
          { id: 'sunco', kind: 'producer', users: ['alice'] },
        ],
      },
      // One feeder for the grid service (the DGO's network state) and the market: IEEE 33-bus.
      cloud: { network: { feeder: { dir: dirname(IEEE33.buses), baseKv: IEEE33.base_kv } } },
      registrar: 'uma',
      resources: [pv('pv-a', 'sunco', '6', 20000), pv('pv-b', 'sunco', '18', 10000)],
      certify: ['pv-a', 'pv-b'],
    });
    for (const [id, bus, w, p] of [
      ['pv-a', '6', 20000, 10],
      ['pv-b', '18', 10000, 12],
    ] as const) {
      const r = await mc.t.api('POST', '/market/bids', {
        ...mc.as('alice'),
        body: daSellOffer(id, noon, w, p, { product: 'energy' }),
      });
      assert.equal(r.status, 201, `${bus}: ${JSON.stringify(r.body)}`);
    }
    mc.setClock(dayStart - 12 * HOUR_MS);
    const run = await mc.t.api('POST', '/market/clearing/da', {
      ...mc.as('dora'),
      body: { dayStart, loadForecastW: { '18': Array(24).fill(15000) } },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
  });
  after(async () => mc?.stop());

  it('the DGO gets the injections by bus and interval, equal to the awards summed by bus, and nothing else', async () => {
    type Award = { market: string; intervalStart: number; bus: string; product: string; awardW: number };
    const all = await mc.t.api<Award[]>('GET', '/market/awards?all=true&market=DA', mc.as('dora'));
    assert.equal(all.status, 200);
    const expected = new Map<string, number>();
    for (const a of all.body) {
      const k = `${a.intervalStart}|${a.bus}|${a.product}`;
      expected.set(k, (expected.get(k) ?? 0) + a.awardW);
    }
    const s = await mc.t.api<Schedule>('GET', '/market/dgo/schedule?market=DA', mc.as('uma'));
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.deepEqual(Object.keys(s.body).sort(), ['injections', 'services']);
    assert.equal(s.body.injections.length, expected.size);
    for (const r of s.body.injections) {
      assert.deepEqual(Object.keys(r).sort(), ROW_KEYS, 'no participant, no price, no resource id');
      assert.equal(r.market, 'DA');
      const e = expected.get(`${r.intervalStart}|${r.bus}|${r.product}`);
      assert.ok(e !== undefined && Math.abs(r.injectionW - e) < 1e-6, JSON.stringify(r));
    }
    // At noon both PV run: 20 kW at bus 6 and 10 kW at bus 18 (the 15 kW load is not a market award).
    const atNoon = s.body.injections.filter((r) => r.intervalStart === noon);
    assert.deepEqual(
      atNoon.map((r) => [r.bus, Math.round(r.injectionW), r.resources]),
      [
        ['18', 10000, 1],
        ['6', 20000, 1],
      ],
    );
    const text = JSON.stringify(s.body);
    for (const hidden of ['sunco', 'pv-a', 'pv-b', 'pricePerMWh', 'price_per_mwh'])
      assert.ok(!text.includes(hidden), `the DGO's schedule names ${hidden}`);
  });

  it('the DGO is refused the DMO’s views: awards, bids, settlements, runs', async () => {
    const awards = await mc.t.api<{ code: string; reason: string }>(
      'GET',
      '/market/awards?all=true',
      mc.as('uma'),
    );
    assert.equal(awards.status, 403);
    assert.equal(awards.body.code, 'INFORMATION_SEPARATION');
    assert.match(
      awards.body.reason,
      /the DGO \("utility"\) does not see the awards.*GET \/market\/dgo\/schedule/,
    );
    for (const path of ['/market/bids?all=true', '/market/settlements?all=true', '/market/runs']) {
      const r = await mc.t.api<{ code: string }>('GET', path, mc.as('uma'));
      assert.equal(r.status, 403, path);
      assert.equal(r.body.code, 'NOT_DMO', path);
    }
    // Its own (no awards of its own) and the published prices stay open.
    assert.deepEqual((await mc.t.api('GET', '/market/awards', mc.as('uma'))).body, []);
    const prices = await mc.t.api<unknown[]>(
      'GET',
      `/market/prices?market=DA&from=${noon}&to=${noon + 1}`,
      mc.as('uma'),
    );
    assert.equal(prices.body.length, 33);
    // The grid state is the DGO's.
    const pf = await mc.t.api<{ converged: boolean }>('GET', '/network/powerflow', mc.as('uma'));
    assert.equal(pf.status, 200, JSON.stringify(pf.body));
    assert.equal(pf.body.converged, true);
  });

  it('the DMO is refused the network state and the DGO’s views; it keeps the bus prices', async () => {
    const pf = await mc.t.api<{ code: string; reason: string }>('GET', '/network/powerflow', mc.as('dora'));
    assert.equal(pf.status, 403);
    assert.equal(pf.body.code, 'INFORMATION_SEPARATION');
    assert.match(pf.body.reason, /the DMO \("dso"\) sees no network state .* beyond what the DGO publishes/);
    const feas = await mc.t.api<{ code: string }>('POST', '/network/feasibility', {
      ...mc.as('dora'),
      body: { intervals: [{ start: noon, sites: {} }] },
    });
    assert.equal(feas.status, 403);
    assert.equal(feas.body.code, 'INFORMATION_SEPARATION');
    for (const path of ['/market/dgo/schedule', '/market/dgo/screening']) {
      const r = await mc.t.api<{ code: string }>('GET', path, mc.as('dora'));
      assert.equal(r.status, 403, path);
      assert.equal(r.body.code, 'NOT_DGO', path);
    }
    const prices = await mc.t.api<unknown[]>(
      'GET',
      `/market/prices?market=DA&from=${noon}&to=${noon + 1}`,
      mc.as('dora'),
    );
    assert.equal(prices.body.length, 33);
  });

  it('a participant sees neither; a user acting for both organizations sees both', async () => {
    assert.equal((await mc.t.api('GET', '/market/dgo/schedule', mc.as('alice'))).status, 403);
    assert.equal((await mc.t.api('GET', '/market/awards?all=true', mc.as('olaf'))).status, 200);
    assert.equal((await mc.t.api('GET', '/market/dgo/schedule', mc.as('olaf'))).status, 200);
    assert.equal((await mc.t.api('GET', '/network/powerflow', mc.as('olaf'))).status, 200);
  });
});

describe('information separation, model 6 (peer to peer, independent DMO): per role over HTTP', function () {
  this.timeout(60000);
  const T = Date.UTC(2030, 0, 2, 12);
  let mc: MarketCloud;

  before(async () => {
    mc = await startMarketCloud({
      clock: T - HOUR_MS,
      market: {
        model: 6,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'dso', kind: 'independent_dso', users: ['dora'] },
          { id: 'sunco', kind: 'producer', users: ['alice'] },
          { id: 'homeco', kind: 'consumer', users: ['bob'] },
        ],
        p2p: { polrFeePerMWh: 20 },
      },
      feeder: radialFeeder400V(),
      registrar: 'uma',
      resources: [
        pv('pv-a', 'sunco', '2', 20000),
        flexLoad('load-b', 'homeco', '1', 20000),
        battery('bat-u', 'utility', '1', 5000, 10000),
      ],
      certify: ['pv-a', 'load-b', 'bat-u'],
    });
    for (const [user, body] of [
      ['alice', p2pOrder('pv-a', 'sell', T, 6000, 30)],
      ['uma', p2pOrder('bat-u', 'buy', T, 2000, 35)],
      ['bob', p2pOrder('load-b', 'buy', T, 4000, 40)],
    ] as const) {
      const r = await mc.t.api('POST', '/market/p2p/orders', { ...mc.as(user), body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });
  after(async () => mc?.stop());

  it('the DGO (also a trader here) sees its own trades and the schedule by bus, not every trade or order', async () => {
    for (const path of ['/market/p2p/trades?all=true', '/market/p2p/orders?all=true']) {
      const r = await mc.t.api<{ code: string }>('GET', path, mc.as('uma'));
      assert.equal(r.status, 403, path);
      assert.equal(r.body.code, 'INFORMATION_SEPARATION', path);
    }
    const own = await mc.t.api<{ buyer: string; seller: string }[]>(
      'GET',
      '/market/p2p/trades',
      mc.as('uma'),
    );
    assert.deepEqual(
      own.body.map((t) => [t.buyer, t.seller]),
      [['utility', 'sunco']],
    );
    // By hand: 1-hour intervals, so W = Wh. pv-a at bus 2 sells 2000 + 4000 Wh; bat-u and load-b at bus 1 buy them.
    const s = await mc.t.api<Schedule>('GET', '/market/dgo/schedule', mc.as('uma'));
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.deepEqual(
      s.body.injections.map((r) => [r.market, r.intervalStart, r.bus, r.product, r.injectionW, r.resources]),
      [
        ['P2P', T, '1', 'energy', -6000, 2],
        ['P2P', T, '2', 'energy', 6000, 1],
      ],
    );
    assert.ok(!/homeco|sunco|load-b|price/.test(JSON.stringify(s.body)));
  });

  it('the DMO sees every trade but no network state', async () => {
    const all = await mc.t.api<unknown[]>('GET', '/market/p2p/trades?all=true', mc.as('dora'));
    assert.equal(all.status, 200);
    assert.equal(all.body.length, 2);
    const pf = await mc.t.api<{ code: string }>('GET', '/network/powerflow', mc.as('dora'));
    assert.equal(pf.status, 403);
    assert.equal(pf.body.code, 'INFORMATION_SEPARATION');
  });
});
