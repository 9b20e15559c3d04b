import assert from 'node:assert/strict';
import { auditLog, type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import { battery, daSellOffer, pv, twoLateralFeeder400V } from '../../test-support/market/market-scenario.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../market/index.ts';

/**
 * ISO ancillary services in centralized model 1 through the API on a real cloud (HTTP + MQTT on
 * real sockets, the simulated ISO injected): two aggregators offer reg-up for the noon hour; the
 * offers reach the ISO in the T-D bid, the ISO awards them, the DGO screens the capacity a full call
 * would use (pv-far's reg-up on top of its 10 kW energy award would push bus 2 past 1.05 pu: it is
 * curtailed with the reason; bat-near at the stiff bus keeps its award), each aggregator sees only its
 * own awards and screening, the DGO and DMO see all, the ISO pays the held capacity at its price,
 * and every settlement period sums to zero to the cent.
 */
describe('market API, centralized model 1: ISO ancillary offers end to end (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  const dayStart = Date.UTC(2030, 0, 2);
  const noon = dayStart + 12 * HOUR_MS;
  const bid = (resource: string, product: string, q: number, p: number) =>
    daSellOffer(resource, noon, q, p, { product });
  type Award = {
    resource: string;
    participant: string;
    product: string;
    awardW: number;
    pricePerMWh: number;
  };
  type Screen = {
    resource: string;
    product: string;
    participant: string;
    awardW: number;
    screenedW: number;
    status: string;
    reason: string | null;
  };
  type Entry = { period: number; from: string; to: string; cents: number; kind: string; ref?: string };

  before(async () => {
    mc = await startMarketCloud({
      clock: dayStart - DAY_MS,
      market: {
        model: 1,
        actors: [
          { id: 'iso', kind: 'iso', users: ['ivan'] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'agg', kind: 'aggregator', users: ['alice'] },
          { id: 'agg2', kind: 'aggregator', users: ['bob'] },
          { id: 'sunco', kind: 'producer', users: ['pete'] },
        ],
      },
      // 400 V, two laterals: bus 1 stiff, bus 2 behind 0.4 ohm (about 0.025 pu per 10 kW).
      feeder: { ...twoLateralFeeder400V, vmin_pu: 0.95, vmax_pu: 1.05 },
      registrar: 'uma',
      resources: [
        pv('pv-far', 'sunco', '2', 30000, { aggregator: 'agg' }),
        battery('bat-near', 'sunco', '1', 5000, 20000, { aggregator: 'agg2', soc0_wh: 10000 }),
      ],
      certify: ['pv-far', 'bat-near'],
    });
  });
  after(async () => mc?.stop());

  it('aggregators submit reg-up offers next to energy', async () => {
    for (const [user, body] of [
      ['alice', bid('pv-far', 'energy', 10000, 0)],
      ['alice', bid('pv-far', 'reg_up', 20000, 1)],
      ['bob', bid('bat-near', 'reg_up', 4000, 1)],
    ] as const) {
      const r = await mc.t.api('POST', '/market/bids', { ...mc.as(user), body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });

  it('the ISO receives and awards the offers; the DGO curtails the reg-up whose full call breaks bus 2', async () => {
    mc.setClock(dayStart - 12 * HOUR_MS);
    const run = await mc.t.api<{
      balanced: boolean;
      ancillaryCurtailed: number;
      ancillary: Record<string, { awardW: number[]; screenedW: number[]; pricePerMWh: number[] }>;
    }>('POST', '/market/clearing/da', { ...mc.as('ivan'), body: { dayStart } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    const ru = run.body.ancillary.reg_up;
    assert.equal(ru.awardW[12], 24000, 'the ISO awarded both offers (1 $/MW-h undercuts its units)');
    assert.ok(ru.pricePerMWh[12] >= 1, `ISO reg-up price ${ru.pricePerMWh[12]}`);
    assert.ok(ru.screenedW[12] > 4000 && ru.screenedW[12] < 24000, `held ${ru.screenedW[12]}`);
    assert.equal(ru.awardW[11], 0, 'no offers, no award');
    assert.equal(run.body.ancillaryCurtailed, 1);

    const dgo = await mc.t.api<Screen[]>(
      'GET',
      `/market/screening?from=${noon}&to=${noon + 1}`,
      mc.as('uma'),
    );
    const far = dgo.body.find((s) => s.resource === 'pv-far' && s.product === 'reg_up')!;
    assert.equal(far.status, 'curtailed');
    assert.equal(far.awardW, 20000);
    assert.ok(far.screenedW > 0 && far.screenedW < 20000);
    assert.match(
      far.reason!,
      /full reg-up\/reserve call: voltage 1\.0\d+ pu at bus 2 beyond the max of 1\.05 pu/,
    );
    const energy = dgo.body.find((s) => s.resource === 'pv-far' && s.product === 'energy')!;
    assert.deepEqual([energy.awardW, energy.screenedW, energy.status], [10000, 10000, 'feasible']);
    const near = dgo.body.find((s) => s.resource === 'bat-near')!;
    assert.deepEqual([near.product, near.screenedW, near.status], ['reg_up', 4000, 'feasible']);
  });

  it('each aggregator sees only its own ancillary awards and screening; the DGO sees all', async () => {
    const q = `from=${noon}&to=${noon + 1}`;
    const alice = await mc.t.api<Award[]>('GET', `/market/awards?${q}`, mc.as('alice'));
    assert.deepEqual(alice.body.map((a) => [a.resource, a.product]).sort(), [
      ['pv-far', 'energy'],
      ['pv-far', 'reg_up'],
    ]);
    const bob = await mc.t.api<Award[]>('GET', `/market/awards?${q}`, mc.as('bob'));
    assert.deepEqual(
      bob.body.map((a) => [a.resource, a.product, a.awardW]),
      [['bat-near', 'reg_up', 4000]],
    );
    const all = await mc.t.api<Award[]>('GET', `/market/awards?${q}&all=true`, mc.as('uma'));
    assert.equal(all.body.filter((a) => a.product === 'reg_up').length, 2);
    const bobScreen = await mc.t.api<Screen[]>('GET', `/market/screening?${q}`, mc.as('bob'));
    assert.deepEqual(
      bobScreen.body.map((s) => s.resource),
      ['bat-near'],
    );
  });

  it('pays the held capacity at the ISO price; the ISO funds it; every period sums to zero to the cent', async () => {
    const q = `from=${noon}&to=${noon + 1}`;
    const awards = (await mc.t.api<Award[]>('GET', `/market/awards?${q}&all=true`, mc.as('uma'))).body;
    const books = await mc.t.api<{
      entries: Entry[];
      balanced: boolean;
      books: { period: number; sumCents: number; clearingCents: number; balanced: boolean }[];
    }>('GET', '/market/settlements?all=true', mc.as('ivan'));
    assert.equal(books.status, 200, JSON.stringify(books.body));
    assert.equal(books.body.balanced, true);
    for (const b of books.body.books)
      assert.deepEqual([b.sumCents, b.clearingCents], [0, 0], `period ${b.period}`);
    const anc = books.body.entries.filter((e) => e.kind === 'ancillary' && e.period === noon);
    let paid = 0;
    for (const a of awards.filter((x) => x.product === 'reg_up')) {
      const line = anc.find((e) => e.to === a.participant && e.ref === `${a.resource}:reg_up`)!;
      assert.equal(line.from, 'dmo:clearing');
      assert.equal(line.cents, Math.round((a.awardW / 1e6) * a.pricePerMWh * 100), a.resource);
      paid += line.cents;
    }
    assert.ok(paid > 0);
    const fromIso = anc
      .filter((e) => e.from === 'iso' && e.to === 'dmo:clearing')
      .reduce((s, e) => s + e.cents, 0);
    assert.equal(fromIso, paid, 'the ISO pays exactly what the participants receive');
    // The aggregator's own view carries its ancillary line.
    const alice = await mc.t.api<{ entries: Entry[] }>('GET', '/market/settlements', mc.as('alice'));
    assert.ok(alice.body.entries.some((e) => e.kind === 'ancillary' && e.ref === 'pv-far:reg_up'));
    assert.equal(
      alice.body.entries.some((e) => e.ref === 'bat-near:reg_up'),
      false,
    );
  });

  it('real-time dispatch of the hour moves energy only (ancillary capacity is not a schedule)', async () => {
    const rtStart = noon + RT_INTERVAL_MS;
    mc.setClock(rtStart - RT_INTERVAL_MS);
    const run = await mc.t.api<{ runId: string; balanced: boolean; awards: number }>(
      'POST',
      '/market/clearing/rt',
      { ...mc.as('ivan'), body: { intervalStart: rtStart, interfacePrice: 40, dispatch: false } },
    );
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.balanced, true);
    const rt = await mc.t.api<(Award & { market: string })[]>(
      'GET',
      `/market/awards?from=${rtStart}&to=${rtStart + 1}&all=true`,
      mc.as('uma'),
    );
    assert.deepEqual(
      rt.body.filter((a) => a.market === 'RT').map((a) => [a.resource, a.product]),
      [['pv-far', 'energy']],
    );
  });

  it('audits the screen of the ancillary award with its product and reason', async () => {
    const audit = await auditLog(mc.t);
    const screen = audit.find((a) => a.action === 'market.dgo.screen');
    const cut = (screen?.detail.curtailed ?? []) as { resource: string; product: string; reason: string }[];
    const far = cut.find((c) => c.resource === 'pv-far' && c.product === 'reg_up');
    assert.ok(far, JSON.stringify(cut));
    assert.match(far.reason, /bus 2/);
  });
});
