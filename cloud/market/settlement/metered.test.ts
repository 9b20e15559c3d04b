import assert from 'node:assert/strict';
import { capabilitiesSchema } from '../../../protocols/mqtt/payloads.ts';
import type { TestCloud } from '../../../test-support/cloud/test-cloud.ts';
import { type MarketCloud, startMarketCloud } from '../../../test-support/market/market-cloud.ts';
import { radialFeeder12kV } from '../../../test-support/market/market-scenario.ts';
import { type RunningPostgres, startPostgres } from '../../../test-support/postgres.ts';
import type { CloudConfigInput } from '../../config.ts';
import type { PointRow } from '../../storage/timeseries/types.ts';
import { sumCents } from '../model/money.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';

/**
 * Metered settlement on a real cloud: telemetry written to its SQLite time-series store, market
 * state in its registry — SQLite, and a real PostgreSQL 15 server (the registry/market store the
 * cloud also supports). A PV inverter sub-metered by lifetime counters and a demand-response site
 * metered at its PCC (power only) against a 10-of-10 baseline from 14 days of stored history.
 */
meteredSuite('SQLite registry', 'sqlite', async () => ({
  storage: {
    timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
    registry: { backend: 'sqlite', path: 'registry.db' },
  },
}));

let pgServer: RunningPostgres | undefined;
meteredSuite(
  'PostgreSQL registry (real server)',
  'postgres',
  async () => {
    pgServer = await startPostgres();
    return {
      storage: {
        timeseries: { backend: 'sqlite', path: 'ts.db', synchronous: 'normal' },
        registry: { backend: 'postgres', connectionString: pgServer.connectionString },
      },
    };
  },
  async () => pgServer?.stop(),
);

