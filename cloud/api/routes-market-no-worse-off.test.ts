import assert from 'node:assert/strict';
import type { TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import { daSellOffer, pv, radialFeeder12kV } from '../../test-support/market/market-scenario.ts';
import { DAY_MS, HOUR_MS } from '../market/index.ts';

/**
 * No worse off in a nodal model (4), through the API on a real cloud. One PV plant offers 100 kW at
 * 0 $/MWh for 12:00–13:00 into the day ahead against a 200 kW load on a lossless (lossIterations 0)
 * 12.47 kV feeder where no limit binds, so it is awarded the whole 100 kW and its bus price is the
 * ISO's LMP of the hour, L. By hand (no metered run: the energy is the schedule, 12 periods of
 * 100 kW × 5 min = 8 333.3 Wh, 100 000 Wh in all):
 *   market outcome = 100 000 Wh × L (one DA line) − DMO fee (0.1 MWh × 100 c/MWh = 10 c), no wheeling
 *                    (a seller withdraws nothing);
 *   at the ISO price directly = 100 000 Wh × L;
 *   difference = −10 cents exactly, whatever L is: the seller is worse off by the market's fee.
 * L itself is the simulated ISO's (an input to the market), read from the run.
 */
describe('no worse off report, nodal model 4 (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  let t: TestCloud;
  const day = Date.UTC(2030, 0, 16);
  const hour = day + 12 * HOUR_MS;

  before(async () => {
    mc = await startMarketCloud({
      clock: day - DAY_MS,
      market: {
        model: 4,
        lossIterations: 0,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['uma'] },
          { id: 'dso', kind: 'independent_dso', users: ['dora'] },
          { id: 'sunco', kind: 'producer', users: ['alice'] },
          { id: 'homeco', kind: 'consumer', users: ['bob'] },
        ],
      },
      feeder: radialFeeder12kV,
      resources: [pv('pv-a', 'sunco', '1', 200e3)],
      certify: ['pv-a'],
      registrar: 'uma',
    });
    t = mc.t;
    const bid = await t.api('POST', '/market/bids', {
      ...mc.as('alice'),
      body: daSellOffer('pv-a', hour, 100e3, 0),
    });
    assert.equal(bid.status, 201, JSON.stringify(bid.body));
    mc.setClock(day - 12 * HOUR_MS);
    const run = await t.api('POST', '/market/clearing/da', {
      ...mc.as('dora'),
      body: { dayStart: day, loadForecastW: { '2': Array(24).fill(200e3) } },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
  });
  after(async () => mc?.stop());

  it('the seller’s day: the market paid it the ISO value of its energy less the 10-cent fee', async () => {
    const runs = await t.api<{ summary: { lmp: number[] } }[]>(
      'GET',
      '/market/runs?market=DA',
      mc.as('dora'),
    );
    const L = runs.body[0].summary.lmp[12];
    assert.ok(L > 0, `the ISO price of the hour is positive (${L})`);
    const awards = await t.api<{ resource: string; awardW: number; pricePerMWh: number }[]>(
      'GET',
      '/market/awards?market=DA',
      mc.as('alice'),
    );
    // Every hour of the day has an award row; only 12:00 a non-zero one, the full 100 kW.
    const held = awards.body.filter((a) => a.awardW !== 0);
    assert.equal(held.length, 1);
    assert.ok(Math.abs(held[0].awardW - 100e3) < 1e-3, `awarded in full: ${held[0].awardW}`);
    type Row = {
      participant: string;
      marketCents: number;
      isoCents: number;
      differenceCents: number;
      noWorseOff: boolean;
      deliveredWh: number;
      sources: Record<string, number>;
    };
    const r = await t.api<Row[]>('GET', `/market/reports/no-worse-off?day=${day}`, mc.as('alice'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.length, 1);
    const row = r.body[0];
    assert.equal(row.participant, 'sunco');
    assert.equal(row.isoCents, Math.round((100e3 / 1e6) * L * 100));
    assert.equal(row.differenceCents, -10);
    assert.equal(row.marketCents, row.isoCents - 10);
    assert.equal(row.noWorseOff, false);
    assert.ok(Math.abs(row.deliveredWh - 100e3) < 1e-3);
    assert.deepEqual(row.sources, { scheduled: 12 });
    // Homeco traded nothing: no row; the DMO sees sunco too; bob may not ask for sunco's.
    assert.deepEqual(
      (await t.api<Row[]>('GET', `/market/reports/no-worse-off?day=${day}`, mc.as('bob'))).body,
      [],
    );
    const dmo = await t.api<Row[]>('GET', `/market/reports/no-worse-off?day=${day}`, mc.as('dora'));
    assert.deepEqual(
      dmo.body.map((x) => [x.participant, x.differenceCents]),
      [['sunco', -10]],
    );
    const peek = await t.api(
      'GET',
      `/market/reports/no-worse-off?day=${day}&participant=sunco`,
      mc.as('bob'),
    );
    assert.equal(peek.status, 403);
  });
});
