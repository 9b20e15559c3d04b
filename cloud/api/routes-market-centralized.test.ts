import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { type Command, commandSchema } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import type { TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import { battery, daSellOffer, pv, twoLateralFeeder400V } from '../../test-support/market/market-scenario.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../market/index.ts';

/**
 * Centralized model 1 (TSO only) through the API on a real cloud: aggregators bid for their DER,
 * the simulated ISO (injected) clears as market operator, the DGO screens the awards with the exact
 * power flow (a PV award that would push bus 2 over 1.05 pu is curtailed, with the reason, visible
 * to the DGO and the aggregator), and only the screened awards reach the gateway as commands.
 */
describe('market API, centralized model 1 (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  let t: TestCloud;
  let gateway: MqttClient | undefined;
  const dayStart = Date.UTC(2030, 0, 2);
  const noon = dayStart + 12 * HOUR_MS;
  const as = (user: string) => mc.as(user);
  const offer = (resource: string, q: number, p: number, extra: object = {}) =>
    daSellOffer(resource, noon, q, p, extra);

  before(async () => {
    mc = await startMarketCloud({
      clock: dayStart - DAY_MS,
      market: {
        model: 1,
        actors: [
          { id: 'iso', kind: 'iso', users: ['ivan'] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'agg', kind: 'aggregator', users: ['alice'] },
          { id: 'sunco', kind: 'producer', users: ['pete'] },
        ],
      },
      // Two laterals from the substation at 400 V: 30 kW at bus 2 behind 0.4 ohm overshoots 1.05 pu.
      feeder: { ...twoLateralFeeder400V, vmin_pu: 0.95, vmax_pu: 1.05 },
      registrar: 'uma',
      site: 'site-a',
      resources: [
        pv('pv-big', 'sunco', '2', 30000, { aggregator: 'agg', site: 'site-a', device: 'inv1' }),
        battery('bat-1', 'sunco', '1', 5000, 20000, {
          aggregator: 'agg',
          soc0_wh: 10000,
          site: 'site-a',
          device: 'bat1',
        }),
        battery('ubat', 'utility', '1', 5000, 20000, { aggregator: 'agg' }),
        pv('pv-new', 'sunco', '1', 3000, { aggregator: 'agg' }),
      ],
      certify: ['pv-big', 'bat-1', 'ubat'],
    });
    t = mc.t;
    gateway = mc.gateway;
  });
  after(async () => mc?.stop());

  it('takes DER only through their aggregator; refuses the ISO (DMO), utility DER, uncertified DER and P2P orders', async () => {
    const ok = await t.api('POST', '/market/bids', { ...as('alice'), body: offer('pv-big', 30000, 0) });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const bat = await t.api('POST', '/market/bids', { ...as('alice'), body: offer('bat-1', 5000, 10) });
    assert.equal(bat.status, 201);
    const direct = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('pete'),
      body: offer('pv-big', 1000, 0),
    });
    assert.equal(direct.status, 403);
    assert.equal(direct.body.code, 'AGGREGATOR_REQUIRED');
    const iso = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('ivan'),
      body: offer('bat-1', 1000, 0),
    });
    assert.equal(iso.body.code, 'DMO_SELF_DEALING');
    const utility = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('ubat', 1000, 0),
    });
    assert.equal(utility.status, 403);
    assert.equal(utility.body.code, 'UTILITY_DER_EXCLUDED');
    const uncert = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('pv-new', 1000, 0),
    });
    assert.equal(uncert.body.code, 'NOT_CERTIFIED');
    const p2p = await t.api<{ code: string }>('POST', '/market/p2p/orders', {
      ...as('alice'),
      body: { resource: 'pv-big', side: 'sell', intervalStart: noon, quantityWh: 1, limitPrice: 1 },
    });
    assert.equal(p2p.status, 409);
    assert.equal(p2p.body.code, 'WRONG_MARKET_FORM');
  });

  it('the ISO clears after gate closure; the DGO screens its awards and says why', async () => {
    const open = await t.api<{ code: string }>('POST', '/market/clearing/da', {
      ...as('ivan'),
      body: { dayStart },
    });
    assert.equal(open.body.code, 'GATE_OPEN');
    mc.setClock(dayStart - 12 * HOUR_MS);
    const late = await t.api<{ code: string }>('POST', '/market/bids', {
      ...as('alice'),
      body: offer('bat-1', 1000, 5, { interval_start: noon + HOUR_MS }),
    });
    assert.equal(late.body.code, 'GATE_CLOSED');
    const notIso = await t.api<{ code: string }>('POST', '/market/clearing/da', {
      ...as('uma'),
      body: { dayStart },
    });
    assert.equal(notIso.body.code, 'NOT_DMO');
    const run = await t.api<{ balanced: boolean; lmp: number[]; curtailed: number; screenedOut: number }>(
      'POST',
      '/market/clearing/da',
      { ...as('ivan'), body: { dayStart } },
    );
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    assert.ok(run.body.lmp[12] > 10, `ISO LMP at noon ${run.body.lmp[12]} clears both offers`);
    assert.equal(run.body.curtailed + run.body.screenedOut, 1);
    type Screen = {
      resource: string;
      participant: string;
      awardW: number;
      screenedW: number;
      status: string;
      reason: string | null;
    };
    const dgo = await t.api<Screen[]>('GET', '/market/screening', as('uma'));
    const big = dgo.body.find((s) => s.resource === 'pv-big')!;
    assert.equal(big.awardW, 30000);
    assert.ok(big.screenedW < 30000 && big.screenedW > 0, `curtailed to ${big.screenedW}`);
    assert.equal(big.status, 'curtailed');
    assert.match(big.reason!, /voltage .* at bus 2 beyond the max of 1.05 pu/);
    assert.equal(dgo.body.find((s) => s.resource === 'bat-1')!.status, 'feasible');
    const agg = await t.api<Screen[]>('GET', '/market/screening', as('alice'));
    assert.deepEqual(agg.body.map((s) => s.resource).sort(), ['bat-1', 'pv-big']);
    assert.deepEqual((await t.api<Screen[]>('GET', '/market/screening', as('pete'))).body, []);
    const awards = await t.api<{ resource: string; participant: string }[]>(
      'GET',
      '/market/awards',
      as('alice'),
    );
    assert.ok(awards.body.every((a) => a.participant === 'agg'));
  });

  it('dispatches only the screened awards through the command pipeline, issued by the DERM (the ISO)', async () => {
    const received: Command[] = [];
    await gateway!.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
    gateway!.on('message', (_t, payload) =>
      received.push(commandSchema.parse(JSON.parse(payload.toString()))),
    );
    const rtStart = noon + 2 * RT_INTERVAL_MS;
    mc.setClock(rtStart - RT_INTERVAL_MS);
    const run = await t.api<{
      balanced: boolean;
      dispatch: { resource: string; status: string; commandId: string; screenedW: number; awardW: number }[];
    }>('POST', '/market/clearing/rt', {
      ...as('ivan'),
      body: { intervalStart: rtStart, interfacePrice: 40 },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    const pv = run.body.dispatch.find((d) => d.resource === 'pv-big')!;
    assert.ok(pv.screenedW < 30000);
    for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const cmd = received.find((c) => c.id === pv.commandId) as unknown as { w: number; type: string };
    assert.equal(cmd.type, 'active_power_limit');
    assert.ok(
      cmd.w <= pv.screenedW + 1e-6 && cmd.w < 30000,
      `the field gets the screened ${cmd.w} W, not 30 kW`,
    );
    const rec = await t.api<{ issuedBy: string }>('GET', `/commands/${pv.commandId}`);
    assert.equal(rec.body.issuedBy, 'market:DERM:iso');
    const books = await t.api<{ balanced: boolean }>('GET', '/market/settlements?all=true', as('ivan'));
    assert.equal(books.body.balanced, true);
    const audit = await t.api<{ action: string; actor: string }[]>('GET', '/audit?limit=1000');
    for (const a of ['market.clear.da', 'market.dgo.screen', 'market.clear.rt', 'market.dispatch.rt'])
      assert.ok(
        audit.body.some((x) => x.action === a && x.actor === 'user:ivan'),
        a,
      );
  });
});
