import assert from 'node:assert/strict';
import { type Command, commandSchema } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { SseReader } from '../../test-support/cloud/sse-reader.ts';
import { auditLog, type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import {
  battery,
  flexLoad,
  p2pOrder,
  pv,
  radialFeeder400V,
} from '../../test-support/market/market-scenario.ts';
import type { MarketSettingsInput } from '../market/index.ts';
import { HOUR_MS, RT_INTERVAL_MS } from '../market/index.ts';

/**
 * Peer-to-peer model 6 (independent) through the API on a real cloud. It differs from model 5
 * (routes-market-p2p.test.ts) in who operates the market and whose DER may trade: an independent
 * DSO is the DMO (it closes intervals and collects the DMO fee; it may not trade), and the utility,
 * no longer the DMO, may trade its own DER (model 5 refuses that) unless the operator forbids it
 * (`utilityDerMayParticipate: false`: UTILITY_DER_EXCLUDED). The utility stays DGO and provider of
 * last resort. Refusals carry their reason and are audited.
 */
const T = Date.UTC(2030, 0, 2, 12);
const actors = [
  { id: 'iso', kind: 'iso' as const, users: [] },
  { id: 'utility', kind: 'utility' as const, users: ['uma'] },
  { id: 'dso', kind: 'independent_dso' as const, users: ['dora'] },
  { id: 'sunco', kind: 'producer' as const, users: ['alice'] },
  { id: 'homeco', kind: 'consumer' as const, users: ['bob'] },
];
const order = (resource: string, side: 'buy' | 'sell', wh: number, price: number) =>
  p2pOrder(resource, side, T, wh, price);

function model6(market: Partial<MarketSettingsInput> = {}): Promise<MarketCloud> {
  return startMarketCloud({
    clock: T - HOUR_MS,
    market: {
      model: 6,
      actors,
      p2p: { polrFeePerMWh: 20 },
      fees: { dmo: { kind: 'transaction', centsPerMWh: 5000 }, wheelingCentsPerMWh: 800 },
      ...market,
    },
    feeder: radialFeeder400V(),
    registrar: 'uma',
    site: 'site-a',
    resources: [
      pv('pv-a', 'sunco', '2', 20000, { site: 'site-a', device: 'inv1' }),
      flexLoad('load-b', 'homeco', '1', 20000),
      battery('bat-u', 'utility', '1', 5000, 10000, { site: 'site-a', device: 'bat1' }),
      battery('bat-d', 'dso', '2', 5000, 10000),
    ],
    certify: ['pv-a', 'load-b', 'bat-u', 'bat-d'],
  });
}

describe('market API, peer-to-peer model 6: independent DMO, utility DER may trade (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  before(async () => {
    mc = await model6();
  });
  after(async () => mc?.stop());

  it('names the independent DSO as DMO, no DERM, and the utility as DGO and participant', async () => {
    const r = await mc.t.api<{
      model: number;
      roles: { DMO: string; DERM: string | null; DGO: string };
      you: Record<string, string[]>;
    }>('GET', '/market', mc.as('uma'));
    assert.equal(r.status, 200);
    assert.equal(r.body.model, 6);
    assert.deepEqual([r.body.roles.DMO, r.body.roles.DERM, r.body.roles.DGO], ['dso', null, 'utility']);
    assert.ok(r.body.you.utility.includes('DGO') && r.body.you.utility.includes('participant'));
  });

  it('the utility trades its own battery; the independent DMO may not trade', async () => {
    const sell = await mc.t.api('POST', '/market/p2p/orders', {
      ...mc.as('alice'),
      body: order('pv-a', 'sell', 6000, 30),
    });
    assert.equal(sell.status, 201, JSON.stringify(sell.body));
    const utility = await mc.t.api<{ trades: { price: number; quantityWh: number; status: string }[] }>(
      'POST',
      '/market/p2p/orders',
      { ...mc.as('uma'), body: order('bat-u', 'buy', 2000, 35) },
    );
    assert.equal(utility.status, 201, JSON.stringify(utility.body));
    assert.deepEqual(
      utility.body.trades.map((t) => [t.quantityWh, t.price, t.status]),
      [[2000, 30, 'accepted']],
    );
    const dmo = await mc.t.api<{ code: string; reason: string }>('POST', '/market/p2p/orders', {
      ...mc.as('dora'),
      body: order('bat-d', 'sell', 1000, 10),
    });
    assert.equal(dmo.status, 403);
    assert.equal(dmo.body.code, 'DMO_SELF_DEALING');
    assert.match(dmo.body.reason, /"dso" operates this market \(DMO\)/);
    const bob = await mc.t.api('POST', '/market/p2p/orders', {
      ...mc.as('bob'),
      body: order('load-b', 'buy', 4000, 40),
    });
    assert.equal(bob.status, 201);
    const all = await mc.t.api<{ buyer: string; seller: string; quantityWh: number }[]>(
      'GET',
      '/market/p2p/trades?all=true',
      mc.as('dora'),
    );
    assert.deepEqual(
      all.body.map((t) => [t.buyer, t.seller, t.quantityWh]),
      [
        ['utility', 'sunco', 2000],
        ['homeco', 'sunco', 4000],
      ],
    );
  });

  it('only the independent DMO closes; the utility is refused with the reason', async () => {
    mc.setClock(T - RT_INTERVAL_MS);
    const utility = await mc.t.api<{ code: string; reason: string }>('POST', '/market/p2p/close', {
      ...mc.as('uma'),
      body: { intervalStart: T, lmp: 50 },
    });
    assert.equal(utility.status, 403);
    assert.equal(utility.body.code, 'NOT_DMO');
    assert.match(utility.body.reason, /does not act for the DMO \("dso"\)/);
  });

  it('the close settles the utility like any trader: DMO fee to the independent DSO, books balance, self-dispatch', async () => {
    // The operator app's live stream announces the run.
    const live = await SseReader.open(`${mc.t.cloud.apiUrl}/events`, {
      authorization: `Bearer ${mc.tok.dora}`,
    });
    assert.equal(live.status, 200);
    // /me tells the app which market organization the user acts for.
    const me = await mc.t.api<{ market: { actors: string[]; roles: Record<string, string[]> } }>(
      'GET',
      '/me',
      mc.as('dora'),
    );
    assert.deepEqual(me.body.market.actors, ['dso']);
    assert.ok(me.body.market.roles.dso.includes('DMO'), JSON.stringify(me.body.market));
    const received: Command[] = [];
    const gw = mc.gateway!;
    await gw.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
    gw.on('message', (_t, payload) => received.push(commandSchema.parse(JSON.parse(payload.toString()))));
    const run = await mc.t.api<{
      balanced: boolean;
      trades: number;
      polr: unknown[];
      dispatch: { resource: string; status: string; commandId: string | null }[];
    }>('POST', '/market/p2p/close', { ...mc.as('dora'), body: { intervalStart: T, lmp: 50 } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    await live.until(
      () =>
        live.events.some((e) => e.name === 'market' && e.data.kind === 'run' && e.data.intervalStart === T),
      5000,
      'market run event',
    );
    assert.equal(live.events.find((e) => e.name === 'market')?.data.market, 'P2P');
    assert.equal(run.body.balanced, true);
    assert.equal(run.body.trades, 2);
    assert.deepEqual(run.body.polr, [], 'every order matched: nothing for the provider of last resort');

    const books = await mc.t.api<{
      balanced: boolean;
      entries: { from: string; to: string; cents: number; kind: string }[];
    }>('GET', '/market/settlements?all=true', mc.as('dora'));
    assert.equal(books.body.balanced, true);
    const fee = (from: string) =>
      books.body.entries.find((e) => e.kind === 'dmo_fee' && e.from === from && e.to === 'dso')?.cents;
    // Transaction fee 5000 c/MWh on traded energy: utility 2 kWh, homeco 4 kWh, sunco 6 kWh.
    assert.deepEqual([fee('utility'), fee('homeco'), fee('sunco')], [10, 20, 30]);
    assert.ok(
      books.body.entries.every((e) => e.from !== e.to),
      `no account pays itself: ${JSON.stringify(books.body.entries.filter((e) => e.from === e.to))}`,
    );
    const own = await mc.t.api<{ totals: Record<string, { byKind: Record<string, number> }> }>(
      'GET',
      '/market/settlements',
      mc.as('uma'),
    );
    assert.equal(own.body.totals.utility.byKind.p2p_trade, -6, '2 kWh at $30/MWh');
    assert.equal(own.body.totals.utility.byKind.dmo_fee, -10);

    const bat = run.body.dispatch.find((d) => d.resource === 'bat-u')!;
    assert.equal(bat.status, 'sent');
    for (let i = 0; i < 100 && !received.some((c) => c.id === bat.commandId); i++)
      await new Promise((r) => setTimeout(r, 20));
    const cmd = received.find((c) => c.id === bat.commandId) as unknown as { type: string; w: number };
    assert.equal(cmd.type, 'battery_power');
    assert.ok(Math.abs(cmd.w + 2000) < 1e-6, `the battery charges its 2 kWh trade, got ${cmd.w}`);
    const rec = await mc.t.api<{ issuedBy: string }>('GET', `/commands/${bat.commandId}`);
    assert.equal(rec.body.issuedBy, 'market:self:utility');
  });

  it('lists the close as a P2P run, not as a real-time market run (runs, awards, settlements)', async () => {
    const runs = (market: string) =>
      mc.t.api<{ id: string; market: string; runBy: string }[]>(
        'GET',
        `/market/runs?market=${market}`,
        mc.as('dora'),
      );
    assert.deepEqual((await runs('RT')).body, []);
    const p2p = (await runs('P2P')).body;
    assert.deepEqual(
      p2p.map((r) => [r.market, r.runBy]),
      [['P2P', 'dso']],
    );
    const awards = await mc.t.api<{ market: string; resource: string; awardW: number }[]>(
      'GET',
      '/market/awards',
      mc.as('uma'),
    );
    assert.deepEqual(
      awards.body.map((a) => [a.market, a.resource, a.awardW]),
      [['P2P', 'bat-u', -2000]],
    );
    assert.deepEqual((await mc.t.api('GET', '/market/awards?market=RT', mc.as('uma'))).body, []);
    const s = await mc.t.api<{ entries: { market: string; runId: string }[] }>(
      'GET',
      '/market/settlements?market=P2P',
      mc.as('bob'),
    );
    assert.ok(s.body.entries.length > 0);
    assert.ok(s.body.entries.every((e) => e.market === 'P2P' && e.runId === p2p[0].id));
  });

  it('audits the refusals with their codes and the close by the independent DSO', async () => {
    const audit = await auditLog(mc.t);
    const code = (action: string, actor: string) =>
      (audit.find((a) => a.action === action && a.actor === actor)?.detail.refusal as { code: string })?.code;
    assert.equal(code('market.p2p.order.submit.refused', 'user:dora'), 'DMO_SELF_DEALING');
    assert.equal(code('market.p2p.close.refused', 'user:uma'), 'NOT_DMO');
    const close = audit.find((a) => a.action === 'market.p2p.close' && a.actor === 'user:dora');
    assert.equal(close?.detail.as, 'dso');
    assert.ok(
      audit.some(
        (a) => a.action === 'market.p2p.order.submit' && a.actor === 'user:uma' && a.target !== null,
      ),
    );
  });
});

describe('market API, model 6 with utility DER forbidden by the operator (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  before(async () => {
    mc = await model6({ utilityDerMayParticipate: false });
  });
  after(async () => mc?.stop());

  it('refuses the utility’s battery with UTILITY_DER_EXCLUDED and audits it; others still trade', async () => {
    const r = await mc.t.api<{ code: string; reason: string }>('POST', '/market/p2p/orders', {
      ...mc.as('uma'),
      body: order('bat-u', 'buy', 2000, 35),
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'UTILITY_DER_EXCLUDED');
    assert.match(
      r.body.reason,
      /"bat-u" is utility-owned and model 6 .* does not let utility-owned DER participate/,
    );
    const ok = await mc.t.api('POST', '/market/p2p/orders', {
      ...mc.as('alice'),
      body: order('pv-a', 'sell', 1000, 30),
    });
    assert.equal(ok.status, 201);
    const audit = await auditLog(mc.t);
    const refused = audit.find(
      (a) => a.action === 'market.p2p.order.submit.refused' && a.actor === 'user:uma',
    );
    assert.ok(refused);
    assert.equal((refused.detail.refusal as { code: string }).code, 'UTILITY_DER_EXCLUDED');
  });
});
