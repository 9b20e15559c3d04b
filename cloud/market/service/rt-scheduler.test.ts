import assert from 'node:assert/strict';
import pino from 'pino';
import { capabilitiesSchema } from '../../../protocols/mqtt/payloads.ts';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { startTestCloud, type TestCloud } from '../../../test-support/cloud/test-cloud.ts';
import { ResourceRegistry } from '../model/resources.ts';
import { DEFAULT_MARKET_SETTINGS } from '../model/settings.ts';
import { HOUR_MS } from '../model/time.ts';
import { blend, blendRealTimeInputs, RealTimeScheduler, type RealTimeSources } from './rt-scheduler.ts';

/**
 * The RT scheduler's parts: the blend of forecasts with live telemetry (by hand), and the scheduler
 * on a real in-process cloud (registry, market, command pipeline) driven on the market clock: an
 * interval reached after its deadline is skipped, one whose clearing overruns its deadline is
 * refused (nothing stored, nothing sent), the awards of one cleared in time are stored and sent.
 */

describe('RT scheduler: blending forecasts with live telemetry', () => {
  it('weighs the forecast and the live value, and takes either alone', () => {
    assert.equal(blend(1000, 2000, 0.5), 1500);
    assert.equal(blend(1000, 2000, 0.25), 1750);
    assert.equal(blend(undefined, 2000, 0.5), 2000);
    assert.equal(blend(1000, undefined, 0.5), 1000);
    assert.equal(blend(undefined, undefined, 0.5), undefined);
  });

  it('load per bus from PV + battery − meter export, SoC from the device, PV availability, stale values dropped', async () => {
    const registry = new ResourceRegistry();
    const base = { owner: 'p', status: 'certified' as const, max_withdraw_w: 0 };
    registry.add({ ...base, id: 'bat', kind: 'battery', bus: 'b1', max_inject_w: 5000, energy_wh: 10000 });
    registry.add({ ...base, id: 'pv', kind: 'pv', bus: 'b1', max_inject_w: 8000 });
    registry.add({ ...base, id: 'pv2', kind: 'pv', bus: 'b2', max_inject_w: 8000 });
    const links = new Map([
      ['bat', { site: 's1', device: 'battery' }],
      ['pv', { site: 's1', device: 'inv' }],
      ['pv2', { site: 's2', device: 'inv' }],
    ]);
    const now = 1_000_000_000;
    const sources: RealTimeSources = {
      device: (site, device) =>
        site === 's1' && device === 'battery'
          ? { soc: 40, w: -1000, ts: now - 1000 }
          : site === 's1' && device === 'inv'
            ? { w: 3000, ts: now - 1000 }
            : // s2's inverter last reported two hours ago: stale.
              { w: 9999, ts: now - 2 * HOUR_MS },
      site: (site) =>
        site === 's1'
          ? // PV 3000, battery charging 1000, exporting 500: the house uses 3000 − 1000 − 500 = 1500.
            { pv_w: 3000, battery_w: -1000, grid_w: 500, soc_pct: 40 }
          : null,
      forecast: async (site, kind) => (site === 's1' ? (kind === 'load' ? 2500 : 4000) : undefined),
    };
    const inp = await blendRealTimeInputs({
      intervalStart: now,
      now,
      staleMs: 60_000,
      forecastWeight: 0.5,
      registry,
      links,
      sources,
    });
    // s1 load: 0.5 × 2500 + 0.5 × 1500 = 2000 W; s2 has neither.
    assert.deepEqual(inp.loadForecastW, { b1: 2000 });
    // 40 % of 10 kWh.
    assert.deepEqual(inp.socWh, { bat: 4000 });
    // s1 PV: 0.5 × 4000 + 0.5 × 3000 = 3500 W; s2: no forecast and a stale live value.
    assert.deepEqual(inp.availableW, { pv: 3500 });
    assert.deepEqual(inp.sites, { total: 2, forecast: 1, live: 1, none: 1 });
  });
});

