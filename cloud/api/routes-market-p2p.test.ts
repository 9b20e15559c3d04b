import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { type Command, commandSchema } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import type { TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import {
  battery,
  flexLoad,
  p2pOrder,
  pv,
  radialFeeder400V,
} from '../../test-support/market/market-scenario.ts';
import { HOUR_MS, RT_INTERVAL_MS } from '../market/index.ts';

/**
 * Peer-to-peer model 5 through the API on a real cloud: the continuous double auction per
 * territory, the DGO curtailing a trade at a thermal limit, the core rules' refusals, gate closure,
 * DGO emergency dispatch overriding a trade, the interval close with provider-of-last-resort fee,
 * self-dispatch commands reaching a gateway, balanced books, audit and restore after restart.
 */
describe('market API, peer-to-peer model 5 (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  let t: TestCloud;
  let gateway: MqttClient | undefined;
  const T = Date.UTC(2030, 0, 2, 12);
  const as = (user: string) => mc.as(user);
  const order = (resource: string, side: 'buy' | 'sell', wh: number, price: number, extra: object = {}) =>
    p2pOrder(resource, side, T, wh, price, extra);

  before(async () => {
    mc = await startMarketCloud({
      clock: T - HOUR_MS,
      market: {
        model: 5,
        p2p: { polrFeePerMWh: 20 },
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'sunco', kind: 'producer', users: ['alice'] },
          { id: 'homeco', kind: 'consumer', users: ['bob'] },
        ],
      },
      // Radial 0-1-2 at 400 V; branch 1-2 rated 10 kVA: PV at 2 selling to a load at 1 is limited to 10 kW.
      feeder: radialFeeder400V({ b12RatingVa: 10000 }),
      extraUsers: [['vic', 'viewer']],
      site: 'site-a',
      resources: [
        pv('pv-a', 'sunco', '2', 20000, { site: 'site-a', device: 'inv1' }),
        flexLoad('load-b', 'homeco', '1', 20000),
        battery('bat-u', 'utility', '1', 5000, 10000),
        pv('pv-x', 'sunco', '2', 5000),
      ],
      certify: ['pv-a', 'load-b', 'bat-u'],
    });
    t = mc.t;
    gateway = mc.gateway;
  });
  after(async () => mc?.stop());

  it('refuses curve bids, the DMO, strangers, uncertified DER and orders beyond capability', async () => {
    const bid = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: {
        resource: 'pv-a',
        market: 'DA',
        side: 'sell',
        interval_start: T,
        steps: [{ quantity_w: 1, price_per_mwh: 1 }],
      },
    });
    assert.equal(bid.status, 409);
    assert.equal(bid.body.code, 'WRONG_MARKET_FORM');
    const dmo = await t.api<{ code: string }>('POST', '/market/p2p/orders', {
      ...as('uma'),
      body: order('bat-u', 'sell', 1000, 10),
    });
    assert.equal(dmo.status, 403);
    assert.equal(dmo.body.code, 'DMO_SELF_DEALING');
    const stranger = await t.api<{ code: string }>('POST', '/market/p2p/orders', {
      ...as('bob'),
      body: order('pv-a', 'sell', 1000, 10),
    });
    assert.equal(stranger.body.code, 'NOT_REPRESENTED');
    const uncert = await t.api<{ code: string }>('POST', '/market/p2p/orders', {
      ...as('alice'),
      body: order('pv-x', 'sell', 1000, 10),
    });
    assert.equal(uncert.body.code, 'NOT_CERTIFIED');
    const beyond = await t.api<{ code: string }>('POST', '/market/p2p/orders', {
      ...as('alice'),
      body: order('pv-a', 'sell', 20001, 10),
    });
    assert.equal(beyond.status, 422);
    assert.equal(beyond.body.code, 'BEYOND_CAPABILITY');
    const viewer = await t.api('POST', '/market/p2p/orders', {
      ...as('vic'),
      body: order('pv-a', 'sell', 1, 1),
    });
    assert.equal(viewer.status, 403);
    const bad = await t.api('POST', '/market/p2p/orders', {
      ...as('alice'),
      body: order('pv-a', 'sell', -5, 1),
    });
    assert.equal(bad.status, 400);
  });

  it('matches orders continuously; the DGO curtails the trade at the thermal limit, with the reason', async () => {
    const sell = await t.api<{ trades: unknown[]; order: { status: string } }>('POST', '/market/p2p/orders', {
      ...as('alice'),
      body: order('pv-a', 'sell', 15000, 30, { id: 'alice-1' }),
    });
    assert.equal(sell.status, 201, JSON.stringify(sell.body));
    assert.equal(sell.body.trades.length, 0);
    const buy = await t.api<{
      order: { remainingWh: number; status: string };
      trades: { price: number; quantityWh: number; matchedWh: number; status: string; reason: string }[];
    }>('POST', '/market/p2p/orders', {
      ...as('bob'),
      body: order('load-b', 'buy', 15000, 40, { id: 'bob-1' }),
    });
    assert.equal(buy.status, 201, JSON.stringify(buy.body));
    const [tr] = buy.body.trades;
    assert.equal(tr.price, 30, 'trades at the resting order’s price');
    assert.equal(tr.matchedWh, 15000);
    assert.equal(tr.status, 'curtailed');
    assert.match(tr.reason, /thermal limit of branch b12/);
    assert.ok(
      tr.quantityWh > 9000 && tr.quantityWh <= 10000 + 1e-6,
      `about 10 kWh fit, got ${tr.quantityWh}`,
    );
    assert.ok(Math.abs(buy.body.order.remainingWh - (15000 - tr.quantityWh)) < 1e-6);
    // The anonymous book shows what is left on both sides (no names).
    const book = await t.api<{
      bids: { price: number; wh: number }[];
      asks: { price: number; wh: number }[];
    }>('GET', `/market/p2p/book?intervalStart=${T}`, as('vic'));
    assert.deepEqual(
      book.body.bids.map((b) => b.price),
      [40],
    );
    assert.deepEqual(
      book.body.asks.map((b) => b.price),
      [30],
    );
    assert.equal(JSON.stringify(book.body).includes('homeco'), false);
    // Capability counts trades and live orders: 15 kWh offered (some traded) + 10 kWh > 20 kWh.
    const more = await t.api<{ code: string }>('POST', '/market/p2p/orders', {
      ...as('alice'),
      body: order('pv-a', 'sell', 10000, 35),
    });
    assert.equal(more.body.code, 'BEYOND_CAPABILITY');
    // Cancel: only one's own, only before the gate.
    const steal = await t.api<{ code: string }>('DELETE', '/market/p2p/orders/alice-1', as('bob'));
    assert.equal(steal.body.code, 'NOT_YOURS');
    const cancel = await t.api<{ status: string }>('DELETE', '/market/p2p/orders/alice-1', as('alice'));
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.status, 'cancelled');
    const mine = await t.api<{ id: string }[]>('GET', '/market/p2p/trades', as('bob'));
    assert.equal(mine.body.length, 1);
    assert.deepEqual((await t.api<unknown[]>('GET', '/market/p2p/trades', as('vic'))).body, []);
    assert.equal((await t.api('GET', '/market/p2p/trades?all=true', as('alice'))).status, 403);
  });

  it('enforces gate closure on orders and cancels; the close waits for the gate', async () => {
    const early = await t.api<{ code: string }>('POST', '/market/p2p/close', {
      ...as('uma'),
      body: { intervalStart: T },
    });
    assert.equal(early.body.code, 'GATE_OPEN');
    mc.setClock(T - RT_INTERVAL_MS);
    const late = await t.api<{ code: string; error: string }>('POST', '/market/p2p/orders', {
      ...as('bob'),
      body: order('load-b', 'buy', 100, 50),
    });
    assert.equal(late.status, 409);
    assert.equal(late.body.code, 'GATE_CLOSED');
    const cancel = await t.api<{ code: string }>('DELETE', '/market/p2p/orders/bob-1', as('bob'));
    assert.equal(cancel.body.code, 'GATE_CLOSED');
    assert.equal(
      (await t.api('POST', '/market/p2p/close', { ...as('alice'), body: { intervalStart: T } })).status,
      403,
    );
  });

  it('DGO emergency dispatch overrides the trade', async () => {
    const r = await t.api<{
      type: string;
      overriddenTrades: { quantityWh: number; status: string; reason: string }[];
    }>('POST', '/market/dgo/emergency', {
      ...as('uma'),
      body: { resource: 'pv-a', w: 4000, ttlSeconds: 600, reason: 'b12 overload' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.type, 'active_power_limit');
    assert.equal(r.body.overriddenTrades.length, 1);
    assert.ok(Math.abs(r.body.overriddenTrades[0].quantityWh - 4000) < 1e-6);
    assert.match(r.body.overriddenTrades[0].reason, /DGO emergency dispatch of pv-a to 4000 W/);
  });

  it('closes the interval: trades and PoLR settle, books balance, DER self-dispatch on their trades', async () => {
    const received: Command[] = [];
    await gateway!.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
    let wanted = '';
    let arrived: () => void = () => {};
    const got = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    gateway!.on('message', (_topic, payload) => {
      received.push(commandSchema.parse(JSON.parse(payload.toString())));
      if (received.some((c) => c.id === wanted)) arrived();
    });
    const run = await t.api<{
      balanced: boolean;
      trades: number;
      polr: { resource: string; imbalanceWh: number; price: number }[];
      dispatch: { resource: string; status: string; commandId: string | null; reason: string | null }[];
    }>('POST', '/market/p2p/close', { ...as('uma'), body: { intervalStart: T, lmp: 50 } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    assert.equal(run.body.trades, 1);
    // Bob's unmatched demand is served by the utility at the LMP plus its fee.
    const polr = run.body.polr.find((p) => p.resource === 'load-b')!;
    assert.ok(polr.imbalanceWh < 0);
    assert.equal(polr.price, 70);
    wanted = run.body.dispatch.find((d) => d.resource === 'pv-a')!.commandId!;
    if (received.some((c) => c.id === wanted)) arrived();
    await got;
    const pv = received.find((c) => c.id === wanted) as unknown as {
      type: string;
      w: number;
      device: string;
    };
    assert.equal(pv.type, 'active_power_limit');
    assert.equal(pv.device, 'inv1');
    assert.ok(Math.abs(pv.w - 4000) < 1e-6, `PV self-dispatches its 4 kWh trade, got ${pv.w}`);
    const pvD = run.body.dispatch.find((d) => d.resource === 'pv-a')!;
    const cmd = await t.api<{ issuedBy: string }>('GET', `/commands/${pvD.commandId}`);
    assert.equal(cmd.body.issuedBy, 'market:self:sunco');
    assert.equal(run.body.dispatch.find((d) => d.resource === 'load-b')!.status, 'skipped');
    type Settle = {
      totals: Record<string, { net: number; byKind: Record<string, number> }>;
      balanced?: boolean;
    };
    const bob = await t.api<Settle>('GET', '/market/settlements', as('bob'));
    // 4 kWh at $30 = 12 cents to alice; PoLR: (15000 - 10000-ish) Wh at $70.
    assert.equal(bob.body.totals.homeco.byKind.p2p_trade, -12);
    assert.ok(bob.body.totals.homeco.byKind.polr < 0);
    const books = await t.api<Settle>('GET', '/market/settlements?all=true', as('uma'));
    assert.equal(books.body.balanced, true);
    assert.ok(books.body.totals.utility.byKind.polr !== 0);
  });

  it('audits orders, refusals, overrides and the close; restores the book after a restart', async () => {
    const audit = await t.api<{ actor: string; action: string; detail: { refusal?: { code: string } } }[]>(
      'GET',
      '/audit?limit=1000',
    );
    const seen = (a: string, actor: string) => audit.body.some((x) => x.action === a && x.actor === actor);
    assert.ok(seen('market.p2p.order.submit', 'user:alice'));
    assert.ok(seen('market.p2p.order.cancel', 'user:alice'));
    assert.ok(seen('market.p2p.trade.override', 'user:uma'));
    assert.ok(seen('market.p2p.close', 'user:uma'));
    const codes = audit.body
      .filter((x) => x.action === 'market.p2p.order.submit.refused')
      .map((x) => x.detail.refusal?.code);
    for (const c of [
      'DMO_SELF_DEALING',
      'NOT_REPRESENTED',
      'NOT_CERTIFIED',
      'BEYOND_CAPABILITY',
      'GATE_CLOSED',
    ])
      assert.ok(codes.includes(c), c);
    const { MarketService } = await import('../market/index.ts');
    const m = await MarketService.open({
      registry: t.cloud.registry,
      settings: t.cloud.market!.deps.settings,
    });
    const me = { userId: 'uma', auditActor: 'user:uma' };
    assert.deepEqual(
      m.p2p!.trades(me, { all: true }).map((x) => [x.quantityWh, x.status]),
      [[4000, 'curtailed']],
    );
    assert.deepEqual(
      m
        .p2p!.orders(me, { all: true })
        .map((o) => [o.id, o.status])
        .sort(),
      [
        ['alice-1', 'cancelled'],
        ['bob-1', 'expired'],
      ],
    );
  });
});
