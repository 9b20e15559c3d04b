import assert from 'node:assert/strict';
import { capabilitiesSchema } from '../../protocols/mqtt/payloads.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import type { PointRow } from '../storage/timeseries/types.ts';

/**
 * Tariffs and bills through the API over real sockets: who may define tariffs, a participant's bill
 * of its own site only, bills and bill impact from telemetry stored in the cloud, and bad input
 * refused with a reason and nothing stored changed. Expected amounts are worked out by hand.
 */

const H = 3_600_000;
const DAY = 24 * H;
const JUL1 = Date.UTC(2026, 6, 1);

const TOU = {
  name: 'Evening peak',
  timezone: 'UTC',
  validFrom: JUL1 - 30 * DAY,
  energy: {
    kind: 'tou',
    periods: [
      { id: 'peak', ratePerKwh: 0.4, windows: [{ from: 16, to: 21 }] },
      { id: 'off', ratePerKwh: 0.2 },
    ],
    defaultPeriod: 'off',
  },
  fixed: [{ id: 'daily', per: 'day', amount: 0.48 }],
  export: { kind: 'flat', creditPerKwh: 0.05 },
  network: { perKwh: { LV: 0.02, MV: 0.01 } },
  cpp: { adderPerKwh: 0.9, minNoticeMinutes: 60 },
};
const FLAT = {
  name: 'Flat',
  timezone: 'UTC',
  validFrom: JUL1 - 30 * DAY,
  energy: { kind: 'tou', periods: [{ id: 'flat', ratePerKwh: 0.25 }], defaultPeriod: 'flat' },
};

