/**
 * One scheduled real-time interval at 10,000 resources (`npm run bench rt-scheduler`): what the RT
 * scheduler (cloud/market/service/rt-scheduler.ts) does each interval, end to end in one process on
 * a real cloud's registry (SQLite) and command pipeline: the forecast blend over 2,500 sites
 * (in-memory forecast and telemetry sources, what the fleet's live state and the stored forecasts
 * answer), the clearing as the market service runs it (120-bus synthetic feeder, marginal losses,
 * deviations settled (no day-ahead run is stored here: each award is all deviation), run, awards,
 * prices and ledger stored),
 * the DGO's feasibility screen and the command fan-out (one command per battery and PV resource,
 * each through the control rules, stored and audited by the pipeline; no gateway is connected).
 * `blend_ms` and `interval_total_ms` are the scheduler's; the clearing alone is in market.bench.ts.
 */
import pino from 'pino';
import { RealTimeScheduler, type RealTimeSources } from '../cloud/market/index.ts';
import { DEFAULT_MARKET_SETTINGS, HOUR_MS } from '../cloud/market/model/index.ts';
import { blendRealTimeInputs } from '../cloud/market/service/rt-scheduler.ts';
import { MarketService } from '../cloud/market/service/service.ts';
import { syntheticFeeder } from '../cloud/network/index.ts';
import { seededRandom } from '../cloud/random.ts';
import { capabilitiesSchema } from '../protocols/mqtt/payloads.ts';
import { WholesaleMarket } from '../sim-devices/iso/wholesale.ts';
import { startTestCloud } from '../test-support/cloud/test-cloud.ts';
import { report, timeMs } from './report.ts';

const N = Number(process.env.BENCH_RT_RESOURCES ?? 10_000);
const PER_SITE = 4; // battery, PV, flexible load, EV charger
const SITES = Math.ceil(N / PER_SITE);
const network = syntheticFeeder({ buses: 120, seed: 1, total_load_w: 4e6 });
const buses = network.buses.map((b) => b.id).slice(1);
const rand = seededRandom(11);
const start = Date.UTC(2030, 6, 1, 12, 0, 0);
const hour = Math.floor(start / HOUR_MS) * HOUR_MS;

const t = await startTestCloud({ market: { enabled: false }, logLevel: 'silent' }, undefined, {
  logger: pino({ level: 'silent' }),
});
let clock = start - 86_400_000;
const settings = {
  ...DEFAULT_MARKET_SETTINGS,
  model: 4 as const,
  gates: { daGateBeforeDayMs: 0, rtGateBeforeIntervalMs: 0 },
  actors: [
    { id: 'iso', kind: 'iso' as const, users: [] },
    { id: 'utility', kind: 'utility' as const, users: ['uma'] },
    { id: 'dso', kind: 'independent_dso' as const, users: ['dora'] },
    { id: 'household', kind: 'producer' as const, users: ['alice'] },
  ],
};
const m = await MarketService.open({
  registry: t.cloud.registry,
  settings,
  iso: new WholesaleMarket({ seed: 1 }),
  network,
  send: (site, req, actor) => t.cloud.commands.send(site, req, actor),
  maxTtlSeconds: 86_400,
  now: () => clock,
});
t.cloud.commands.useRules(m.controlRules);

