import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { capabilitiesSchema } from '../../../protocols/mqtt/payloads.ts';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { startTestCloud, type TestCloud } from '../../../test-support/cloud/test-cloud.ts';
import { type RunningPostgres, startPostgres } from '../../../test-support/postgres.ts';
import type { CloudConfigInput } from '../../config.ts';
import type { PointRow } from '../../storage/timeseries/types.ts';
import { sumCents } from '../model/money.ts';
import { DEFAULT_MARKET_SETTINGS } from '../model/settings.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';
import { MeteredScheduler } from './metered-scheduler.ts';

/**
 * The metered-settlement scheduler on a real cloud (registry on SQLite, and on a real PostgreSQL
 * server), driven through its tick on the market clock: no timer fires during the test (pollMs is a
 * day), nothing waits for wall-clock time. A PV inverter sub-metered by lifetime counters delivers
 * 90 kW in hours 10-13 of a day whose day-ahead run awarded it more, so those hours carry imbalance.
 */
schedulerSuite('SQLite registry', async () => ({}));

let pgServer: RunningPostgres | undefined;
schedulerSuite(
  'PostgreSQL registry (real server)',
  async () => {
    pgServer = await startPostgres();
    return { storage: { registry: { backend: 'postgres', connectionString: pgServer.connectionString } } };
  },
  async () => pgServer?.stop(),
);

const DELAY = 20 * 60_000;

