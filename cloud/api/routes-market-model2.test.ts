import assert from 'node:assert/strict';
import { type Command, commandSchema } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { auditLog, type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import { battery, daSellOffer, pv, twoLateralFeeder400V } from '../../test-support/market/market-scenario.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../market/index.ts';

/**
 * Centralized model 2 (TSO - hybrid utility) through the API on a real cloud. It differs from
 * model 1 (routes-market-centralized.test.ts) in one role: the utility, not the ISO, is the DERM.
 * The ISO still operates the market (DMO: it clears, the utility may not), but dispatching the
 * screened awards to DER is the utility's: the ISO is refused (NOT_DERM, with the reason, audited),
 * the utility dispatches and the commands carry its name. Utility-owned DER follow the operator's
 * choice (open in models 1 and 2): allowed here, through an aggregator like any DER.
 */
describe('market API, centralized model 2: the utility is the DERM (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  const dayStart = Date.UTC(2030, 0, 2);
  const noon = dayStart + 12 * HOUR_MS;
  const offer = (resource: string, q: number, p: number) => daSellOffer(resource, noon, q, p);

  before(async () => {
    mc = await startMarketCloud({
      clock: dayStart - DAY_MS,
      market: {
        model: 2,
        utilityDerMayParticipate: true,
        actors: [
          { id: 'iso', kind: 'iso', users: ['ivan'] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'agg', kind: 'aggregator', users: ['alice'] },
          { id: 'sunco', kind: 'producer', users: ['pete'] },
        ],
      },
      // 30 kW at bus 2 behind 0.4 ohm at 400 V overshoots 1.05 pu: the DGO curtails it.
      feeder: { ...twoLateralFeeder400V, vmin_pu: 0.95, vmax_pu: 1.05 },
      registrar: 'uma',
      site: 'site-a',
      resources: [
        pv('pv-big', 'sunco', '2', 30000, { aggregator: 'agg', site: 'site-a', device: 'inv1' }),
        battery('ubat', 'utility', '1', 5000, 20000, {
          aggregator: 'agg',
          soc0_wh: 10000,
          site: 'site-a',
          device: 'bat1',
        }),
      ],
      certify: ['pv-big', 'ubat'],
    });
  });
  after(async () => mc?.stop());

  it('names the utility as DERM and the ISO as DMO', async () => {
    const r = await mc.t.api<{
      model: number;
      roles: { DMO: string; DERM: string; DGO: string };
      you: Record<string, string[]>;
    }>('GET', '/market', mc.as('uma'));
    assert.equal(r.status, 200);
    assert.equal(r.body.model, 2);
    assert.deepEqual([r.body.roles.DMO, r.body.roles.DERM, r.body.roles.DGO], ['iso', 'utility', 'utility']);
    assert.ok(r.body.you.utility.includes('DERM') && r.body.you.utility.includes('DGO'));
    const iso = await mc.t.api<{ you: Record<string, string[]> }>('GET', '/market', mc.as('ivan'));
    assert.ok(iso.body.you.iso.includes('DMO'));
    assert.equal(iso.body.you.iso.includes('DERM'), false);
  });

  it('takes the utility’s battery through its aggregator (operator’s choice); the ISO still may not bid', async () => {
    for (const [res, q, p] of [
      ['pv-big', 30000, 0],
      ['ubat', 5000, 10],
    ] as const) {
      const r = await mc.t.api('POST', '/market/bids', { ...mc.as('alice'), body: offer(res, q, p) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const iso = await mc.t.api<{ code: string }>('POST', '/market/bids', {
      ...mc.as('ivan'),
      body: offer('ubat', 1000, 0),
    });
    assert.equal(iso.status, 403);
    assert.equal(iso.body.code, 'DMO_SELF_DEALING');
    const direct = await mc.t.api<{ code: string }>('POST', '/market/bids', {
      ...mc.as('pete'),
      body: offer('pv-big', 1000, 0),
    });
    assert.equal(direct.body.code, 'AGGREGATOR_REQUIRED');
  });

  it('the ISO clears (DMO); the utility, though DERM and DGO, may not', async () => {
    mc.setClock(dayStart - 12 * HOUR_MS);
    const utility = await mc.t.api<{ code: string; reason: string }>('POST', '/market/clearing/da', {
      ...mc.as('uma'),
      body: { dayStart },
    });
    assert.equal(utility.status, 403);
    assert.equal(utility.body.code, 'NOT_DMO');
    assert.match(utility.body.reason, /does not act for the DMO \("iso"\)/);
    const run = await mc.t.api<{ balanced: boolean; curtailed: number; screenedOut: number }>(
      'POST',
      '/market/clearing/da',
      { ...mc.as('ivan'), body: { dayStart } },
    );
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    assert.equal(run.body.curtailed + run.body.screenedOut, 1, 'the DGO cuts pv-big');
    const screen = await mc.t.api<{ resource: string; status: string; participant: string }[]>(
      'GET',
      '/market/screening',
      mc.as('uma'),
    );
    assert.equal(screen.body.find((s) => s.resource === 'ubat')!.participant, 'agg');
  });

  it('dispatch is the DERM’s: the ISO is refused with the reason; the utility dispatches the screened awards', async () => {
    const rtStart = noon + 2 * RT_INTERVAL_MS;
    mc.setClock(rtStart - RT_INTERVAL_MS);
    const iso = await mc.t.api<{ code: string; reason: string }>('POST', '/market/clearing/rt', {
      ...mc.as('ivan'),
      body: { intervalStart: rtStart, interfacePrice: 40 },
    });
    assert.equal(iso.status, 403);
    assert.equal(iso.body.code, 'NOT_DERM');
    assert.match(iso.body.reason, /user "ivan" does not act for the DERM \("utility"\)/);

    const received: Command[] = [];
    const gw = mc.gateway!;
    await gw.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
    gw.on('message', (_t, payload) => received.push(commandSchema.parse(JSON.parse(payload.toString()))));
    const run = await mc.t.api<{
      balanced: boolean;
      dispatch: { resource: string; status: string; commandId: string; screenedW: number }[];
    }>('POST', '/market/clearing/rt', {
      ...mc.as('uma'),
      body: { intervalStart: rtStart, interfacePrice: 40 },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    const pv = run.body.dispatch.find((d) => d.resource === 'pv-big')!;
    const bat = run.body.dispatch.find((d) => d.resource === 'ubat')!;
    assert.ok(pv.screenedW > 0 && pv.screenedW < 30000, `screened ${pv.screenedW}`);
    for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const cmd = received.find((c) => c.id === pv.commandId) as unknown as { w: number; type: string };
    assert.equal(cmd.type, 'active_power_limit');
    assert.ok(cmd.w <= pv.screenedW + 1e-6, `the field gets the screened ${cmd.w} W`);
    for (const id of [pv.commandId, bat.commandId]) {
      const rec = await mc.t.api<{ issuedBy: string }>('GET', `/commands/${id}`);
      assert.equal(rec.body.issuedBy, 'market:DERM:utility');
    }
    const runs = await mc.t.api<{ market: string; runBy: string }[]>(
      'GET',
      `/market/runs?from=${rtStart}&to=${rtStart + 1}`,
      mc.as('ivan'),
    );
    assert.deepEqual(
      runs.body.map((r) => [r.market, r.runBy]),
      [['RT', 'utility']],
    );
  });

  it('audits the refusals with their reasons and the actions with their actors', async () => {
    const audit = await auditLog(mc.t);
    const refused = audit.find((a) => a.action === 'market.clear.rt.refused' && a.actor === 'user:ivan');
    assert.ok(refused, 'the refused dispatch is audited');
    assert.equal((refused.detail.refusal as { code: string }).code, 'NOT_DERM');
    const da = audit.find((a) => a.action === 'market.clear.da.refused' && a.actor === 'user:uma');
    assert.ok(da, 'the refused clearing is audited');
    assert.equal((da.detail.refusal as { code: string }).code, 'NOT_DMO');
    for (const [action, actor, as] of [
      ['market.clear.da', 'user:ivan', 'iso'],
      ['market.clear.rt', 'user:uma', 'utility'],
    ] as const)
      assert.equal(audit.find((a) => a.action === action && a.actor === actor)?.detail.as, as, action);
    assert.ok(audit.some((a) => a.action === 'market.dispatch.rt' && a.actor === 'user:uma'));
  });
});
