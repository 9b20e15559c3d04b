import assert from 'node:assert/strict';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

/**
 * Hardware in the loop: the real-time market on its own clock. One cloud process with the RT
 * scheduler on a 3-second interval (market.realtime), one simulated site and its edge agent, all real
 * processes over real sockets. The market clears each interval by itself, from the site's live
 * telemetry, and its awards reach the simulated devices' registers through the edge.
 *
 * The case is small enough to clear by hand. Copper plate (no feeder), lossless. Offers, on top of
 * the site's own (non-participating) load:
 * - the battery sells 2000 W at $1/MWh;
 * - the PV sells 1500 W at $0/MWh; at midday the array gives several kW, more than that.
 * Both are cheaper than the ISO's real-time price (the test checks the price the run used), the
 * interface is unlimited, so both clear in full at the interface price: battery 2000 W (the command
 * `battery_power` 2000 W, 704 WSet = 2000), PV 1500 W (`active_power_limit` 1500 W, 704 WMaxLimPct =
 * 1500 / WMax × 100). Each RT award settles its deviation from the day-ahead award at the RT price.
 */

const NOON = '2026-06-21T11:30:00Z';
const INTERVAL_MS = 3000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

interface Run {
  id: string;
  market: string;
  intervalStart: number;
  intervalEnd: number;
  runAt: number;
  summary: { interfacePrice: number; balanced: boolean };
}
interface Award {
  runId: string;
  resource: string;
  intervalStart: number;
  awardW: number;
  deviationW: number;
  pricePerMWh: number;
}