describe('RT scheduler on a real cloud (market clock under the test)', function () {
  this.timeout(60_000);
  let t: TestCloud;
  let clock = Date.UTC(2030, 0, 16, 10, 0, 0);
  const INTERVAL = 5000;
  const uma = { userId: 'uma', auditActor: 'user:uma' };
  const alice = { userId: 'alice', auditActor: 'user:alice' };
  const records: { level: number; msg: string; intervalStart?: string; reason?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => records.push(JSON.parse(line)) });
  /** Called while the inputs are gathered: lets a test make the clearing take (market) time. */
  let duringBlend = () => {};
  const sources: RealTimeSources = {
    device: () => ({ soc: 50, w: 0, ts: clock }),
    site: () => ({ pv_w: 0, battery_w: 0, grid_w: -1200, soc_pct: 50 }),
    forecast: async () => {
      duringBlend();
      return undefined;
    },
  };
  const scheduler = () =>
    new RealTimeScheduler({
      market: t.cloud.market!,
      settings: {
        ...DEFAULT_MARKET_SETTINGS.realtime,
        auto: true,
        intervalMs: INTERVAL,
        deadlineFraction: 0.5,
      },
      sources,
      log,
    });
  const rtRuns = () =>
    t.cloud.market!.store.runs({ market: 'RT', from: clock - HOUR_MS, to: clock + HOUR_MS });

  before(async () => {
    t = await startTestCloud(
      {
        market: {
          model: 4,
          gates: { daGateBeforeDayMs: 0, rtGateBeforeIntervalMs: 0 },
          realtime: { auto: false, intervalMs: INTERVAL },
          meteredSettlement: { auto: false },
          actors: [
            { id: 'iso', kind: 'iso', users: [] },
            { id: 'utility', kind: 'utility', users: ['uma'] },
            { id: 'dso', kind: 'independent_dso', users: ['dora'] },
            { id: 'household', kind: 'producer', users: ['alice'] },
          ],
        },
      },
      undefined,
      { iso: new WholesaleMarket({ seed: 1 }) },
    );
    const m = t.cloud.market!;
    m.now = () => clock;
    await t.cloud.registry.createSite('s1');
    await t.cloud.registry.applyCapabilities(
      capabilitiesSchema.parse({
        v: 1,
        site: 's1',
        ts: clock,
        devices: [
          {
            id: 'battery',
            kind: 'battery',
            protocol: 'sunspec-tcp',
            nameplate: { w_max: 5000 },
            controls: ['battery_power'],
          },
        ],
      }),
    );
    await m.registerResource(uma, {
      id: 'bat',
      owner: 'household',
      kind: 'battery',
      bus: 'b1',
      max_inject_w: 5000,
      max_withdraw_w: 5000,
      energy_wh: 10000,
      site: 's1',
      device: 'battery',
    } as never);
    await m.setResourceStatus(uma, 'bat', 'certified');
    // Submitted while the clock is before today's DA gate (00:00 UTC with daGateBeforeDayMs 0).
    const hour = Math.floor(clock / HOUR_MS) * HOUR_MS;
    const at = clock;
    clock = Math.floor(clock / 86_400_000) * 86_400_000 - 1000;
    await m.submitBid(alice, {
      resource: 'bat',
      market: 'DA',
      product: 'energy',
      side: 'sell',
      interval_start: hour,
      steps: [{ quantity_w: 1800, price_per_mwh: 1 }],
    });
    clock = at;
  });
  after(async () => {
    await t?.stop();
  });

  it('clears an interval in time: the award is stored and sent as a command expiring at the interval end', async () => {
    const s = scheduler();
    const start = Math.floor(clock / INTERVAL) * INTERVAL;
    const out = await s.runInterval(start);
    assert.equal(out.status, 'cleared', out.reason);
    assert.deepEqual(out.dispatch, { sent: 1 });
    const awards = await t.cloud.market!.store.awards({ market: 'RT', from: start, to: start + 1 });
    // Offer at $1/MWh below the ISO's price (checked): cleared in full; no DA run, so all deviation.
    const run = (await rtRuns()).find((r) => r.id === out.runId)!;
    assert.ok(Number(run.summary.interfacePrice) > 1);
    assert.equal(run.intervalEnd - run.intervalStart, INTERVAL);
    assert.equal(awards.length, 1);
    assert.equal(awards[0].awardW, 1800);
    assert.equal(awards[0].deviationW, 1800);
    const cmds = await t.cloud.registry.listCommands('s1');
    const cmd = cmds.find((c) => c.issuedBy === 'market:DERM:dso')!;
    assert.equal(cmd.type, 'battery_power');
    assert.equal(cmd.command.type === 'battery_power' && cmd.command.w, 1800);
    // Issued at the interval's start: it lives the interval's 5 s (the pipeline's clock dates it).
    assert.equal(cmd.expiresAt - cmd.issuedAt, INTERVAL);
    assert.equal(s.state().last?.status, 'cleared');
  });

  it('skips an interval reached after its deadline: nothing cleared, logged', async () => {
    const s = scheduler();
    const start = Math.floor(clock / INTERVAL) * INTERVAL + INTERVAL;
    const before = (await rtRuns()).length;
    clock = start + INTERVAL / 2 + 1; // deadline: start + 2500 ms
    const out = await s.runInterval(start);
    assert.equal(out.status, 'skipped');
    assert.match(out.reason!, /after the interval's deadline/);
    assert.equal((await rtRuns()).length, before);
    assert.ok(
      records.some(
        (r) => r.msg === 'RT interval skipped' && r.intervalStart === new Date(start).toISOString(),
      ),
    );
    assert.deepEqual(s.state().counts, { cleared: 0, skipped: 1, failed: 0 });
  });

  it('refuses an interval whose clearing overran its deadline: not stored, not sent', async () => {
    const s = scheduler();
    const start = Math.floor(clock / INTERVAL) * INTERVAL + INTERVAL;
    clock = start;
    const runsBefore = (await rtRuns()).length;
    const cmdsBefore = (await t.cloud.registry.listCommands('s1')).length;
    duringBlend = () => {
      clock = start + INTERVAL; // the market clock moves past the deadline while it clears
    };
    try {
      const out = await s.runInterval(start);
      assert.equal(out.status, 'skipped');
      assert.match(out.reason!, /RT_LATE/);
    } finally {
      duringBlend = () => {};
    }
    assert.equal((await rtRuns()).length, runsBefore);
    assert.equal((await t.cloud.registry.listCommands('s1')).length, cmdsBefore);
  });

  it('on its clock: one interval after the other, each once, none overlapping; stop() is prompt', async () => {
    // Real time for this one: the market clock follows the wall clock from the current value.
    const offset = clock - Date.now();
    t.cloud.market!.now = () => Date.now() + offset;
    const s = scheduler();
    const first = s.state();
    s.start();
    const from = Date.now() + offset;
    await new Promise((r) => setTimeout(r, 3 * INTERVAL + 500));
    const t0 = Date.now();
    await s.stop();
    assert.ok(Date.now() - t0 < 2000);
    const st = s.state();
    assert.equal(first.next, null);
    assert.ok(st.counts.cleared >= 2, JSON.stringify(st));
    const runs = (await t.cloud.market!.store.runs({ market: 'RT', from, to: from + HOUR_MS })).filter(
      (r) => r.intervalStart >= from,
    );
    const starts = runs.map((r) => r.intervalStart).sort((a, b) => a - b);
    assert.equal(new Set(starts).size, starts.length);
    for (let i = 1; i < starts.length; i++) assert.equal(starts[i] - starts[i - 1], INTERVAL);
    // Each run began at or after its interval's start (never cleared ahead of the clock).
    for (const r of runs) assert.ok(r.runAt >= r.intervalStart);
    clock = Date.now() + offset;
    t.cloud.market!.now = () => clock;
  });
});