// 2,500 sites, each with a battery, a PV array, a flexible load and an EV charger on one bus.
for (let s = 0; s < SITES; s++) {
  await t.cloud.registry.createSite(`s${s}`);
  await t.cloud.registry.applyCapabilities(
    capabilitiesSchema.parse({
      v: 1,
      site: `s${s}`,
      ts: Date.now(),
      devices: [
        {
          id: 'pv',
          kind: 'inverter',
          protocol: 'sunspec-tcp',
          nameplate: { w_max: 6000 },
          controls: ['active_power_limit'],
        },
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
}
const kinds = ['battery', 'pv', 'flex_load', 'ev'] as const;
const siteBus: string[] = [];
for (let i = 0; i < N; i++) {
  const site = Math.floor(i / PER_SITE);
  siteBus[site] ??= buses[Math.floor(rand() * buses.length)];
  const kind = kinds[i % PER_SITE];
  const id = `r${i}`;
  m.resources.add({
    id,
    owner: 'household',
    kind,
    bus: siteBus[site],
    max_inject_w: kind === 'battery' ? 5000 : kind === 'pv' ? 6000 : 0,
    max_withdraw_w: kind === 'pv' ? 0 : kind === 'ev' ? 7400 : 5000,
    ...(kind === 'battery' ? { energy_wh: 13500, soc0_wh: 6750, efficiency: 0.95 } : {}),
    status: 'certified',
  });
  m.links.set(id, { site: `s${site}`, ...(kind === 'battery' || kind === 'pv' ? { device: kind } : {}) });
  const steps =
    kind === 'battery'
      ? [
          { side: 'sell', steps: [{ quantity_w: 2500, price_per_mwh: 45 + Math.round(rand() * 10) }] },
          { side: 'buy', steps: [{ quantity_w: 2500, price_per_mwh: 20 + Math.round(rand() * 5) }] },
        ]
      : kind === 'pv'
        ? [{ side: 'sell', steps: [{ quantity_w: 5000, price_per_mwh: Math.round(rand() * 10) }] }]
        : [
            {
              side: 'buy',
              steps: [
                { quantity_w: 1000, price_per_mwh: 500 },
                { quantity_w: 2000, price_per_mwh: 30 + Math.round(rand() * 40) },
              ],
            },
          ];
  for (const [k, b] of steps.entries())
    m.book.submit(
      {
        id: `b${i}-${k}`,
        participant: 'household',
        resource: id,
        market: 'DA',
        product: 'energy',
        interval_start: hour,
        ...b,
      },
      { config: m.config, registry: m.resources, now: Number.NEGATIVE_INFINITY },
    );
}

const sources: RealTimeSources = {
  device: () => undefined,
  site: (site) => {
    const k = Number(site.slice(1));
    return { pv_w: 3000 + (k % 7) * 100, battery_w: 0, grid_w: 1500 - (k % 5) * 200, soc_pct: 40 + (k % 30) };
  },
  forecast: async (site, kind) => {
    const k = Number(site.slice(1));
    return kind === 'load' ? 1200 + (k % 11) * 50 : 3500 + (k % 3) * 200;
  },
};

clock = hour; // the DA gate has closed; the interval begins
const figures: Record<string, unknown> = { resources: N, sites: SITES, buses: network.buses.length };
const blendMs = await timeMs(() =>
  blendRealTimeInputs({
    intervalStart: start,
    now: start,
    staleMs: 600_000,
    forecastWeight: 0.5,
    registry: m.resources,
    links: m.links,
    sources,
  }),
);
figures.blend_ms = Math.round(blendMs);
const log = pino({ level: 'silent' });
const scheduler = new RealTimeScheduler({
  market: m,
  settings: { ...DEFAULT_MARKET_SETTINGS.realtime, auto: true, deadlineFraction: 1 },
  sources,
  log,
});
clock = start;
let outcome: Awaited<ReturnType<RealTimeScheduler['runInterval']>> | undefined;
// The market clock follows the wall clock during the run, so the deadline check is real.
const wall0 = Date.now();
m.now = () => start + (Date.now() - wall0);
const totalMs = await timeMs(async () => {
  outcome = await scheduler.runInterval(start);
});
figures.interval_total_ms = Math.round(totalMs);
figures.status = outcome?.status;
figures.reason = outcome?.reason;
figures.awards = outcome?.awards;
figures.dispatch = outcome?.dispatch;
figures.fits_in_interval = totalMs < DEFAULT_MARKET_SETTINGS.realtime.intervalMs;
await t.stop();
report('rt-scheduler', figures);