describe('hardware in the loop: the RT market on its clock, awards to the simulated devices', function () {
  this.timeout(180_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir, {
    extraConfig: () => [
      `market: ${JSON.stringify({
        model: 4,
        actors: [
          { id: 'iso', kind: 'iso', users: [] },
          { id: 'utility', kind: 'utility', users: ['admin'] },
          { id: 'dso', kind: 'independent_dso', users: ['admin'] },
          { id: 'household', kind: 'producer', users: ['pat'] },
        ],
        // The DA gate of today closes 40 s after the start (time to bid for the current hour).
        demo: { daGateAfterStartMinutes: 40 / 60, autoClear: false },
        gates: { daGateBeforeDayMs: 0, rtGateBeforeIntervalMs: 0 },
        realtime: { auto: true, intervalMs: INTERVAL_MS, forecastWeight: 0.5, deadlineFraction: 0.9 },
        meteredSettlement: { auto: false },
      })}`,
    ],
  });
  let site: HilSite;
  let patToken = '';
  let wMax = 0;
  const t0 = Date.now();

  const asPat = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await cloud.api<T>(method, path, body, patToken);
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  before(async () => {
    await cloud.start();
    site = await startSite(cloud, tmp.dir, 'site-a', { start: NOON });
    const devices = await waitUntil(
      'site-a devices registered from capabilities',
      async () => {
        const d = await cloud.ok<Array<{ id: string; kind: string; nameplate: { w_max?: number } }>>(
          'GET',
          '/sites/site-a/devices',
        );
        return d.length === 3 ? d : undefined;
      },
      30000,
    );
    wMax = devices.find((d) => d.id === 'pv')!.nameplate.w_max!;
    assert.ok(wMax > 1500, `PV rated ${wMax} W`);
    const user = await cloud.ok<{ id: string }>('POST', '/users', {
      id: 'pat',
      name: 'Pat',
      role: 'participant',
    });
    patToken = (await cloud.ok<{ token: string }>('POST', `/users/${user.id}/tokens`, {})).token;
    for (const r of [
      {
        id: 'bat-a',
        owner: 'household',
        kind: 'battery',
        bus: 'b1',
        max_inject_w: 5000,
        max_withdraw_w: 5000,
        energy_wh: 10000,
        efficiency: 0.95,
        site: 'site-a',
        device: 'battery',
      },
      {
        id: 'pv-a',
        owner: 'household',
        kind: 'pv',
        bus: 'b1',
        max_inject_w: wMax,
        max_withdraw_w: 0,
        site: 'site-a',
        device: 'pv',
      },
    ]) {
      await cloud.ok('POST', '/market/resources', r);
      await cloud.ok('PATCH', `/market/resources/${r.id}`, { status: 'certified' });
    }
    // Day-ahead offers for the current hour and the next (the RT market carries them over).
    const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    for (const h of [hour, hour + HOUR_MS].filter((x) => x < Math.floor(hour / DAY_MS) * DAY_MS + DAY_MS)) {
      await asPat('POST', '/market/bids', {
        resource: 'bat-a',
        market: 'DA',
        side: 'sell',
        interval_start: h,
        steps: [{ quantity_w: 2000, price_per_mwh: 1 }],
      });
      await asPat('POST', '/market/bids', {
        resource: 'pv-a',
        market: 'DA',
        side: 'sell',
        interval_start: h,
        steps: [{ quantity_w: 1500, price_per_mwh: 0 }],
      });
    }
  });

  after(async () => {
    await site?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('shows the scheduler in GET /market: its interval and the next run', async () => {
    const m = await cloud.ok<{
      realtime: { auto: boolean; intervalMs: number; next: { intervalStart: number } };
    }>('GET', '/market');
    assert.equal(m.realtime.auto, true);
    assert.equal(m.realtime.intervalMs, INTERVAL_MS);
    assert.equal(m.realtime.next.intervalStart % INTERVAL_MS, 0);
    assert.ok(m.realtime.next.intervalStart > t0);
  });

  it('clears each interval on its own after the day ahead, and its awards reach the device registers', async () => {
    // The day ahead, once its gate has closed (as the DMO).
    const dayStart = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    await waitUntil(
      'the DA gate closed',
      async () => {
        const m = await cloud.ok<{ gateState: { DA: { intervalStart: number; open: boolean }[] } }>(
          'GET',
          '/market',
        );
        return m.gateState.DA.find((g) => g.intervalStart === dayStart)?.open === false ? true : undefined;
      },
      60000,
    );
    const da = await cloud.ok<{ runId: string }>('POST', '/market/clearing/da', { dayStart });
    const daRun = (
      await cloud.ok<Run[]>('GET', `/market/runs?market=DA&from=${dayStart}&to=${dayStart + 1}`)
    )[0];
    assert.equal(daRun.id, da.runId);
    // An RT interval the scheduler cleared (nobody posted it) after the day ahead was stored.
    const rt = await waitUntil(
      'an RT run after the day ahead',
      async () => {
        const runs = await cloud.ok<Run[]>(
          'GET',
          `/market/runs?market=RT&from=${daRun.runAt}&to=${Date.now()}`,
        );
        return runs.find((r) => r.runAt > daRun.runAt && r.intervalStart >= daRun.runAt);
      },
      30000,
    );
    assert.equal(rt.intervalEnd - rt.intervalStart, INTERVAL_MS);
    assert.equal(rt.intervalStart % INTERVAL_MS, 0);
    assert.equal(rt.summary.balanced, true);
    // Both offers are below the ISO's price: they clear in full (see the top of the file).
    assert.ok(rt.summary.interfacePrice > 1, `RT interface price ${rt.summary.interfacePrice}`);
    const awards = await cloud.ok<Award[]>(
      'GET',
      `/market/awards?market=RT&from=${rt.intervalStart}&to=${rt.intervalStart + 1}&all=true`,
    );
    const award = (id: string) => awards.find((a) => a.resource === id && a.runId === rt.id)!;
    assert.equal(award('bat-a').awardW, 2000);
    assert.equal(award('pv-a').awardW, 1500);
    // Deviations from the day-ahead position of the hour, at the RT price (copper plate: one price).
    const hour = Math.floor(rt.intervalStart / HOUR_MS) * HOUR_MS;
    const daAwards = await cloud.ok<Award[]>(
      'GET',
      `/market/awards?market=DA&from=${hour}&to=${hour + 1}&all=true`,
    );
    for (const id of ['bat-a', 'pv-a']) {
      const daW = daAwards.find((a) => a.resource === id)?.awardW ?? 0;
      assert.ok(Math.abs(award(id).deviationW - (award(id).awardW - daW)) < 1e-6, `${id} deviation`);
      assert.equal(award(id).pricePerMWh, rt.summary.interfacePrice);
    }
    // The awards on the devices, written by the edge agent.
    await waitUntil(
      'battery WSet = 2000 W',
      async () => ((await readRegister(site.modbusPort, 2, 704, 'WSet')) === 2000 ? true : undefined),
      20000,
    );
    // Polled until it shows the award: the edge may still hold an earlier limit (100 %, enabled) when
    // the enable bit is first seen (a race seen in CI), so one read at that moment proves nothing.
    const seen: number[] = [];
    const pct = await waitUntil(
      `PV limit ${(1500 / wMax) * 100} % enabled`,
      async () => {
        if ((await readRegister(site.modbusPort, 1, 704, 'WMaxLimPctEna')) !== 1) return undefined;
        const v = (await readRegister(site.modbusPort, 1, 704, 'WMaxLimPct')) as number;
        seen.push(v);
        return Math.abs(v - (1500 / wMax) * 100) < 0.5 ? v : undefined;
      },
      20000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; WMaxLimPct seen: ${[...new Set(seen)].join(', ')}`);
    });
    assert.ok(Math.abs(pct - (1500 / wMax) * 100) < 0.5, `WMaxLimPct ${pct} vs ${(1500 / wMax) * 100}`);
    // The device follows: the battery discharges at the award.
    await waitUntil(
      'the simulated battery discharging at 2000 W',
      async () => ((await readRegister(site.modbusPort, 2, 701, 'W')) === 2000 ? true : undefined),
      20000,
    );
  });

  it('keeps clearing interval after interval without overlap, and GET /market shows the last outcome', async () => {
    const before = await cloud.ok<{ realtime: { counts: { cleared: number } } }>('GET', '/market');
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS + 500));
    const m = await cloud.ok<{
      realtime: {
        counts: { cleared: number; skipped: number; failed: number };
        last: { status: string; intervalStart: number; runId: string; dispatch: Record<string, number> };
        next: { intervalStart: number };
      };
    }>('GET', '/market');
    assert.ok(m.realtime.counts.cleared >= before.realtime.counts.cleared + 2, JSON.stringify(m.realtime));
    assert.equal(m.realtime.last.status, 'cleared', JSON.stringify(m.realtime.last));
    assert.deepEqual(m.realtime.last.dispatch, { sent: 2 });
    assert.equal(m.realtime.next.intervalStart, m.realtime.last.intervalStart + INTERVAL_MS);
    // One run per interval: no interval was cleared twice.
    const runs = await cloud.ok<Run[]>('GET', `/market/runs?market=RT&from=${t0}&to=${Date.now()}`);
    const starts = runs.map((r) => r.intervalStart);
    assert.equal(new Set(starts).size, starts.length);
  });
});