function meteredSuite(
  name: string,
  dialect: 'sqlite' | 'postgres',
  storage: () => Promise<Partial<CloudConfigInput>>,
  cleanup: () => Promise<void> = async () => {},
) {
  describe(`metered settlement from stored telemetry (${name})`, function () {
    this.timeout(60000);
    let mc: MarketCloud;
    let t: TestCloud;
    const dayStart = Date.UTC(2030, 0, 16); // a Wednesday
    const hour = dayStart + 12 * HOUR_MS;
    const dora = { userId: 'dora', auditActor: 'user:dora' };
    const uma = { userId: 'uma', auditActor: 'user:uma' };
    const alice = { userId: 'alice', auditActor: 'user:alice' };

    before(async () => {
      mc = await startMarketCloud({
        cloud: await storage(),
        clock: dayStart - DAY_MS,
        market: {
          model: 4,
          fees: { dmo: { kind: 'transaction', centsPerMWh: 5000 }, wheelingCentsPerMWh: 800 },
          actors: [
            { id: 'iso', kind: 'iso', users: [] },
            { id: 'utility', kind: 'utility', users: ['uma'] },
            { id: 'dso', kind: 'independent_dso', users: ['dora'] },
            { id: 'sunco', kind: 'producer', users: ['alice'] },
          ],
        },
        feeder: radialFeeder12kV,
        // The market acts through the service as these users; the API test makes dora's token itself.
        users: [],
      });
      t = mc.t;
      const m = t.cloud.market!;
      const reg = t.cloud.registry;
      const dev = (id: string, kind: string) => ({ id, kind, protocol: 'sunspec-tcp' });
      for (const [site, devices] of [
        ['site-pv', [dev('inv1', 'inverter'), dev('m1', 'meter')]],
        ['site-dr', [dev('m2', 'meter')]],
      ] as const)
        await reg.applyCapabilities(
          capabilitiesSchema.parse({
            v: 1,
            site,
            ts: dayStart - DAY_MS,
            devices: devices.map((d) => ({ ...d, nameplate: {}, controls: [] })),
          }),
        );
      const res = (id: string, kind: string, bus: string, extra: object) => ({
        id,
        owner: 'sunco',
        kind,
        bus,
        max_inject_w: 200e3,
        max_withdraw_w: 0,
        ...extra,
      });
      await m.registerResource(uma, res('pv1', 'pv', '1', { site: 'site-pv', device: 'inv1' }) as never);
      await m.registerResource(uma, res('dr1', 'flex_load', '2', { site: 'site-dr' }) as never);
      await m.setResourceStatus(uma, 'pv1', 'certified');
      await m.setResourceStatus(uma, 'dr1', 'certified');
      for (const [resource, q, p] of [
        ['pv1', 100e3, 0],
        ['dr1', 20e3, 10],
      ] as const)
        await m.submitBid(alice, {
          resource,
          market: 'DA',
          product: 'energy',
          side: 'sell',
          interval_start: hour,
          steps: [{ quantity_w: q, price_per_mwh: p }],
        });

      const rows: PointRow[] = [];
      // DR site history: 14 days importing 50 kW (meter w = -50 kW), one sample every 10 minutes.
      for (let ts = dayStart - 14 * DAY_MS; ts < hour; ts += 10 * 60_000)
        rows.push({ site: 'site-dr', device: 'm2', point: 'w', ts, value: -50e3 });
      // Event hour: the site imports only 35 kW (a 15 kW reduction against the 50 kW baseline).
      for (let ts = hour; ts < hour + HOUR_MS; ts += 10_000)
        rows.push({ site: 'site-dr', device: 'm2', point: 'w', ts, value: -35e3 });
      // PV inverter: 90 kW for the first half hour, 110 kW after; lifetime counters every 10 s from
      // the last reading before the hour, plus power samples.
      let whOut = 5e6;
      for (let ts = hour - 10_000; ts < hour + HOUR_MS; ts += 10_000) {
        const w = ts < hour + HOUR_MS / 2 ? 90e3 : 110e3;
        if (ts >= hour) whOut += (w * 10) / 3600;
        rows.push({ site: 'site-pv', device: 'inv1', point: 'wh_out', ts, value: whOut });
        rows.push({ site: 'site-pv', device: 'inv1', point: 'wh_in', ts, value: 1000 });
        rows.push({ site: 'site-pv', device: 'inv1', point: 'w', ts, value: w + 7e3 }); // a biased sensor
      }
      await t.cloud.store.write(rows);
      mc.setClock(dayStart - 12 * HOUR_MS);
      await m.runDayAhead(dora, { dayStart, loadForecastW: { '2': Array(24).fill(200e3) } });
    });

    after(async () => {
      await mc?.stop();
      await cleanup();
    });

    it('refuses an hour whose meters are still running', async () => {
      mc.setClock(hour + 30 * 60_000);
      await assert.rejects(t.cloud.market!.settleMetered(dora, { hourStart: hour }), /NOT_METERED_YET/);
    });

    it('refuses anyone but the DMO', async () => {
      mc.setClock(hour + HOUR_MS);
      await assert.rejects(t.cloud.market!.settleMetered(alice, { hourStart: hour }), /NOT_DMO/);
    });

    it('settles counters, PCC power and DR baseline at RT/DA prices; the books balance per 5-minute period', async () => {
      mc.setClock(hour + HOUR_MS);
      const m = t.cloud.market!;
      const da = await m.store.awards({ market: 'DA', from: hour, to: hour + 1 });
      const award = new Map(da.map((a) => [a.resource, a]));
      assert.ok(award.get('pv1')!.awardW > 0 && award.get('dr1')!.awardW > 0, 'both cleared day-ahead');
      const r = await m.settleMetered(dora, { hourStart: hour });
      assert.equal(r.balanced, true);
      assert.equal(r.books.length, 12);
      for (const b of r.books) assert.equal(b.sumCents, 0);

      const pv = r.meters.find((x) => x.resource === 'pv1')!;
      assert.equal(pv.meteredAt, 'device');
      assert.ok(
        pv.intervals.every((i) => i.method === 'counters'),
        'counters win over the biased power',
      );
      // 90 kW for 5 min = 7500 Wh, 110 kW = 9166.67 Wh (counter deltas, not the +7 kW sensor bias).
      assert.ok(Math.abs(pv.intervals[0].wh - 7500) < 1e-6);
      assert.ok(Math.abs(pv.intervals[11].wh - (110e3 * 5) / 60) < 1e-6);

      const dr = r.meters.find((x) => x.resource === 'dr1')!;
      assert.equal(dr.meteredAt, 'pcc-baseline');
      assert.equal(dr.dr!.usedDays.length, 10);
      assert.ok(
        dr.dr!.usedDays.every((d) => ![0, 6].includes(new Date(d * DAY_MS).getUTCDay())),
        'weekdays only',
      );
      assert.equal(dr.dr!.adjustment, 1);
      assert.ok(Math.abs(dr.dr!.reductionW[0] - 15e3) < 1e-6);
      assert.ok(dr.intervals.every((i) => i.method === 'power' && i.coverage === 1));

      // Imbalance per line = delivered - DA schedule (no RT run), at the DA DLMP of the bus.
      const prices = await m.store.prices({ market: 'DA', from: hour, to: hour + 1 });
      const dlmp = new Map(prices.map((p) => [p.bus, p.dlmp]));
      for (const line of r.lines) {
        const a = award.get(line.resource)!;
        const delivered = line.resource === 'pv1' ? (line.period < hour + HOUR_MS / 2 ? 90e3 : 110e3) : 15e3;
        assert.ok(Math.abs(line.imbalanceWh - ((delivered - a.awardW) * RT_INTERVAL_MS) / HOUR_MS) < 1e-6);
        assert.equal(line.pricePerMWh, dlmp.get(a.bus));
        assert.equal(line.cents, Math.round((line.imbalanceWh / 1e6) * line.pricePerMWh * 100));
      }

      // Persisted: the DMO's settlement view of the MT run balances too, and the ISO carries the mirror.
      const s = await m.settlements(dora, { all: true, market: 'MT', from: hour, to: hour + HOUR_MS });
      assert.equal(s.balanced, true);
      assert.equal(t.cloud.registry.db.dialect, dialect, 'the ledger was read back from this backend');
      assert.deepEqual(
        s.books!.map((b) => [b.period, b.sumCents, b.clearingCents]),
        r.books.map((b) => [b.period, 0, 0]),
        'every stored 5-minute period sums to zero to the cent',
      );
      assert.equal(sumCents(Object.values(s.totals).map((x) => x.net)), 0);
      assert.ok(s.entries.some((e) => e.kind === 'dmo_fee' && e.from === 'sunco' && e.to === 'dso'));
      assert.ok(s.entries.some((e) => (e.from === 'iso' || e.to === 'iso') && e.ref === 'interface'));
    });

    it('POST /market/settlement/metered re-settles the hour: one stored MT run, still balanced per period', async () => {
      await t.cloud.registry.createUser({ id: 'dora', name: 'dora', role: 'operator', scopes: [] });
      const { token } = (await t.api<{ token: string }>('POST', '/users/dora/tokens', { body: {} })).body;
      const r = await t.api<{ runId: string; balanced: boolean; books: { sumCents: number }[] }>(
        'POST',
        '/market/settlement/metered',
        { token, body: { hourStart: new Date(hour).toISOString() } },
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.balanced, true);
      assert.deepEqual(
        r.body.books.map((b) => b.sumCents),
        Array(12).fill(0),
      );
      const runs = await t.api<{ id: string; market: string }[]>('GET', '/market/runs?market=MT', { token });
      assert.deepEqual(
        runs.body.map((x) => x.id),
        [r.body.runId],
        'the re-run superseded the first',
      );
      const s = await t.api<{
        balanced: boolean;
        entries: { runId: string }[];
        books: { sumCents: number }[];
      }>('GET', `/market/settlements?all=true&market=MT&from=${hour}&to=${hour + HOUR_MS}`, { token });
      assert.equal(s.body.balanced, true);
      assert.ok(s.body.entries.length > 0 && s.body.entries.every((e) => e.runId === r.body.runId));
      assert.deepEqual(
        s.body.books.map((b) => b.sumCents),
        Array(12).fill(0),
      );
    });
  });
}
