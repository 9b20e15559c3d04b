import assert from 'node:assert/strict';
import { capabilitiesSchema } from '../../protocols/mqtt/payloads.ts';
import type { TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../../test-support/market/market-cloud.ts';
import { p2pOrder, pv, radialFeeder400V } from '../../test-support/market/market-scenario.ts';
import { DAY_MS, HOUR_MS } from '../market/index.ts';
import type { PointRow } from '../storage/timeseries/types.ts';

/**
 * Metered settlement of a peer-to-peer interval (model 5) from stored telemetry, through the API on
 * a real cloud. Expected statements are worked out by hand below from the orders, the meters and
 * the PoLR price rule (LMP 50 $/MWh, fee 20 $/MWh: a surplus is bought at 30, a shortfall sold at 70);
 * cents = Wh / 1e6 × $/MWh × 100, rounded half away from zero once per line.
 *
 * Orders for 12:00–13:00 UTC on Wednesday 2030-01-16 (trades execute at the resting order's price):
 *   load-b (homeco) buys 16 000 Wh at ≤ 60, resting;
 *   pv-a (sunco) sells 10 000 Wh at ≥ 40 → trade 10 000 Wh at 60;
 *   dr-c (flexco, a flexible load selling a reduction) sells 5 000 Wh at ≥ 30 → trade 5 000 Wh at 60.
 * The close assumes load-b's unmatched 1 000 Wh were served by the PoLR: −1 000 Wh at 70 = −7 cents
 * (homeco pays the utility 7), and the utility buys them from the ISO: −1 000 Wh at 50 = 5 cents.
 *
 * Meters:
 *   pv-a, its inverter's lifetime counters: wh_out +25 Wh every 10 s for the hour = 360 × 25 = 9 000 Wh.
 *   dr-c, its site's PCC meter against the 10-of-10 baseline: 14 days importing 50 kW (the 10
 *     weekdays before the 16th: Jan 2–4, 7–11, 14, 15), the morning of the 16th also at 50 kW (day-of
 *     adjustment over hours 8–10: 50/50 = 1), the event hour importing 46 kW: baseline 50 000 Wh,
 *     delivered 50 000 − 46 000 = 4 000 Wh.
 *   load-b, its own meter's counters: wh_in +43 Wh every 10 s = 360 × 43 = 15 480 Wh taken: −15 480.
 *
 * Statement (imbalance = metered − traded):
 *   pv-a:  9 000 − 10 000 = −1 000 Wh at 70 → −7 cents.
 *   dr-c:  4 000 −  5 000 = −1 000 Wh at 70 → −7 cents.
 *   load-b: −15 480 − (−15 000) = −480 Wh at 70 → −3.36 → −3 cents, after reversing the close's
 *     assumed −7: net +7 − 3 = +4 cents.
 * The PoLR's change towards the ISO: (−1 000) + (−1 000) + (−480 − (−1 000)) = −1 480 Wh at 50 →
 *   −7.4 → the utility pays the ISO 7 cents.
 * The run's totals: sunco −7, flexco −7, homeco +4, utility +7 +7 +3 −7 −7 = +3, iso +7 (sum 0).
 */
describe('P2P metered settlement from stored telemetry, with the baseline on the statement (real sockets)', function () {
  this.timeout(60000);
  let mc: MarketCloud;
  let t: TestCloud;
  const day = Date.UTC(2030, 0, 16); // a Wednesday
  const T = day + 12 * HOUR_MS;
  const as = (user: string) => mc.as(user);

  type Line = {
    resource: string;
    participant: string;
    meteredAt: string;
    method: string;
    tradedWh: number;
    assumedWh: number;
    meteredWh: number | null;
    imbalanceWh: number;
    pricePerMWh: number;
    cents: number;
    baseline?: {
      usedDays: string[];
      adjustment: number;
      baselineW: number[];
      actualW: number[];
      baselineWh: number;
    };
  };

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
          { id: 'flexco', kind: 'consumer', users: ['carl'] },
        ],
      },
      feeder: radialFeeder400V(),
    });
    t = mc.t;
    const reg = t.cloud.registry;
    for (const [site, id, kind] of [
      ['site-pv', 'inv1', 'inverter'],
      ['site-dr', 'm2', 'meter'],
      ['site-load', 'm3', 'meter'],
    ] as const) {
      assert.equal((await t.api('POST', '/sites', { body: { id: site } })).status, 201);
      await reg.applyCapabilities(
        capabilitiesSchema.parse({
          v: 1,
          site,
          ts: day - DAY_MS,
          devices: [{ id, kind, protocol: 'sunspec-tcp', nameplate: {}, controls: [] }],
        }),
      );
    }
    const register = async (body: Record<string, unknown>) => {
      const r = await t.api('POST', '/market/resources', {
        ...as('uma'),
        body: { ...body, status: 'certified' },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    };
    await register(pv('pv-a', 'sunco', '2', 20000, { site: 'site-pv', device: 'inv1' }));
    await register({
      id: 'dr-c',
      owner: 'flexco',
      kind: 'flex_load',
      bus: '2',
      max_inject_w: 10000,
      max_withdraw_w: 60000,
      site: 'site-dr',
    });
    await register({
      id: 'load-b',
      owner: 'homeco',
      kind: 'flex_load',
      bus: '1',
      max_inject_w: 0,
      max_withdraw_w: 20000,
      site: 'site-load',
      device: 'm3',
    });

    const rows: PointRow[] = [];
    for (let ts = day - 14 * DAY_MS; ts < T; ts += 10 * 60_000)
      rows.push({ site: 'site-dr', device: 'm2', point: 'w', ts, value: -50e3 });
    for (let ts = T; ts < T + HOUR_MS; ts += 10_000)
      rows.push({ site: 'site-dr', device: 'm2', point: 'w', ts, value: -46e3 });
    let pvOut = 5e6;
    let loadIn = 2e6;
    for (let ts = T - 10_000; ts < T + HOUR_MS; ts += 10_000) {
      if (ts >= T) {
        pvOut += 25;
        loadIn += 43;
      }
      rows.push({ site: 'site-pv', device: 'inv1', point: 'wh_out', ts, value: pvOut });
      rows.push({ site: 'site-pv', device: 'inv1', point: 'wh_in', ts, value: 1000 });
      rows.push({ site: 'site-pv', device: 'inv1', point: 'w', ts, value: 12e3 }); // power is ignored: counters win
      rows.push({ site: 'site-load', device: 'm3', point: 'wh_out', ts, value: 7 });
      rows.push({ site: 'site-load', device: 'm3', point: 'wh_in', ts, value: loadIn });
    }
    await t.cloud.store.write(rows);

    for (const [user, body] of [
      ['bob', p2pOrder('load-b', 'buy', T, 16000, 60)],
      ['alice', p2pOrder('pv-a', 'sell', T, 10000, 40)],
      ['carl', p2pOrder('dr-c', 'sell', T, 5000, 30)],
    ] as const) {
      const r = await t.api('POST', '/market/p2p/orders', { ...as(user), body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    mc.setClock(T - 60_000); // the gate has closed
    const close = await t.api<{
      runId: string;
      polr: { resource: string; imbalanceWh: number; price: number }[];
    }>('POST', '/market/p2p/close', { ...as('uma'), body: { intervalStart: T, lmp: 50, dispatch: false } });
    assert.equal(close.status, 200, JSON.stringify(close.body));
    assert.deepEqual(
      close.body.polr.map((p) => [p.resource, p.imbalanceWh, p.price]),
      [['load-b', -1000, 70]],
    );
  });
  after(async () => mc?.stop());

  it('the close’s PoLR buys the unmatched demand from the ISO (the utility pays the ISO)', async () => {
    type Entry = { from: string; to: string; cents: number; kind: string; ref?: string; market: string };
    const books = await t.api<{ entries: Entry[] }>('GET', '/market/settlements?all=true', as('uma'));
    const polr = books.body.entries
      .filter((e) => e.kind === 'polr')
      .map((e) => [e.from, e.to, e.cents, e.ref]);
    assert.deepEqual(polr.sort(), [
      ['homeco', 'utility', 7, 'imbalance:load-b'],
      ['utility', 'iso', 5, 'wholesale balance'],
    ]);
  });

  it('refuses before the interval is over and anyone but the DMO', async () => {
    mc.setClock(T + HOUR_MS - 1);
    const early = await t.api<{ code: string }>('POST', '/market/p2p/settlement/metered', {
      ...as('uma'),
      body: { intervalStart: T },
    });
    assert.equal(early.status, 409);
    assert.equal(early.body.code, 'NOT_METERED_YET');
    mc.setClock(T + HOUR_MS);
    const bob = await t.api('POST', '/market/p2p/settlement/metered', {
      ...as('bob'),
      body: { intervalStart: T },
    });
    assert.equal(bob.status, 403);
  });

  it('settles metered − traded at the PoLR price, reversing what the close assumed; the statement shows the baseline', async () => {
    mc.setClock(T + HOUR_MS + 15 * 60_000);
    const r = await t.api<{ balanced: boolean; statement: Line[]; lmp: number; polrFeePerMWh: number }>(
      'POST',
      '/market/p2p/settlement/metered',
      { ...as('uma'), body: { intervalStart: T } },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.balanced, true);
    assert.deepEqual([r.body.lmp, r.body.polrFeePerMWh], [50, 20]);
    const row = (l: Line) => [
      l.resource,
      l.participant,
      l.meteredAt,
      l.method,
      l.tradedWh,
      l.assumedWh,
      l.meteredWh === null ? null : Math.round(l.meteredWh * 1e6) / 1e6,
      Math.round(l.imbalanceWh * 1e6) / 1e6,
      l.pricePerMWh,
      l.cents,
    ];
    assert.deepEqual(r.body.statement.map(row), [
      ['dr-c', 'flexco', 'pcc-baseline', 'power', 5000, 5000, 4000, -1000, 70, -7],
      ['load-b', 'homeco', 'device', 'counters', -15000, -16000, -15480, -480, 70, 4],
      ['pv-a', 'sunco', 'device', 'counters', 10000, 10000, 9000, -1000, 70, -7],
    ]);
    const b = r.body.statement.find((l) => l.resource === 'dr-c')!.baseline!;
    assert.deepEqual(b.usedDays, [
      '2030-01-15',
      '2030-01-14',
      '2030-01-11',
      '2030-01-10',
      '2030-01-09',
      '2030-01-08',
      '2030-01-07',
      '2030-01-04',
      '2030-01-03',
      '2030-01-02',
    ]);
    assert.equal(b.adjustment, 1);
    assert.deepEqual(b.baselineW, [50000]);
    assert.deepEqual(b.actualW, [46000]);
    assert.equal(b.baselineWh, 50000);
    assert.equal(
      r.body.statement.some((l) => l.resource !== 'dr-c' && l.baseline),
      false,
    );

    // The run's ledger: totals per account (cents, + = received).
    type Settle = { entries: { from: string; to: string; cents: number; market: string }[] };
    const books = await t.api<Settle>('GET', '/market/settlements?all=true&market=MT', as('uma'));
    const net = new Map<string, number>();
    for (const e of books.body.entries) {
      net.set(e.from, (net.get(e.from) ?? 0) - e.cents);
      net.set(e.to, (net.get(e.to) ?? 0) + e.cents);
    }
    assert.deepEqual(Object.fromEntries([...net].sort()), {
      flexco: -7,
      homeco: 4,
      iso: 7,
      sunco: -7,
      utility: 3,
    });
  });

  it('each participant reads its own statement lines; settling again is refused', async () => {
    const mine = async (user: string) =>
      (await t.api<{ lines: Line[] }[]>('GET', '/market/p2p/statements', as(user))).body.flatMap((s) =>
        s.lines.map((l) => l.resource),
      );
    assert.deepEqual(await mine('alice'), ['pv-a']);
    assert.deepEqual(await mine('carl'), ['dr-c']);
    assert.deepEqual(await mine('bob'), ['load-b']);
    assert.deepEqual(await mine('uma'), ['dr-c', 'load-b', 'pv-a']);
    const again = await t.api<{ code: string }>('POST', '/market/p2p/settlement/metered', {
      ...as('uma'),
      body: { intervalStart: T },
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'ALREADY_SETTLED');
  });

  /*
   * No worse off, for the day, by hand. Market outcome = every ledger line of the day; fees are the
   * defaults: DMO (here the utility) 100 c/MWh of traded energy, wheeling 800 c/MWh of withdrawals.
   *   sunco:  close +60 (10 000 Wh at 60) − 1 (fee 0.01 MWh × 100) = +59; metered −7 → +52.
   *   flexco: close +30 (5 000 Wh at 60) − 1 (fee 0.5 → 1) = +29; metered −7 → +22.
   *   homeco: close −60 −30 (15 000 Wh at 60) −7 (PoLR) −2 (fee 1.5 → 2) −13 (wheeling of
   *           16 000 Wh withdrawn: 12.8 → 13) = −112; metered +4 → −108.
   * At the ISO price (the LMP, 50 $/MWh) the metered energy would have earned/cost:
   *   sunco 9 000 Wh → +45; flexco 4 000 Wh → +20; homeco −15 480 Wh → −77.4 → −77.
   * Differences: sunco +7, flexco +2 (no worse off); homeco −31 (worse off: it bought at 60 plus fees).
   */
  it('no worse off: each participant’s day against the same metered energy at the ISO price, role-scoped', async () => {
    type Row = {
      participant: string;
      day: string;
      marketCents: number;
      isoCents: number;
      differenceCents: number;
      noWorseOff: boolean;
      deliveredWh: number;
      sources: Record<string, number>;
    };
    const all = await t.api<Row[]>('GET', `/market/reports/no-worse-off?day=${day}`, as('uma'));
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(
      all.body.map((r) => [r.participant, r.day, r.marketCents, r.isoCents, r.differenceCents, r.noWorseOff]),
      [
        ['flexco', '2030-01-16', 22, 20, 2, true],
        ['homeco', '2030-01-16', -108, -77, -31, false],
        ['sunco', '2030-01-16', 52, 45, 7, true],
      ],
    );
    assert.deepEqual(
      all.body.map((r) => [r.participant, Math.round(r.deliveredWh), r.sources]),
      [
        ['flexco', 4000, { metered: 1 }],
        ['homeco', -15480, { metered: 1 }],
        ['sunco', 9000, { metered: 1 }],
      ],
    );
    const alice = await t.api<Row[]>('GET', `/market/reports/no-worse-off?day=${day}`, as('alice'));
    assert.deepEqual(
      alice.body.map((r) => r.participant),
      ['sunco'],
    );
    const peek = await t.api<{ code: string }>(
      'GET',
      `/market/reports/no-worse-off?day=${day}&participant=homeco`,
      as('alice'),
    );
    assert.equal(peek.status, 403);
    assert.equal(peek.body.code, 'NOT_YOURS');
    const midday = await t.api<{ code: string }>('GET', `/market/reports/no-worse-off?day=${T}`, as('uma'));
    assert.equal(midday.status, 400);
  });
});