describe('tariffs API: definitions, assignment, bills and roles over real sockets', function () {
  this.timeout(60_000);
  let t: TestCloud;
  const tokens: Record<string, string> = {};

  before(async () => {
    t = await startTestCloud({
      market: {
        model: 4,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: [] },
          { id: 'dso', kind: 'independent_dso', users: [] },
          { id: 'powerco', kind: 'retailer', users: ['rita'] },
          { id: 'sunco', kind: 'producer', users: ['pat'] },
        ],
      },
    } as never);
    for (const site of ['home-1', 'home-2'])
      await t.cloud.registry.applyCapabilities(
        capabilitiesSchema.parse({
          v: 1,
          site,
          ts: JUL1 - DAY,
          devices: [{ id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] }],
        }),
      );
    for (const [id, role, scopes] of [
      ['rita', 'viewer', [{ kind: 'all', target: '*' }]],
      ['pat', 'participant', [{ kind: 'site', target: 'home-1' }]],
    ] as const) {
      const u = await t.api('POST', '/users', { body: { id, name: id, role, scopes } });
      assert.equal(u.status, 201, JSON.stringify(u.body));
      tokens[id] = (await t.api<{ token: string }>('POST', `/users/${id}/tokens`, { body: {} })).body.token;
    }
    // home-1's meter, one power sample a minute on 2026-07-01 (+ = export, the canonical sign):
    // 10:00–12:00 exporting 6 kW, 15:00–18:00 importing 3 kW, nothing otherwise.
    const rows: PointRow[] = [];
    for (let ts = JUL1; ts < JUL1 + DAY; ts += 60_000) {
      const h = (ts - JUL1) / H;
      const w = h >= 10 && h < 12 ? 6000 : h >= 15 && h < 18 ? -3000 : 0;
      rows.push({ site: 'home-1', device: 'm1', point: 'w', ts, value: w });
    }
    await t.cloud.store.write(rows);
  });
  after(async () => t?.stop());

  it('lets operators and retailers define tariffs, and refuses participants (403, nothing stored)', async () => {
    const op = await t.api<{ version: number }>('POST', '/tariffs/evening/versions', { body: TOU });
    assert.equal(op.status, 201, JSON.stringify(op.body));
    assert.equal(op.body.version, 1);
    const rita = await t.api<{ version: number }>('POST', '/tariffs/flat/versions', {
      token: tokens.rita,
      body: FLAT,
    });
    assert.equal(rita.status, 201, JSON.stringify(rita.body));
    const pat = await t.api<{ error: string }>('POST', '/tariffs/pats-own/versions', {
      token: tokens.pat,
      body: FLAT,
    });
    assert.equal(pat.status, 403);
    assert.match(pat.body.error, /may not define tariffs: operators and retailers may/);
    assert.equal((await t.api('GET', '/tariffs/pats-own')).status, 404);
    // A retailer changes only the tariffs it sells: not the operator's "evening".
    const foreign = await t.api<{ error: string }>('POST', '/tariffs/evening/versions', {
      token: tokens.rita,
      body: { ...TOU, validFrom: JUL1 + 60 * 86_400_000 },
    });
    assert.equal(foreign.status, 403);
    assert.match(foreign.body.error, /tariff evening is sold by no retailer \(an operator tariff\)/);
    assert.equal((await t.api<{ versions: unknown[] }>('GET', '/tariffs/evening')).body.versions.length, 1);
    const assign = await t.api('PUT', '/sites/home-1/tariff', {
      token: tokens.pat,
      body: { tariff: 'flat' },
    });
    assert.equal(assign.status, 403);
  });

  it('refuses malformed tariffs with a clear 400 and leaves the stored versions as they were', async () => {
    const before = (await t.api<{ versions: unknown[] }>('GET', '/tariffs/evening')).body;
    const bad = await t.api<{ error: string }>('POST', '/tariffs/evening/versions', {
      body: { ...TOU, validFrom: JUL1, energy: { ...TOU.energy, defaultPeriod: 'nope' } },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /defaultPeriod nope is not one of the periods \(peak, off\)/);
    const tz = await t.api<{ error: string }>('POST', '/tariffs/evening/versions', {
      body: { ...TOU, validFrom: JUL1, timezone: 'Mars/Olympus' },
    });
    assert.equal(tz.status, 400);
    assert.match(tz.body.error, /unknown IANA time zone/);
    const early = await t.api<{ error: string }>('POST', '/tariffs/evening/versions', { body: TOU });
    assert.equal(early.status, 409);
    assert.match(early.body.error, /a new version must start later/);
    assert.deepEqual((await t.api('GET', '/tariffs/evening')).body, before);
    const badAssign = await t.api<{ error: string }>('PUT', '/sites/home-1/tariff', {
      body: { tariff: 'evening', voltageLevel: 'XV' },
    });
    assert.equal(badAssign.status, 400);
    assert.equal((await t.api('GET', '/sites/home-1/tariff')).status, 404);
  });

  it('bills a site from its stored telemetry, with a CPP event and a version change', async () => {
    assert.equal(
      (await t.api('PUT', '/sites/home-1/tariff', { body: { tariff: 'evening', voltageLevel: 'LV' } }))
        .status,
      200,
    );
    const event = { id: 'heat-1', start: JUL1 + 17 * H, end: JUL1 + 18 * H, notifiedAt: JUL1 + 9 * H };
    // The retailer may not call events on the operator's tariff; the operator may.
    const foreign = await t.api('POST', '/tariffs/evening/cpp-events', { token: tokens.rita, body: event });
    assert.equal(foreign.status, 403);
    assert.deepEqual((await t.api('GET', '/tariffs/evening/cpp-events')).body, []);
    const ev = await t.api('POST', '/tariffs/evening/cpp-events', { body: event });
    assert.equal(ev.status, 201, JSON.stringify(ev.body));
    // From 12:00 a new version: the same tariff with peak at $0.50.
    const v2 = {
      ...TOU,
      validFrom: JUL1 + 12 * H,
      energy: {
        ...TOU.energy,
        periods: [{ ...TOU.energy.periods[0], ratePerKwh: 0.5 }, TOU.energy.periods[1]],
      },
    };
    assert.equal((await t.api('POST', '/tariffs/evening/versions', { body: v2 })).status, 201);

    const r = await t.api<{
      totalCents: number;
      versions: number[];
      lines: { version: number; kind: string; id: string; amountCents: number }[];
    }>(
      'GET',
      `/sites/home-1/bill?from=${new Date(JUL1).toISOString()}&to=${new Date(JUL1 + DAY).toISOString()}`,
      { token: tokens.pat },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // v1, 00:00–12:00: no imports (energy 0); export 10–12 h 6 kW = 12 kWh × $0.05 = −60¢;
    //   fixed ½ day × $0.48 = 24¢; network 0 kWh = 0¢.
    // v2, 12:00–24:00: off-peak 15–16 h 3 kWh × $0.20 = 60¢; peak 16–18 h 6 kWh × $0.50 = 300¢;
    //   CPP 17–18 h 3 kWh × $0.90 = 270¢; fixed 24¢; network 9 kWh × $0.02 = 18¢.
    // Total −60 + 24 + 60 + 300 + 270 + 24 + 18 = 636¢.
    assert.deepEqual(r.body.versions, [1, 2]);
    const lines = r.body.lines
      .filter((l) => l.amountCents !== 0)
      .map((l) => [l.version, l.kind, l.id, l.amountCents]);
    assert.deepEqual(lines, [
      [1, 'fixed', 'daily', 24],
      [1, 'export', 'flat', -60],
      [2, 'energy', 'peak', 300],
      [2, 'energy', 'off', 60],
      [2, 'cpp', 'heat-1', 270],
      [2, 'fixed', 'daily', 24],
      [2, 'network', 'LV', 18],
    ]);
    assert.equal(r.body.totalCents, 636);
  });

  it('compares the site’s bill under several tariffs side by side', async () => {
    const r = await t.api<{ rows: { tariff: string; totalCents: number; deltaCents: number }[] }>(
      'GET',
      `/sites/home-1/bill-impact?from=${JUL1}&to=${JUL1 + DAY}&tariffs=evening,flat`,
      { token: tokens.pat },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // evening: 636¢ (above). flat: 9 kWh imported × $0.25 = 225¢, no export credit. Δ = 225 − 636 = −411¢.
    assert.deepEqual(
      r.body.rows.map((x) => [x.tariff, x.totalCents, x.deltaCents]),
      [
        ['evening', 636, 0],
        ['flat', 225, -411],
      ],
    );
  });

  it('passes the DLMP through and settles the retailer with the DMO per day, at the DLMP of the site’s bus', async () => {
    // The day-ahead DLMP at home-1's bus "7": $40/MWh, except $100/MWh 16:00–18:00.
    await t.cloud.registry.patchSite('home-1', { node: '7' });
    const run = 'da-test-0701';
    await t.cloud.market!.store.saveRun(
      {
        id: run,
        market: 'DA',
        intervalStart: JUL1,
        intervalEnd: JUL1 + DAY,
        runAt: JUL1 - DAY,
        runBy: 'test',
        summary: {},
      },
      [],
      Array.from({ length: 24 }, (_, h) => ({
        runId: run,
        market: 'DA' as const,
        intervalStart: JUL1 + h * H,
        bus: '7',
        dlmp: h === 16 || h === 17 ? 100 : 40,
        energy: h === 16 || h === 17 ? 100 : 40,
        loss: 0,
        congestion: 0,
        voltage: 0,
      })),
      [],
    );
    const rtp = { ...FLAT, name: 'RTP', energy: { kind: 'dlmp', adderPerKwh: 0.1, floorPerKwh: 0.12 } };
    assert.equal(
      (await t.api('POST', '/tariffs/rtp/versions', { token: tokens.rita, body: rtp })).status,
      201,
    );
    const cmp = await t.api<{ rows: { tariff: string; totalCents: number }[] }>(
      'GET',
      `/sites/home-1/bill-impact?from=${JUL1}&to=${JUL1 + DAY}&tariffs=flat,rtp`,
      { token: tokens.pat },
    );
    assert.equal(cmp.status, 200, JSON.stringify(cmp.body));
    // rtp: 15–16 h 3 kWh × max($0.04 + $0.10, $0.12) = $0.42; 16–18 h 6 kWh × ($0.10 + $0.10) = $1.20.
    // Total 162¢ (no export credit on this tariff). flat: 225¢ (above).
    assert.deepEqual(
      cmp.body.rows.map((x) => [x.tariff, x.totalCents]),
      [
        ['flat', 225],
        ['rtp', 162],
      ],
    );

    // The retailer powerco sells on flat and rtp (rita defined them): put home-1 on flat.
    const flat = await t.api<{ versions: { retailer?: string }[] }>('GET', '/tariffs/flat');
    assert.equal(flat.body.versions[0].retailer, 'powerco');
    const other = await t.api<{ error: string }>('POST', '/tariffs/flat/versions', {
      token: tokens.rita,
      body: { ...FLAT, validFrom: JUL1 + 40 * DAY, retailer: 'sunco' },
    });
    assert.equal(other.status, 403);
    assert.match(other.body.error, /acts for powerco, not for retailer sunco/);
    assert.equal(
      (await t.api('PUT', '/sites/home-1/tariff', { token: tokens.rita, body: { tariff: 'flat' } })).status,
      200,
    );
    const st = await t.api<{
      days: {
        day: number;
        revenueCents: number;
        costCents: number;
        marginCents: number;
        sites: { site: string }[];
      }[];
    }>('GET', `/retailers/powerco/settlement?from=${JUL1}&to=${JUL1 + DAY}`, { token: tokens.rita });
    assert.equal(st.status, 200, JSON.stringify(st.body));
    // Revenue: home-1's flat bill 225¢. Paid to the DMO at the DLMP: imports 3 kWh × $40/MWh = $0.12
    // and 6 kWh × $100/MWh = $0.60, less exports 12 kWh × $40/MWh = $0.48: $0.24 = 24¢. Margin 201¢.
    assert.deepEqual(
      st.body.days.map((x) => [
        x.day,
        x.revenueCents,
        x.costCents,
        x.marginCents,
        x.sites.map((y) => y.site),
      ]),
      [[JUL1, 225, 24, 201, ['home-1']]],
    );
    const pat = await t.api('GET', `/retailers/powerco/settlement?from=${JUL1}&to=${JUL1 + DAY}`, {
      token: tokens.pat,
    });
    assert.equal(pat.status, 403);
  });

  it('shows a participant its own site’s bill only, and refuses a bad period with a reason', async () => {
    const other = await t.api('GET', `/sites/home-2/bill?from=${JUL1}&to=${JUL1 + DAY}`, {
      token: tokens.pat,
    });
    assert.equal(other.status, 403);
    const back = await t.api<{ error: string }>('GET', `/sites/home-1/bill?from=${JUL1 + DAY}&to=${JUL1}`, {
      token: tokens.pat,
    });
    assert.equal(back.status, 400);
    assert.match(back.body.error, /to must be after from/);
    const none = await t.api<{ error: string }>('GET', `/sites/home-2/bill?from=${JUL1}&to=${JUL1 + DAY}`);
    assert.equal(none.status, 404);
    assert.match(none.body.error, /site home-2 has no tariff assigned/);
  });

  it('documents the tariff routes in the OpenAPI document from the same schemas', async () => {
    const doc = (await fetch(`${t.cloud.apiUrl}/openapi.json`).then((r) => r.json())) as any;
    assert.ok(doc.paths['/api/v1/tariffs/{tariff}/versions'].post.requestBody);
    assert.ok(doc.paths['/api/v1/tariffs/{tariff}/cpp-events'].post.requestBody);
    assert.ok(doc.paths['/api/v1/sites/{site}/tariff'].put.requestBody);
    assert.deepEqual(
      doc.paths['/api/v1/sites/{site}/bill'].get.parameters.map((p: { name: string }) => p.name).sort(),
      ['from', 'site', 'tariff', 'to', 'voltageLevel'],
    );
    assert.ok(doc.paths['/api/v1/sites/{site}/bill-impact'].get);
    assert.ok(doc.paths['/api/v1/retailers/{retailer}/settlement'].get);
  });
});