function schedulerSuite(
  name: string,
  storage: () => Promise<Partial<CloudConfigInput>>,
  cleanup: () => Promise<void> = async () => {},
) {
  describe(`metered settlement scheduler (${name})`, function () {
    this.timeout(120000);
    let t: TestCloud;
    const dayStart = Date.UTC(2030, 0, 16);
    const H = (h: number) => dayStart + h * HOUR_MS;
    let clock = dayStart - DAY_MS;
    const dora = { userId: 'dora', auditActor: 'user:dora' };
    const uma = { userId: 'uma', auditActor: 'user:uma' };
    const alice = { userId: 'alice', auditActor: 'user:alice' };
    let doraToken: string;
    const sched = () => t.cloud.meteredSettlement!;
    const mtRuns = (from: number, to: number) => t.cloud.market!.store.runs({ market: 'MT', from, to });
    const capture = () => {
      const records: { level: number; msg: string; hourStart?: string; err?: { message: string } }[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => records.push(JSON.parse(line)) });
      return { records, log };
    };

    before(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gridlayer-msched-'));
      writeFileSync(
        join(dir, 'feeder.json'),
        JSON.stringify({
          base_voltage_v: 12470,
          buses: ['0', '1'].map((id) => ({
            id,
            type: id === '0' ? 'slack' : 'pq',
            vmin_pu: 0.9,
            vmax_pu: 1.1,
          })),
          branches: [{ from_bus: '0', to_bus: '1', r_ohm: 0.2, x_ohm: 0.2 }],
        }),
      );
      t = await startTestCloud(
        {
          ...(await storage()),
          market: {
            model: 4,
            networkFile: 'feeder.json',
            meteredSettlement: { auto: true, delayMs: DELAY, pollMs: DAY_MS },
            actors: [
              { id: 'iso', kind: 'iso', users: [] },
              { id: 'utility', kind: 'utility', users: ['uma'] },
              { id: 'dso', kind: 'independent_dso', users: ['dora'] },
              { id: 'sunco', kind: 'producer', users: ['alice'] },
            ],
          },
        },
        dir,
        { iso: new WholesaleMarket({ seed: 1 }) },
      );
      const m = t.cloud.market!;
      m.now = () => clock;
      await t.cloud.registry.applyCapabilities(
        capabilitiesSchema.parse({
          v: 1,
          site: 'site-pv',
          ts: clock,
          devices: [{ id: 'inv1', kind: 'inverter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] }],
        }),
      );
      await m.registerResource(uma, {
        id: 'pv1',
        owner: 'sunco',
        kind: 'pv',
        bus: '1',
        max_inject_w: 200e3,
        max_withdraw_w: 0,
        site: 'site-pv',
        device: 'inv1',
      } as never);
      await m.setResourceStatus(uma, 'pv1', 'certified');
      for (let h = 10; h < 14; h++)
        await m.submitBid(alice, {
          resource: 'pv1',
          market: 'DA',
          product: 'energy',
          side: 'sell',
          interval_start: H(h),
          steps: [{ quantity_w: 100e3, price_per_mwh: 0 }],
        });
      // Lifetime counters every minute from just before hour 10 into the last minute of hour 13: 90 kW.
      const rows: PointRow[] = [];
      let whOut = 1e6;
      for (let ts = H(10) - 60_000; ts < H(14); ts += 60_000) {
        if (ts > H(10)) whOut += (90e3 * 60) / 3600;
        rows.push({ site: 'site-pv', device: 'inv1', point: 'wh_out', ts, value: whOut });
        rows.push({ site: 'site-pv', device: 'inv1', point: 'wh_in', ts, value: 0 });
      }
      await t.cloud.store.write(rows);
      clock = dayStart - 12 * HOUR_MS;
      await m.runDayAhead(dora, { dayStart, loadForecastW: { '1': Array(24).fill(200e3) } });
      await t.cloud.registry.createUser({ id: 'dora', name: 'dora', role: 'operator', scopes: [] });
      doraToken = (await t.api<{ token: string }>('POST', '/users/dora/tokens', { body: {} })).body.token;
    });

    after(async () => {
      await t?.stop();
      await cleanup();
    });

    it('is started by the cloud for a nodal model with the configured settings', () => {
      assert.ok(sched() instanceof MeteredScheduler);
      assert.equal(sched().deps.settings.delayMs, DELAY);
      assert.equal(sched().deps.settings.lookbackMs, 7 * DAY_MS, 'default look-back');
    });

    it('skips completed hours without a day-ahead result, without refusals or errors', async () => {
      // Every hour of the previous day is over and within the look-back; none has a DA run. Hour 0
      // of the DA day ended, but its delay has not passed.
      clock = H(1) + DELAY - 1;
      assert.deepEqual(await sched().dueHours(clock), []);
      assert.deepEqual(await sched().tick(), { settled: [], failed: [] });
      assert.deepEqual(await mtRuns(dayStart - DAY_MS, H(24)), []);
      const refused = await t.cloud.registry.listAudit({ action: 'market.settle.metered.refused' });
      assert.deepEqual(refused, []);
    });

    it('settles a completed hour once its delay has passed, exactly once, audited as the system', async () => {
      clock = H(1) + DELAY;
      assert.deepEqual(await sched().tick(), { settled: [H(0)], failed: [] });
      assert.deepEqual(await sched().tick(), { settled: [], failed: [] }, 'not settled again');
      const runs = await mtRuns(H(0), H(1));
      assert.equal(runs.length, 1);
      assert.equal(runs[0].runBy, 'dso', 'as the DMO of model 4');
      assert.equal(runs[0].summary.balanced, true);
      const audit = await t.cloud.registry.listAudit({ action: 'market.settle.metered' });
      assert.deepEqual(
        audit.map((a) => [a.actor, a.target, (a.detail as { hourStart: number }).hourStart]),
        [['system:metered-settlement', runs[0].id, H(0)]],
      );
    });

    it('catches up missed hours in order after a gap', async () => {
      clock = H(15) + DELAY + 30 * 60_000; // the cloud was down for 14 hours
      const r = await sched().tick();
      assert.deepEqual(
        r.settled,
        Array.from({ length: 14 }, (_, i) => H(i + 1)),
      );
      assert.deepEqual(r.failed, []);
      const runs = await mtRuns(H(0), H(15));
      assert.deepEqual(
        runs.map((x) => x.intervalStart),
        Array.from({ length: 15 }, (_, i) => H(i)),
        'one stored run per hour',
      );
      const audit = await t.cloud.registry.listAudit({ action: 'market.settle.metered' });
      assert.deepEqual(
        audit.map((a) => (a.detail as { hourStart: number }).hourStart),
        Array.from({ length: 15 }, (_, i) => H(i)),
        'audited in settlement order',
      );
      assert.ok(audit.every((a) => a.actor === 'system:metered-settlement'));
    });

    it('a manual re-run through the API works alongside; concurrent runs of one hour leave one run', async () => {
      const r = await t.api<{ runId: string; balanced: boolean }>('POST', '/market/settlement/metered', {
        token: doraToken,
        body: { hourStart: new Date(H(12)).toISOString() },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.balanced, true);
      assert.deepEqual(
        (await mtRuns(H(12), H(13))).map((x) => x.id),
        [r.body.runId],
        'the API re-run replaced the automatic one',
      );
      assert.deepEqual(await sched().tick(), { settled: [], failed: [] }, 'the scheduler does not redo it');

      clock = H(16) + DELAY; // hour 15 is due: the API and the scheduler settle it at the same time
      const [api, tick] = await Promise.all([
        t.api<{ balanced: boolean }>('POST', '/market/settlement/metered', {
          token: doraToken,
          body: { hourStart: new Date(H(15)).toISOString() },
        }),
        sched().tick(),
      ]);
      assert.equal(api.status, 200, JSON.stringify(api.body));
      assert.deepEqual(tick.failed, []);
      const runs = await mtRuns(H(15), H(16));
      assert.equal(runs.length, 1, 'one stored run for the hour');
      assert.deepEqual(await sched().tick(), { settled: [], failed: [] });
    });

    it('a failing hour is logged and retried after a back-off while later hours go on', async () => {
      const { records, log } = capture();
      const m = t.cloud.market!;
      let failures = 1;
      const s = new MeteredScheduler({
        market: m,
        settings: { ...sched().deps.settings, pollMs: 60_000 },
        log,
        settle: async (hourStart) => {
          if (hourStart === H(17) && failures-- > 0) throw new Error('time-series store unreachable');
          return sched().deps.market.settleMetered(
            { userId: 'system', auditActor: 'system:test', system: 'DMO' },
            {
              hourStart,
            },
          );
        },
      });
      clock = H(19) + DELAY; // hours 16, 17, 18 are due
      assert.deepEqual(await s.tick(), { settled: [H(16), H(18)], failed: [H(17)] });
      const errors = records.filter((x) => x.level === 50);
      assert.equal(errors.length, 1);
      assert.equal(errors[0].hourStart, new Date(H(17)).toISOString());
      assert.equal(errors[0].err?.message, 'time-series store unreachable');
      assert.deepEqual(await s.tick(), { settled: [], failed: [] }, 'not retried before its back-off');
      assert.deepEqual(await sched().dueHours(clock), [H(17)], 'still due');
      clock += 60_000;
      assert.deepEqual(await s.tick(), { settled: [H(17)], failed: [] });
      assert.equal(records.filter((x) => x.level >= 40).length, 1, 'no further warnings or errors');
      assert.equal((await mtRuns(H(16), H(19))).length, 3);
    });

    it('stop lets the hour in progress finish and starts no further hour', async () => {
      const { log } = capture();
      let stopped: Promise<void> | undefined;
      const s: MeteredScheduler = new MeteredScheduler({
        market: t.cloud.market!,
        settings: sched().deps.settings,
        log,
        settle: async (hourStart) => {
          stopped ??= s.stop(); // shutdown arrives while the first hour settles
          return t.cloud.market!.settleMetered(
            { userId: 'system', auditActor: 'system:test', system: 'DMO' },
            {
              hourStart,
            },
          );
        },
      });
      clock = H(22) + DELAY; // hours 19, 20, 21 are due
      assert.deepEqual(await s.tick(), { settled: [H(19)], failed: [] });
      await stopped;
      assert.deepEqual(await s.tick(), { settled: [], failed: [] }, 'a stopped scheduler settles nothing');
      assert.deepEqual(await sched().dueHours(clock), [H(20), H(21)]);
      assert.deepEqual(await sched().tick(), { settled: [H(20), H(21)], failed: [] });
    });

    it('the books balance to the cent in every 5-minute period of the auto-settled hours', async () => {
      const m = t.cloud.market!;
      const s = await m.settlements(dora, { all: true, market: 'MT', from: H(0), to: H(22) });
      assert.equal(s.balanced, true);
      assert.ok(s.books!.length > 0);
      for (const b of s.books!) {
        assert.equal(b.sumCents, 0);
        assert.equal(b.clearingCents, 0);
      }
      assert.equal(sumCents(Object.values(s.totals).map((x) => x.net)), 0);
      // Hours 10-13: the DA award exceeded the metered 90 kW, so the PV owner pays for its imbalance.
      const da = await m.store.awards({ market: 'DA', from: H(10), to: H(14) });
      assert.equal(da.length, 4);
      assert.ok(
        da.every((a) => a.awardW > 90e3),
        JSON.stringify(da.map((a) => a.awardW)),
      );
      const imbalance = s.entries.filter((e) => e.ref === 'metered:pv1');
      assert.equal(new Set(imbalance.map((e) => e.period)).size, 48, 'every period of hours 10-13');
      assert.ok(
        imbalance.every((e) => e.period >= H(10) && e.period < H(14) && e.from === 'sunco' && e.cents > 0),
      );
      const runs = await mtRuns(H(0), H(24));
      assert.deepEqual(
        runs.map((x) => x.intervalStart),
        Array.from({ length: 22 }, (_, i) => H(i)),
        'each hour settled and stored once',
      );
      assert.ok(runs.every((x) => x.summary.balanced === true));
    });
  });
}

describe('metered settlement scheduler: when it does not start', function () {
  this.timeout(60000);

  it('a peer-to-peer model has no metered hourly settlement: no scheduler, even with auto on', async () => {
    const t = await startTestCloud({
      market: {
        model: 5,
        meteredSettlement: { auto: true },
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: [] },
        ],
      },
    });
    try {
      assert.equal(t.cloud.market?.config.marketForm, 'p2p');
      assert.equal(t.cloud.meteredSettlement, undefined);
    } finally {
      await t.stop();
    }
  });

  it('auto off: no scheduler (the test harness default; the product default is on)', async () => {
    const t = await startTestCloud();
    try {
      assert.ok(t.cloud.market);
      assert.equal(t.cloud.meteredSettlement, undefined);
      assert.equal(t.cloud.market.deps.settings.meteredSettlement.auto, false);
      assert.equal(DEFAULT_MARKET_SETTINGS.meteredSettlement.auto, true);
    } finally {
      await t.stop();
    }
  });
});
