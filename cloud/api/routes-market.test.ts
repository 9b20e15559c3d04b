import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { type Command, commandSchema } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import type { TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import { daSellOffer, radialFeeder12kV } from '../../test-support/market/market-scenario.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../market/index.ts';

/**
 * The market API end to end on a real cloud (HTTP + embedded MQTT on free ports): registration and
 * certification by the utility, bidding with the core rules' refusals, gate closure on the
 * market's injectable clock, DMO clearing, per-participant isolation, balanced books, audit, and
 * real-time awards reaching a fake gateway as commands.
 */
describe('market API (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  let t: TestCloud;
  let gateway: MqttClient | undefined;
  const dayStart = Date.UTC(2030, 0, 2);
  const noon = dayStart + 12 * HOUR_MS;
  const rtStart = noon + 2 * RT_INTERVAL_MS;
  const as = (user: string) => mc.as(user);
  const offer = (resource: string, interval: number, q: number, p: number, extra: object = {}) =>
    daSellOffer(resource, interval, q, p, { product: 'energy', ...extra });

  before(async () => {
    mc = await startMarketCloud({
      clock: dayStart - DAY_MS, // the day before, gate open
      market: {
        model: 4,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'dso', kind: 'independent_dso', users: ['dora'] },
          { id: 'sunco', kind: 'producer', users: ['alice'] },
          { id: 'battco', kind: 'producer', users: ['bob'] },
        ],
      },
      // A three-bus radial feeder: substation 0, PV at 1, battery and load at 2.
      feeder: radialFeeder12kV,
      extraUsers: [['vic', 'viewer']],
      // The gateway reports devices inv1 (active_power_limit) and bat1 (battery_power).
      site: 'site-a',
    });
    t = mc.t;
    gateway = mc.gateway;
  });
  after(async () => mc?.stop());

  it('shows the model and who the caller acts as', async () => {
    const r = await t.api<{
      model: number;
      roles: { DMO: string; DGO: string };
      you: Record<string, string[]>;
    }>('GET', '/market', as('dora'));
    assert.equal(r.status, 200);
    assert.equal(r.body.model, 4);
    assert.equal(r.body.roles.DMO, 'dso');
    assert.equal(r.body.roles.DGO, 'utility');
    assert.ok(r.body.you.dso.includes('DMO'));
    // The gates on the market clock (the day before dayStart, 00:00): today's DA gate closed at noon
    // the day before, dayStart's closes at noon today (default 12 h), RT gates 5 min before.
    const g = r.body as unknown as {
      now: number;
      gateState: {
        DA: { intervalStart: number; closesAt: number; open: boolean }[];
        RT: { intervalStart: number; closesAt: number; open: boolean }[];
      };
    };
    assert.equal(g.now, dayStart - DAY_MS);
    assert.deepEqual(g.gateState.DA, [
      { intervalStart: dayStart - DAY_MS, closesAt: dayStart - DAY_MS - 12 * HOUR_MS, open: false },
      { intervalStart: dayStart, closesAt: dayStart - 12 * HOUR_MS, open: true },
      { intervalStart: dayStart + DAY_MS, closesAt: dayStart + DAY_MS - 12 * HOUR_MS, open: true },
    ]);
    assert.deepEqual(g.gateState.RT[0], {
      intervalStart: dayStart - DAY_MS + RT_INTERVAL_MS,
      closesAt: dayStart - DAY_MS,
      open: false,
    });
    assert.equal(g.gateState.RT[1].open, true);
  });

  it('the utility registers resources linked to site devices; others may not; bids wait for certification', async () => {
    const pv = {
      id: 'pv-a',
      owner: 'sunco',
      kind: 'pv',
      bus: '1',
      max_inject_w: 30000,
      max_withdraw_w: 0,
      site: 'site-a',
      device: 'inv1',
    };
    const bat = {
      id: 'bat-b',
      owner: 'battco',
      kind: 'battery',
      bus: '2',
      max_inject_w: 10000,
      max_withdraw_w: 10000,
      energy_wh: 40000,
      soc0_wh: 20000,
      site: 'site-a',
      device: 'bat1',
    };
    const denied = await t.api<{ error: string }>('POST', '/market/resources', { ...as('alice'), body: pv });
    assert.equal(denied.status, 403);
    const notDgo = await t.api<{ code: string }>('POST', '/market/resources', { ...as('dora'), body: pv });
    assert.equal(notDgo.status, 403);
    assert.equal(notDgo.body.code, 'NOT_DGO');
    const badDevice = await t.api<{ code: string }>('POST', '/market/resources', {
      ...as('uma'),
      body: { ...pv, device: 'nope' },
    });
    assert.equal(badDevice.status, 422);
    for (const body of [pv, bat]) {
      const r = await t.api<{ status: string; site: string }>('POST', '/market/resources', {
        ...as('uma'),
        body,
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.status, 'registered');
      assert.equal(r.body.site, 'site-a');
    }
    const early = await t.api<{ code: string; error: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('pv-a', noon, 20000, 10),
    });
    assert.equal(early.status, 422);
    assert.equal(early.body.code, 'NOT_CERTIFIED');
    for (const id of ['pv-a', 'bat-b']) {
      const r = await t.api<{ status: string }>('PATCH', `/market/resources/${id}`, {
        ...as('uma'),
        body: { status: 'certified' },
      });
      assert.equal(r.body.status, 'certified');
    }
    // Alice sees her resource only; the DGO sees both.
    const mine = await t.api<{ id: string }[]>('GET', '/market/resources', as('alice'));
    assert.deepEqual(
      mine.body.map((r) => r.id),
      ['pv-a'],
    );
    const all = await t.api<{ id: string }[]>('GET', '/market/resources', as('uma'));
    assert.deepEqual(all.body.map((r) => r.id).sort(), ['bat-b', 'pv-a']);
  });

  it('submits, modifies and cancels bids; refuses non-monotone curves, the DMO, a viewer and strangers', async () => {
    const sub = await t.api<{ id: string; participant: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('pv-a', noon, 20000, 10, { id: 'alice-noon' }),
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    assert.equal(sub.body.participant, 'sunco');
    const mod = await t.api<{ steps: { quantity_w: number }[] }>('PATCH', '/market/bids/alice-noon', {
      ...as('alice'),
      body: {
        steps: [
          { quantity_w: 15000, price_per_mwh: 8 },
          { quantity_w: 5000, price_per_mwh: 12 },
        ],
      },
    });
    assert.equal(mod.status, 200);
    assert.deepEqual(
      mod.body.steps.map((s) => s.quantity_w),
      [15000, 5000],
    );
    const extra = await t.api('POST', '/market/bids', {
      ...as('alice'),
      body: offer('pv-a', noon + HOUR_MS, 1000, 5, { id: 'alice-13' }),
    });
    assert.equal(extra.status, 201);
    const del = await t.api<{ id: string }>('DELETE', '/market/bids/alice-13', as('alice'));
    assert.equal(del.status, 200);
    assert.equal(del.body.id, 'alice-13');

    const mono = await t.api<{ code: string; error: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: {
        ...offer('pv-a', noon + HOUR_MS, 0, 0),
        steps: [
          { quantity_w: 5000, price_per_mwh: 30 },
          { quantity_w: 5000, price_per_mwh: 20 },
        ],
      },
    });
    assert.equal(mono.status, 422);
    assert.equal(mono.body.code, 'NON_MONOTONE');
    assert.match(mono.body.error, /offer prices must not decrease/);

    const dmo = await t.api<{ code: string; error: string }>('POST', '/market/bids', {
      ...as('dora'),
      body: offer('pv-a', noon + 2 * HOUR_MS, 1000, 5),
    });
    assert.equal(dmo.status, 403);
    assert.equal(dmo.body.code, 'DMO_SELF_DEALING');
    assert.match(dmo.body.error, /operates this market/);

    const viewer = await t.api('POST', '/market/bids', { ...as('vic'), body: offer('pv-a', noon, 1000, 5) });
    assert.equal(viewer.status, 403);
    const stranger = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('bob'),
      body: offer('pv-a', noon + 3 * HOUR_MS, 1000, 5),
    });
    assert.equal(stranger.status, 403);
    assert.equal(stranger.body.code, 'NOT_REPRESENTED');
    const beyond = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('pv-a', noon + 3 * HOUR_MS, 31000, 5),
    });
    assert.equal(beyond.body.code, 'BEYOND_CAPABILITY');

    // Bob charges the battery at night (cheap) so it can discharge later.
    const night = await t.api('POST', '/market/bids', {
      ...as('bob'),
      body: { ...offer('bat-b', dayStart + 3 * HOUR_MS, 5000, 200), side: 'buy', id: 'bob-night' },
    });
    assert.equal(night.status, 201);
  });

  it('keeps participants apart: own bids only, no touching others’ bids, DMO-only full views', async () => {
    const bob = await t.api<{ id: string }[]>('GET', '/market/bids', as('bob'));
    assert.deepEqual(
      bob.body.map((b) => b.id),
      ['bob-night'],
    );
    const steal = await t.api<{ code: string }>('PATCH', '/market/bids/alice-noon', {
      ...as('bob'),
      body: { steps: [{ quantity_w: 1, price_per_mwh: 1 }] },
    });
    assert.equal(steal.status, 403);
    assert.equal(steal.body.code, 'NOT_YOURS');
    const cancel = await t.api('DELETE', '/market/bids/alice-noon', as('bob'));
    assert.equal(cancel.status, 403);
    assert.equal((await t.api('GET', '/market/bids?all=true', as('bob'))).status, 403);
    const all = await t.api<{ id: string }[]>('GET', '/market/bids?all=true', as('dora'));
    assert.deepEqual(all.body.map((b) => b.id).sort(), ['alice-noon', 'bob-night']);
  });

  it('enforces gate closure: no clearing while open, no bids or cancels after', async () => {
    const open = await t.api<{ code: string }>('POST', '/market/clearing/da', {
      ...as('dora'),
      body: { dayStart },
    });
    assert.equal(open.status, 409);
    assert.equal(open.body.code, 'GATE_OPEN');
    mc.setClock(dayStart - 12 * HOUR_MS); // gate closes exactly now
    const late = await t.api<{ code: string; error: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('pv-a', noon + HOUR_MS, 1000, 5),
    });
    assert.equal(late.status, 409);
    assert.equal(late.body.code, 'GATE_CLOSED');
    assert.match(late.body.error, /closed at 2030-01-01T12:00:00.000Z/);
    const cancel = await t.api<{ code: string }>('DELETE', '/market/bids/alice-noon', as('alice'));
    assert.equal(cancel.status, 409);
    const notDmo = await t.api<{ code: string }>('POST', '/market/clearing/da', {
      ...as('alice'),
      body: { dayStart },
    });
    assert.equal(notDmo.status, 403);
  });

  it('clears the day ahead: awards and prices through the API, each participant sees its own, books balance', async () => {
    const run = await t.api<{ runId: string; lmp: number[]; balanced: boolean; awards: number }>(
      'POST',
      '/market/clearing/da',
      { ...as('dora'), body: { dayStart, loadForecastW: { '2': Array(24).fill(15000) } } },
    );
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    assert.ok(run.body.lmp[12] > 12, `LMP at noon ${run.body.lmp[12]} should exceed both PV steps`);
    type Award = {
      resource: string;
      participant: string;
      intervalStart: number;
      awardW: number;
      pricePerMWh: number;
    };
    const alice = await t.api<Award[]>(
      'GET',
      `/market/awards?market=DA&from=${noon}&to=${noon + HOUR_MS}`,
      as('alice'),
    );
    assert.equal(alice.status, 200);
    assert.deepEqual(
      alice.body.map((a) => [a.resource, a.participant]),
      [['pv-a', 'sunco']],
    );
    assert.ok(Math.abs(alice.body[0].awardW - 20000) < 1e-3, `pv-a awarded ${alice.body[0].awardW} W`);
    const bob = await t.api<Award[]>('GET', '/market/awards?market=DA', as('bob'));
    assert.ok(bob.body.length > 0 && bob.body.every((a) => a.participant === 'battco'));
    const night = bob.body.find((a) => a.intervalStart === dayStart + 3 * HOUR_MS)!;
    assert.ok(Math.abs(night.awardW + 5000) < 1e-3, `battery charges 5 kW at 03:00, got ${night.awardW}`);
    assert.equal((await t.api('GET', '/market/awards?all=true', as('alice'))).status, 403);
    const all = await t.api<Award[]>('GET', '/market/awards?all=true&market=DA', as('dora'));
    assert.deepEqual([...new Set(all.body.map((a) => a.participant))].sort(), ['battco', 'sunco']);

    const prices = await t.api<
      { bus: string; dlmp: number; energy: number; congestion: number; voltage: number; loss: number }[]
    >('GET', `/market/prices?market=DA&from=${noon}&to=${noon + 1}`, as('vic'));
    assert.deepEqual(prices.body.map((p) => p.bus).sort(), ['0', '1', '2']);
    for (const p of prices.body)
      assert.ok(Math.abs(p.energy + p.loss + p.congestion + p.voltage - p.dlmp) < 1e-6);
    assert.ok(Math.abs(alice.body[0].pricePerMWh - prices.body.find((p) => p.bus === '1')!.dlmp) < 1e-9);

    type Settle = {
      entries: { from: string; to: string; cents: number }[];
      totals: Record<string, { net: number }>;
      balanced?: boolean;
      books?: { balanced: boolean; sumCents: number }[];
    };
    const aliceS = await t.api<Settle>('GET', '/market/settlements', as('alice'));
    assert.deepEqual(Object.keys(aliceS.body.totals), ['sunco']);
    assert.ok(aliceS.body.entries.every((e) => e.from === 'sunco' || e.to === 'sunco'));
    assert.ok(aliceS.body.totals.sunco.net > 0, 'the PV seller is paid');
    assert.equal(aliceS.body.balanced, undefined);
    assert.equal((await t.api('GET', '/market/settlements?all=true', as('bob'))).status, 403);
    const books = await t.api<Settle>('GET', '/market/settlements?all=true', as('dora'));
    assert.equal(books.body.balanced, true);
    assert.equal(books.body.books!.length, 24);
    assert.ok(books.body.books!.every((b) => b.balanced && b.sumCents === 0));
    // Alice's total seen by the DMO equals what she sees herself.
    assert.equal(books.body.totals.sunco.net, aliceS.body.totals.sunco.net);
  });

  it('clears a real-time interval and sends the awards to the site as expiring commands, after the DGO screen', async () => {
    const received: Command[] = [];
    await gateway!.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
    const got = new Promise<void>((resolve) => {
      gateway!.on('message', (_topic, payload) => {
        received.push(commandSchema.parse(JSON.parse(payload.toString())));
        if (received.length === 2) resolve();
      });
    });
    // Bob offers 6 kW of discharge for one RT interval; Alice's DA curve carries over.
    const rtBid = await t.api('POST', '/market/bids', {
      ...as('bob'),
      body: {
        resource: 'bat-b',
        market: 'RT',
        product: 'energy',
        side: 'sell',
        interval_start: rtStart,
        steps: [{ quantity_w: 6000, price_per_mwh: 5 }],
      },
    });
    assert.equal(rtBid.status, 201, JSON.stringify(rtBid.body));
    mc.setClock(rtStart - RT_INTERVAL_MS); // RT gate closes now
    const run = await t.api<{
      balanced: boolean;
      screen: { feasible: boolean } | null;
      dispatch: { resource: string; status: string; commandId: string; screenedW: number }[];
    }>('POST', '/market/clearing/rt', {
      ...as('dora'),
      body: { intervalStart: rtStart, interfacePrice: 40, loadForecastW: { '2': 16000 } },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    assert.equal(run.body.screen?.feasible, true);
    await got;
    const bat = received.find((c) => c.type === 'battery_power')!;
    const pv = received.find((c) => c.type === 'active_power_limit')!;
    assert.equal(bat.device, 'bat1');
    assert.ok(
      Math.abs((bat as { w: number }).w - 6000) < 1e-3,
      `battery discharges 6 kW, got ${(bat as { w: number }).w}`,
    );
    assert.equal(pv.device, 'inv1');
    assert.ok(Math.abs((pv as { w: number }).w - 20000) < 1e-3);
    // Expires at the end of the interval as seen by the market clock: 10 minutes from "now".
    assert.equal(bat.expiresAt - bat.issuedAt, 2 * RT_INTERVAL_MS);
    const ids = new Set(run.body.dispatch.map((d) => d.commandId));
    assert.ok(ids.has(bat.id) && ids.has(pv.id));

    const screening = await t.api<{ resource: string; status: string; commandId: string }[]>(
      'GET',
      '/market/dgo/screening',
      as('uma'),
    );
    assert.deepEqual(screening.body.map((d) => [d.resource, d.status]).sort(), [
      ['bat-b', 'sent'],
      ['pv-a', 'sent'],
    ]);
    assert.equal((await t.api('GET', '/market/dgo/screening', as('alice'))).status, 403);
    const cmd = await t.api<{ status: string; issuedBy: string }>('GET', `/commands/${bat.id}`);
    assert.equal(cmd.body.issuedBy, 'market:DERM:dso');

    type Award = { resource: string; deviationW: number; awardW: number };
    const bobRt = await t.api<Award[]>('GET', '/market/awards?market=RT', as('bob'));
    assert.deepEqual(
      bobRt.body.map((a) => a.resource),
      ['bat-b'],
    );
    assert.ok(
      Math.abs(bobRt.body[0].deviationW - 6000) < 1e-3,
      'DA schedule at noon was 0: all of it is deviation',
    );
    const books = await t.api<{ balanced: boolean }>(
      'GET',
      '/market/settlements?all=true&market=RT',
      as('dora'),
    );
    assert.equal(books.body.balanced, true);
  });

  it('the DGO may issue emergency dispatch; participants may not', async () => {
    const r = await t.api<{ type: string; status: string }>('POST', '/market/dgo/emergency', {
      ...as('uma'),
      body: { resource: 'bat-b', w: 0, ttlSeconds: 60, reason: 'feeder 1-2 overload' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.type, 'battery_power');
    assert.equal(
      (
        await t.api('POST', '/market/dgo/emergency', {
          ...as('alice'),
          body: { resource: 'bat-b', w: 0, reason: 'x' },
        })
      ).status,
      403,
    );
  });

  it('audits every market action, accepted or refused, with who did it', async () => {
    const audit = await t.api<
      { actor: string; action: string; target: string; detail: { refusal?: { code: string } } }[]
    >('GET', '/audit?limit=1000');
    const seen = (action: string, actor: string) =>
      audit.body.some((a) => a.action === action && a.actor === actor);
    assert.ok(seen('market.resource.register', 'user:uma'));
    assert.ok(seen('market.resource.status', 'user:uma'));
    assert.ok(seen('market.bid.submit', 'user:alice'));
    assert.ok(seen('market.bid.modify', 'user:alice'));
    assert.ok(seen('market.bid.cancel', 'user:alice'));
    assert.ok(seen('market.clear.da', 'user:dora'));
    assert.ok(seen('market.clear.rt', 'user:dora'));
    assert.ok(seen('market.dispatch.rt', 'user:dora'));
    assert.ok(seen('market.dgo.emergency', 'user:uma'));
    const refusals = audit.body
      .filter((a) => a.action === 'market.bid.submit.refused')
      .map((a) => a.detail.refusal?.code);
    for (const code of ['NOT_CERTIFIED', 'NON_MONOTONE', 'DMO_SELF_DEALING', 'GATE_CLOSED'])
      assert.ok(refusals.includes(code), code);
  });

  it('restores resources and live bids after a restart', async () => {
    const { MarketService } = await import('../market/index.ts');
    const m = await MarketService.open({
      registry: t.cloud.registry,
      settings: t.cloud.market!.deps.settings,
      iso: t.cloud.market!.deps.iso,
    });
    assert.deepEqual(
      m.resources
        .all()
        .map((r) => [r.id, r.status])
        .sort(),
      [
        ['bat-b', 'certified'],
        ['pv-a', 'certified'],
      ],
    );
    assert.deepEqual(
      m.book
        .list()
        .map((b) => b.id)
        .sort(),
      t.cloud
        .market!.book.list()
        .map((b) => b.id)
        .sort(),
    );
    assert.equal(m.links.get('bat-b')?.device, 'bat1');
  });
});
