import type { WholesaleGateway } from '../../../protocols/market/wholesale.ts';
import { checkFeasibility, type Network, syntheticFeeder } from '../../network/index.ts';
import { seededRandom as mulberry32 } from '../../random.ts';
import { resourcesFromBids } from '../clearing/curves.ts';
import { compileFeeder } from '../clearing/feeder.ts';
import { NetworkRefiner } from '../clearing/grid-services.ts';
import { clearRealTime } from '../clearing/realtime.ts';
import { runDayAhead } from '../clearing/total-dso.ts';
import { ANCILLARY_PRODUCTS, type ClearingResource } from '../clearing/types.ts';
import { awardsAtPrice, netCurvePoints, screenAwards } from '../forms/centralized.ts';
import {
  type AncillaryW,
  ancillaryOffers,
  screenAncillary,
  splitAncillaryAward,
} from '../forms/centralized-ancillary.ts';
import { ContinuousDoubleAuction, LinearNetworkScreen, type P2pOrder } from '../forms/p2p.ts';
import { type Bid, BidBook, type Step } from '../model/bids.ts';
import { type Cents, energyCents } from '../model/money.ts';
import { type Resource, ResourceRegistry } from '../model/resources.ts';
import { type Actor, type MarketConfig, type ModelId, modelConfig } from '../model/roles.ts';
import { MarketRefusal } from '../model/rules.ts';
import { DEFAULT_MARKET_SETTINGS } from '../model/settings.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';
import {
  CLEARING,
  chargeFeesAll,
  checkBooks,
  type FeeConfig,
  Ledger,
  totalsByAccount,
} from '../settlement/ledger.ts';
import { addSurplus, expectedSurplus, NO_SURPLUS, type SurplusExpectation } from '../settlement/surplus.ts';

/**
 * `gridlayer market simulate`: runs one organizational model on a simulated fleet for whole days,
 * accelerated (no wall-clock waits), from bids to metered settlement. Deterministic per seed.
 * The wholesale market is injected (`iso`: the CLI passes the simulated ISO from sim-devices); the
 * feeder is the network module's.
 */

export interface SimulateOptions {
  readonly model: ModelId;
  readonly sites: number;
  readonly days: number;
  readonly seed: number;
  /** The wholesale counterpart (ISO) that clears the interface and sets LMPs. */
  readonly iso: WholesaleGateway;
  readonly network?: Network;
  readonly revenueModel?: FeeConfig['dmo']['kind'];
  /** Progress callback (day index, phase). */
  readonly progress?: (msg: string) => void;
}

const LOAD_SHAPE = [
  0.55, 0.5, 0.48, 0.47, 0.48, 0.55, 0.7, 0.85, 0.8, 0.75, 0.72, 0.72, 0.72, 0.7, 0.7, 0.75, 0.85, 1.0, 1.0,
  0.95, 0.88, 0.8, 0.7, 0.6,
];
const solar = (h: number) => Math.max(0, Math.sin((Math.PI * (h + 0.5 - 6)) / 12));

export interface Fleet {
  readonly network: Network;
  readonly actors: Actor[];
  readonly registry: ResourceRegistry;
  readonly config: MarketConfig;
  /** Base (non-participating) load per bus at peak (W). */
  readonly baseLoadW: Map<string, number>;
}

export function buildFleet(opts: SimulateOptions): Fleet {
  const rand = mulberry32(opts.seed);
  const network = opts.network ?? syntheticFeeder({ buses: 120, seed: opts.seed, total_load_w: 3e6 });
  const actors: Actor[] = [
    { id: 'iso', kind: 'iso' },
    { id: 'utility', kind: 'utility' },
    { id: 'indep-dso', kind: 'independent_dso' },
    { id: 'agg-1', kind: 'aggregator' },
    { id: 'agg-2', kind: 'aggregator' },
  ];
  const buses = network.buses.filter((b) => b.type !== 'slack').map((b) => b.id);
  const resources: Resource[] = [];
  for (let i = 0; i < opts.sites; i++) {
    const owner = `site-${i + 1}`;
    const hasPv = rand() < 0.7;
    actors.push({ id: owner, kind: hasPv ? 'producer' : 'consumer' });
    const bus = buses[Math.floor(rand() * buses.length)];
    const aggregator = i % 2 === 0 ? 'agg-1' : 'agg-2';
    const base = { owner, aggregator, bus, status: 'certified' as const };
    if (hasPv) {
      const kw = 3 + Math.round(rand() * 5);
      resources.push({ ...base, id: `${owner}-pv`, kind: 'pv', max_inject_w: kw * 1000, max_withdraw_w: 0 });
    }
    if (rand() < 0.4) {
      resources.push({
        ...base,
        id: `${owner}-bat`,
        kind: 'battery',
        max_inject_w: 5000,
        max_withdraw_w: 5000,
        energy_wh: 13500,
        soc0_wh: 6750,
        efficiency: 0.95,
      });
    }
    const kw = 2 + Math.round(rand() * 4);
    resources.push({
      ...base,
      id: `${owner}-load`,
      kind: 'flex_load',
      max_inject_w: 0,
      max_withdraw_w: kw * 1000,
    });
  }
  // A utility-owned battery (participates only where the model allows) and a PV without interconnection approval.
  resources.push({
    id: 'utility-bat',
    owner: 'utility',
    aggregator: 'agg-1',
    kind: 'battery',
    bus: buses[Math.floor(buses.length / 2)],
    max_inject_w: 250_000,
    max_withdraw_w: 250_000,
    energy_wh: 500_000,
    soc0_wh: 250_000,
    efficiency: 0.95,
    status: 'certified',
  });
  if (opts.sites > 0) {
    resources.push({
      id: 'site-1-pv2',
      owner: 'site-1',
      aggregator: 'agg-1',
      kind: 'pv',
      bus: buses[0],
      max_inject_w: 4000,
      max_withdraw_w: 0,
      status: 'registered',
    });
  }
  const baseLoadW = new Map<string, number>();
  for (const l of network.loads) baseLoadW.set(l.bus, (baseLoadW.get(l.bus) ?? 0) + l.p_w);
  return {
    network,
    actors,
    registry: new ResourceRegistry(resources),
    config: modelConfig(opts.model, actors),
    baseLoadW,
  };
}

/** The bids every resource's owner (or aggregator, in models 1/2) would submit for a day. */
function dayBids(fleet: Fleet, dayStart: number, rand: () => number): Bid[] {
  const out: Bid[] = [];
  const wholesale = fleet.config.derViaAggregatorOnly;
  for (const r of fleet.registry.all()) {
    const participant = wholesale ? (r.aggregator ?? r.owner) : r.owner;
    for (let h = 0; h < 24; h++) {
      const start = dayStart + h * HOUR_MS;
      const mk = (product: Bid['product'], side: Bid['side'], steps: Step[]) => {
        const s = steps.filter((x) => x.quantity_w > 0.5);
        if (s.length)
          out.push({
            id: `${r.id}-${product}-${side}-${start}`,
            participant,
            resource: r.id,
            market: 'DA',
            product,
            side,
            interval_start: start,
            steps: s,
          });
      };
      if (r.kind === 'pv')
        mk('energy', 'sell', [
          { quantity_w: r.max_inject_w * solar(h), price_per_mwh: Math.round(rand() * 5) },
        ]);
      if (r.kind === 'battery') {
        const half = r.max_inject_w / 2;
        mk('energy', 'sell', [
          { quantity_w: half, price_per_mwh: 48 + Math.round(rand() * 6) },
          { quantity_w: half, price_per_mwh: 85 },
        ]);
        mk('energy', 'buy', [
          { quantity_w: half, price_per_mwh: 30 + Math.round(rand() * 4) },
          { quantity_w: half, price_per_mwh: 15 },
        ]);
        if (!wholesale || r.owner !== 'utility') {
          mk('reg_up', 'sell', [{ quantity_w: half * 0.4, price_per_mwh: 6 }]);
          mk('reg_down', 'sell', [{ quantity_w: half * 0.4, price_per_mwh: 5 }]);
          mk('reserve', 'sell', [{ quantity_w: half * 0.6, price_per_mwh: 2 }]);
        }
      }
      if (r.kind === 'flex_load') {
        const need = r.max_withdraw_w * LOAD_SHAPE[h];
        mk('energy', 'buy', [
          { quantity_w: need * 0.6, price_per_mwh: 500 },
          { quantity_w: need * 0.4, price_per_mwh: 35 + Math.round(rand() * 30) },
        ]);
      }
    }
  }
  return out;
}

export interface SimulationReport {
  readonly model: ModelId;
  readonly name: string;
  readonly marketForm: string;
  readonly roles: Record<string, string | null>;
  readonly sites: number;
  readonly days: number;
  readonly seed: number;
  readonly buses: number;
  readonly resources: number;
  readonly refusals: { code: string; count: number; example: string }[];
  readonly hourly: {
    hour: string;
    lmp: number;
    dlmp_min: number;
    dlmp_max: number;
    import_kw: number;
    der_net_kw: number;
  }[];
  readonly delivered: { injected_mwh: number; withdrawn_mwh: number; area_import_mwh: number };
  readonly participants: { account: string; net_cents: Cents; by_kind: Record<string, Cents> }[];
  readonly dmo: { account: string; revenue_cents: Cents };
  readonly congestion_surplus_cents: Cents;
  readonly books: {
    periods: number;
    balanced: boolean;
    max_abs_sum_cents: number;
    max_abs_clearing_cents: number;
  };
  readonly dgo: {
    curtailed_mwh: number;
    emergency_dispatches: number;
    rejected_trades: number;
    curtailed_trades: number;
  };
  readonly trades?: number;
  /** ISO ancillary awards per product over the run: MW-h of capacity awarded and held after the DGO screen, paid. */
  readonly ancillary: {
    product: string;
    awarded_mwh: number;
    held_mwh: number;
    paid_cents: Cents;
    curtailed_awards: number;
  }[];
}

export async function simulateMarket(opts: SimulateOptions): Promise<SimulationReport> {
  const sim = newSimulation(opts);
  for (let d = 0; d < opts.days; d++) {
    const day = openDay(sim, d);
    if (sim.config.marketForm === 'nodal') await simulateNodalDay(sim, day);
    else if (sim.config.marketForm === 'wholesale') await simulateWholesaleDay(sim, day);
    else simulateP2pDay(sim, day);
  }
  return simulationReport(sim);
}

/** The state a simulation run carries over its days: the fleet, the one ledger, the tallies. */
interface Simulation {
  readonly opts: SimulateOptions;
  readonly fleet: Fleet;
  readonly config: MarketConfig;
  readonly registry: ResourceRegistry;
  readonly network: Network;
  readonly feeder: ReturnType<typeof compileFeeder>;
  readonly iso: WholesaleGateway;
  readonly rand: () => number;
  readonly ledger: Ledger;
  readonly fees: FeeConfig;
  readonly dmo: string;
  readonly utility: string;
  readonly refusals: Map<string, { count: number; example: string }>;
  readonly hourly: SimulationReport['hourly'];
  readonly delivered: { injected_mwh: number; withdrawn_mwh: number; area_import_mwh: number };
  readonly dgo: {
    curtailed_mwh: number;
    emergency_dispatches: number;
    rejected_trades: number;
    curtailed_trades: number;
  };
  trades: number;
  /** ISO ancillary awards per product: MW-h awarded and held, cents paid, awards the DGO cut. */
  readonly anc: Map<string, { awarded: number; held: number; cents: Cents; cut: number }>;
  /** State of charge per storage resource, carried from interval to interval. */
  readonly soc: Map<string, number>;
  readonly epoch: number;
}

function newSimulation(opts: SimulateOptions): Simulation {
  const fleet = buildFleet(opts);
  const { config, registry, network } = fleet;
  const rand = mulberry32(opts.seed ^ 0x5eed);
  const fees: FeeConfig = {
    dmo:
      opts.revenueModel === 'subscription'
        ? { kind: 'subscription', centsPerParticipantPerDay: 10 }
        : opts.revenueModel === 'network_use'
          ? { kind: 'network_use', centsPerMWh: 150 }
          : { kind: 'transaction', centsPerMWh: 100 },
    wheelingCentsPerMWh: 800,
  };
  const soc = new Map<string, number>();
  for (const r of registry.all()) if (r.energy_wh !== undefined) soc.set(r.id, r.soc0_wh ?? r.energy_wh / 2);
  return {
    opts,
    fleet,
    config,
    registry,
    network,
    feeder: compileFeeder(network),
    iso: opts.iso,
    rand,
    ledger: new Ledger(),
    fees,
    dmo: config.roles.DMO,
    utility: config.roles.DGO,
    refusals: new Map(),
    hourly: [],
    delivered: { injected_mwh: 0, withdrawn_mwh: 0, area_import_mwh: 0 },
    dgo: { curtailed_mwh: 0, emergency_dispatches: 0, rejected_trades: 0, curtailed_trades: 0 },
    trades: 0,
    anc: new Map(),
    soc,
    epoch: Date.UTC(2026, 6, 1),
  };
}

function tally(sim: Simulation, product: string, awardW: number, heldW: number, cents: Cents) {
  const a = sim.anc.get(product) ?? { awarded: 0, held: 0, cents: 0, cut: 0 };
  a.awarded += awardW / 1e6;
  a.held += heldW / 1e6;
  a.cents += cents;
  if (heldW < awardW - 1e-3) a.cut++;
  sim.anc.set(product, a);
}

/** One simulated day: its accepted bids, its load, and who settles what. */
interface SimDay {
  readonly d: number;
  readonly dayStart: number;
  readonly bids: Bid[];
  readonly loadAt: (h: number) => Map<string, number>;
  readonly loadSeries: Map<string, number[]>;
  readonly resIndex: Map<string, Resource>;
  readonly accountOf: (resId: string) => string;
  readonly noise: (amp: number) => number;
  readonly participantsToday: Set<string>;
}

/**
 * The day's bids, submitted the day before through the bid book's rules; refusals are counted by
 * code. The DMO itself trying to bid is refused in every model.
 */
function openDay(sim: Simulation, d: number): SimDay {
  const { opts, config, registry, fleet, rand } = sim;
  const dayStart = sim.epoch + d * DAY_MS;
  opts.progress?.(`day ${d + 1}/${opts.days}: bids`);
  const book = new BidBook();
  const now = dayStart - DAY_MS; // bids arrive the day before, before gate closure
  const ctx = { config, registry, now };
  const submitted: Bid[] = [];
  const tryBid = (b: unknown) => {
    try {
      submitted.push(book.submit(b, ctx));
    } catch (e) {
      if (!(e instanceof MarketRefusal)) throw e;
      const r = sim.refusals.get(e.refusal.code) ?? { count: 0, example: e.refusal.reason };
      r.count++;
      sim.refusals.set(e.refusal.code, r);
    }
  };
  for (const b of dayBids(fleet, dayStart, rand)) tryBid(b);
  // The DMO itself trying to bid is refused in every model.
  tryBid({
    id: `dmo-${d}`,
    participant: sim.dmo,
    resource: 'utility-bat',
    market: 'DA',
    product: 'energy',
    side: 'sell',
    interval_start: dayStart,
    steps: [{ quantity_w: 1000, price_per_mwh: 50 }],
  });
  const bids = book.list({ market: 'DA' });
  const resIndex = new Map(registry.all().map((r) => [r.id, r]));
  return {
    d,
    dayStart,
    bids,
    loadAt: (h: number) => new Map([...fleet.baseLoadW].map(([bus, w]) => [bus, w * LOAD_SHAPE[h]])),
    loadSeries: new Map([...fleet.baseLoadW].map(([bus, w]) => [bus, LOAD_SHAPE.map((s) => w * s)])),
    resIndex,
    accountOf: (resId: string) => {
      const r = resIndex.get(resId)!;
      return config.derViaAggregatorOnly ? (r.aggregator ?? r.owner) : r.owner;
    },
    noise: (amp: number) => 1 + amp * (rand() - 0.5) * 2,
    participantsToday: new Set(bids.map((b) => b.participant)),
  };
}

type TotalDsoDay = Awaited<ReturnType<typeof runDayAhead>>;
type DayResources = ReturnType<typeof resourcesFromBids>;

/** Models 3 and 4: the Total-DSO day ahead, then 12 real-time intervals per hour on deviations. */
async function simulateNodalDay(sim: Simulation, day: SimDay) {
  const { opts, network, iso, dmo } = sim;
  const { d, dayStart, bids } = day;
  opts.progress?.(`day ${d + 1}/${opts.days}: day-ahead (Total DSO)`);
  const da = await runDayAhead({
    dso: dmo,
    interfaceId: network.buses.find((b) => b.type === 'slack')!.id,
    dayStart,
    registry: sim.registry,
    bids,
    feeder: sim.feeder,
    loadForecastW: day.loadSeries,
    forecastLmp: Array.from({ length: 24 }, (_, h) => iso.forecastLmp(dayStart + h * HOUR_MS)),
    iso,
    // Marginal losses as the cloud's market service prices them by default.
    refine: new NetworkRefiner({ lossIterations: DEFAULT_MARKET_SETTINGS.lossIterations, offers: [] }),
  });
  const resources = resourcesFromBids(bids, sim.registry, 24, (s) => (s - dayStart) / HOUR_MS);
  opts.progress?.(`day ${d + 1}/${opts.days}: real time (288 intervals) and settlement`);
  for (let h = 0; h < 24; h++) {
    const period = d * 24 + h;
    const daW = new Map([...da.final.schedules].map(([id, s]) => [id, s.netW[h]]));
    const { traded, surplus: daSurplus } = settleNodalDayAheadHour(sim, day, da, h, daW);
    // Real time: 12 five-minute intervals on deviations.
    const withdrawn = new Map<string, number>();
    let surplus = daSurplus;
    for (let k = 0; k < 12; k++)
      surplus = addSurplus(
        surplus,
        await simulateNodalInterval(sim, day, { da, resources, h, k, daW, withdrawn }),
      );
    chargeFeesAll(
      sim.ledger,
      period,
      day.participantsToday,
      traded,
      withdrawn,
      sim.fees,
      dmo,
      sim.utility,
      h === 0,
    );
    sim.ledger.closePeriod(period, sim.utility, surplus);
  }
}

/**
 * The hour's report row and its day-ahead settlement at DA DLMPs: resources, the load-serving
 * utility, the ISO, ancillary awards (the ISO's price passed through). Returns what each traded.
 */
function settleNodalDayAheadHour(
  sim: Simulation,
  day: SimDay,
  da: TotalDsoDay,
  h: number,
  daW: ReadonlyMap<string, number>,
) {
  const { ledger, utility } = sim;
  const period = day.d * 24 + h;
  const prices = da.final.prices[h];
  const dlmps = [...prices.values()].map((p) => p.dlmp);
  sim.hourly.push({
    hour: new Date(day.dayStart + h * HOUR_MS).toISOString(),
    lmp: round2(da.lmp[h]),
    dlmp_min: round2(Math.min(...dlmps)),
    dlmp_max: round2(Math.max(...dlmps)),
    import_kw: round2(da.final.interfaceImportW[h] / 1000),
    der_net_kw: round2([...da.final.schedules.values()].reduce((s, x) => s + x.netW[h], 0) / 1000),
  });
  const traded = new Map<string, number>();
  const atDlmp: [string, number][] = [];
  for (const [id, w] of daW) {
    const r = day.resIndex.get(id)!;
    const acct = day.accountOf(id);
    ledger.energy(period, acct, w, prices.get(r.bus)!.dlmp, 'da_energy', id);
    traded.set(acct, (traded.get(acct) ?? 0) + Math.abs(w));
    atDlmp.push([r.bus, -w]);
  }
  for (const [bus, w] of day.loadAt(h)) {
    ledger.energy(period, utility, -w, prices.get(bus)!.dlmp, 'da_energy', `load@${bus}`);
    atDlmp.push([bus, w]);
  }
  ledger.energy(period, 'iso', da.final.interfaceImportW[h], da.lmp[h], 'da_energy', 'interface');
  for (const [id, aw] of da.final.ancillaryAwards) {
    for (const [p, series] of Object.entries(aw)) {
      const w = series![h];
      if (w <= 0) continue;
      const c = ledger.energy(
        period,
        day.accountOf(id),
        w,
        da.isoAward.hours[h].ancillary[p as 'reg_up']?.price_per_mwh ?? 0,
        'ancillary',
        `${id}:${p}`,
      ); // ISO price passed through
      tally(sim, p, w, w, c);
    }
  }
  for (const p of ['reg_up', 'reg_down', 'reserve'] as const) {
    const a = da.isoAward.hours[h].ancillary[p];
    if (a && a.award_w > 0)
      ledger.transfer(period, 'iso', CLEARING, energyCents(a.award_w, a.price_per_mwh), 'ancillary', p);
  }
  const surplus = expectedSurplus({
    priceAt: (bus) => prices.get(bus)!,
    refPricePerMWh: da.lmp[h],
    importWh: da.final.interfaceImportW[h],
    atDlmp,
  });
  return { traded, surplus };
}

/**
 * One five-minute interval of a nodal day: PV under passing clouds and noisy loads re-cleared in
 * real time; metered deviations from the DA schedule settle at the RT DLMPs, the ISO's at the RT LMP.
 */
async function simulateNodalInterval(
  sim: Simulation,
  day: SimDay,
  q: {
    da: TotalDsoDay;
    resources: DayResources;
    h: number;
    k: number;
    daW: ReadonlyMap<string, number>;
    withdrawn: Map<string, number>;
  },
): Promise<SurplusExpectation> {
  const { ledger, utility, delivered } = sim;
  const { resIndex, noise, accountOf, loadAt } = day;
  const { da, resources, h, k, daW, withdrawn } = q;
  const period = day.d * 24 + h;
  const start = day.dayStart + h * HOUR_MS + k * 300_000;
  const cloud = noise(0.15);
  const rtRes: ClearingResource[] = resources.map((r) => ({
    ...r,
    sell: [
      (r.sell[h] ?? []).map((s) =>
        resIndex.get(r.id)!.kind === 'pv'
          ? { ...s, quantity_w: Math.min(s.quantity_w * cloud, resIndex.get(r.id)!.max_inject_w) }
          : s,
      ),
    ],
    buy: [r.buy[h] ?? []],
    ...(r.ancillary ? { ancillary: undefined } : {}),
  }));
  const lf = new Map([...loadAt(h)].map(([bus, w]) => [bus, w * noise(0.03)]));
  const rtPrice = sim.iso.realTimeLmp(start, da.final.interfaceImportW[h]);
  const rt = await clearRealTime({
    feeder: sim.feeder,
    intervalStart: start,
    interfacePrice: rtPrice,
    loadForecastW: lf,
    resources: rtRes,
    socWh: sim.soc,
    daScheduleW: daW,
  });
  const dur = 1 / 12;
  let areaNet = 0;
  const atDlmp: [string, number][] = [];
  for (const [id, s] of rt.clearing.schedules) {
    const r = resIndex.get(id)!;
    const metered = r.kind === 'flex_load' ? s.netW[0] * noise(0.02) : s.netW[0];
    const dev = metered - (daW.get(id) ?? 0);
    ledger.energy(
      period,
      accountOf(id),
      dev * dur,
      rt.clearing.prices[0].get(r.bus)!.dlmp,
      'rt_deviation',
      id,
    );
    atDlmp.push([r.bus, -dev * dur]);
    if (s.socWh) sim.soc.set(id, s.socWh[0]);
    areaNet += metered;
    if (metered > 0) delivered.injected_mwh += (metered * dur) / 1e6;
    else {
      delivered.withdrawn_mwh += (-metered * dur) / 1e6;
      const a = accountOf(id);
      withdrawn.set(a, (withdrawn.get(a) ?? 0) - metered * dur);
    }
  }
  for (const [bus, w] of lf) {
    const actual = w * noise(0.01);
    areaNet -= actual;
    atDlmp.push([bus, (actual - (loadAt(h).get(bus) ?? 0)) * dur]);
    ledger.energy(
      period,
      utility,
      -(actual - (loadAt(h).get(bus) ?? 0)) * dur,
      rt.clearing.prices[0].get(bus)!.dlmp,
      'rt_deviation',
      `load@${bus}`,
    );
  }
  // The ISO delivers the actual net import; its deviation from the DA award settles at the RT LMP.
  ledger.energy(
    period,
    'iso',
    (-areaNet - da.final.interfaceImportW[h]) * dur,
    rtPrice,
    'rt_deviation',
    'interface',
  );
  delivered.area_import_mwh += (-areaNet * dur) / 1e6;
  return expectedSurplus({
    priceAt: (bus) => rt.clearing.prices[0].get(bus)!,
    refPricePerMWh: rtPrice,
    importWh: (-areaNet - da.final.interfaceImportW[h]) * dur,
    atDlmp,
  });
}

type IsoDayAward = Awaited<ReturnType<WholesaleGateway['clearDayAhead']>>;

/** Models 1 and 2: the ISO clears the aggregators' net curve; the DGO screens each hour's awards. */
async function simulateWholesaleDay(sim: Simulation, day: SimDay) {
  const { opts } = sim;
  const { d, dayStart, bids, loadAt } = day;
  opts.progress?.(`day ${d + 1}/${opts.days}: ISO market with aggregators, DGO screen`);
  const resources = resourcesFromBids(bids, sim.registry, 24, (s) => (s - dayStart) / HOUR_MS);
  const fixed = (h: number) => [...loadAt(h).values()].reduce((s, w) => s + w, 0);
  const award = await sim.iso.clearDayAhead({
    dso: 'aggregators',
    interface_id: 'td-1',
    hours: Array.from({ length: 24 }, (_, h) => ({
      interval_start: dayStart + h * HOUR_MS,
      points: netCurvePoints(resources, h, fixed(h)),
      ancillary: ancillaryOffers(resources, h),
    })),
  });
  for (let h = 0; h < 24; h++) simulateWholesaleHour(sim, day, { award, resources, h, fixedW: fixed(h) });
}

/**
 * One hour of a wholesale day: the awards at the ISO's LMP, screened by the DGO; the day-ahead
 * settlement, the ISO ancillary awards, and 12 real-time intervals on metered deviations.
 */
function simulateWholesaleHour(
  sim: Simulation,
  day: SimDay,
  q: { award: IsoDayAward; resources: DayResources; h: number; fixedW: number },
) {
  const { ledger, utility, delivered } = sim;
  const { resIndex, noise, accountOf, loadAt } = day;
  const { award, resources, h, fixedW } = q;
  const period = day.d * 24 + h;
  const start = day.dayStart + h * HOUR_MS;
  const lmp = award.hours[h].lmp_per_mwh;
  const aw = awardsAtPrice(resources, h, lmp, fixedW, award.hours[h].import_w);
  const screened = screenAwards(sim.network, resources, aw, loadAt(h), start);
  for (const w of screened.curtailedW.values()) sim.dgo.curtailed_mwh += Math.abs(w) / 1e6;
  const awardImport = award.hours[h].import_w;
  sim.hourly.push({
    hour: new Date(start).toISOString(),
    lmp: round2(lmp),
    dlmp_min: round2(lmp),
    dlmp_max: round2(lmp),
    import_kw: round2(awardImport / 1000),
    der_net_kw: round2([...screened.awardsW.values()].reduce((s, x) => s + x, 0) / 1000),
  });
  const traded = new Map<string, number>();
  const withdrawn = new Map<string, number>();
  for (const [id, w] of aw) {
    const acct = accountOf(id);
    ledger.energy(period, acct, w, lmp, 'da_energy', id);
    traded.set(acct, (traded.get(acct) ?? 0) + Math.abs(w));
  }
  ledger.energy(period, utility, -fixedW, lmp, 'da_energy', 'load');
  ledger.energy(period, 'iso', awardImport, lmp, 'da_energy', 'interface');
  settleIsoAncillary(sim, day, { award, resources, h, energyW: screened.awardsW });
  for (let k = 0; k < 12; k++) {
    const dur = 1 / 12;
    const t = start + k * 300_000;
    let areaNet = 0;
    const rtPrice = sim.iso.realTimeLmp(t, awardImport);
    for (const [id, w] of screened.awardsW) {
      const metered = resIndex.get(id)!.kind === 'flex_load' ? w * noise(0.02) : w;
      ledger.energy(period, accountOf(id), (metered - aw.get(id)!) * dur, rtPrice, 'rt_deviation', id);
      areaNet += metered;
      if (metered > 0) delivered.injected_mwh += (metered * dur) / 1e6;
      else {
        delivered.withdrawn_mwh += (-metered * dur) / 1e6;
        withdrawn.set(accountOf(id), (withdrawn.get(accountOf(id)) ?? 0) - metered * dur);
      }
    }
    const actualLoad = fixedW * noise(0.01);
    areaNet -= actualLoad;
    ledger.energy(period, utility, -(actualLoad - fixedW) * dur, rtPrice, 'rt_deviation', 'load');
    ledger.energy(period, 'iso', (-areaNet - awardImport) * dur, rtPrice, 'rt_deviation', 'interface');
    delivered.area_import_mwh += (-areaNet * dur) / 1e6;
  }
  chargeFeesAll(
    ledger,
    period,
    day.participantsToday,
    traded,
    withdrawn,
    sim.fees,
    sim.dmo,
    utility,
    h === 0,
  );
  // One price for the whole area (the ISO's in models 1-2, the LMP in P2P): no congestion or loss surplus.
  ledger.closePeriod(period, utility, NO_SURPLUS);
}

/** ISO ancillary awards: split in merit order, DGO-screened for the full call, paid by the ISO. */
function settleIsoAncillary(
  sim: Simulation,
  day: SimDay,
  q: { award: IsoDayAward; resources: DayResources; h: number; energyW: ReadonlyMap<string, number> },
) {
  const { award, resources, h } = q;
  const period = day.d * 24 + h;
  const start = day.dayStart + h * HOUR_MS;
  const split = new Map<string, AncillaryW>();
  for (const p of ANCILLARY_PRODUCTS) {
    const a = award.hours[h].ancillary[p];
    if (a && a.award_w > 0)
      for (const [id, w] of splitAncillaryAward(resources, h, p, a.price_per_mwh, a.award_w))
        split.set(id, { ...split.get(id), [p]: w });
  }
  const placed = resources.map((r) => ({
    id: r.id,
    bus: r.bus,
    maxInjectW: day.resIndex.get(r.id)!.max_inject_w,
    maxWithdrawW: day.resIndex.get(r.id)!.max_withdraw_w,
  }));
  for (const [id, o] of screenAncillary(sim.network, placed, q.energyW, split, day.loadAt(h), start))
    for (const p of ANCILLARY_PRODUCTS) {
      if (o.awardW[p] === undefined) continue;
      const held = o.screenedW[p] ?? 0;
      const price = award.hours[h].ancillary[p]!.price_per_mwh;
      const c = sim.ledger.energy(period, day.accountOf(id), held, price, 'ancillary', `${id}:${p}`);
      sim.ledger.transfer(period, 'iso', CLEARING, c, 'ancillary', `${id}:${p}`);
      tally(sim, p, o.awardW[p]!, held, c);
    }
}

const POLR_FEE = 20; // $/MWh on top of / below the LMP

/** Models 5 and 6: an hourly continuous double auction, the DGO's emergency overrides, PoLR. */
function simulateP2pDay(sim: Simulation, day: SimDay) {
  const { opts } = sim;
  opts.progress?.(`day ${day.d + 1}/${opts.days}: peer-to-peer trading`);
  for (let h = 0; h < 24; h++) {
    const start = day.dayStart + h * HOUR_MS;
    const loads = day.loadAt(h);
    const base = new Float64Array(sim.feeder.buses.length);
    for (const [bus, w] of loads) base[sim.feeder.index.get(bus)!] -= w;
    const screen = new LinearNetworkScreen(sim.feeder, 1, () => base);
    const cda = new ContinuousDoubleAuction(`territory-${sim.network.name}`, screen);
    for (const o of shuffledOrders(sim, day, start)) cda.submit(o);
    dgoEmergencyDispatch(sim, day, cda, start, loads);
    sim.trades += cda.trades.filter((t) => t.quantityWh > 0).length;
    sim.dgo.rejected_trades += cda.trades.filter((t) => t.status === 'rejected').length;
    sim.dgo.curtailed_trades += cda.trades.filter((t) => t.status === 'curtailed').length;
    settleP2pHour(sim, day, cda, h, loads);
  }
}

/** The hour's energy bid steps as P2P orders, in a seeded random arrival order. */
function shuffledOrders(sim: Simulation, day: SimDay, start: number) {
  const orders: P2pOrder[] = [];
  for (const b of day.bids) {
    if (b.interval_start !== start || b.product !== 'energy') continue;
    const r = day.resIndex.get(b.resource)!;
    b.steps.forEach((s, k) => {
      orders.push({
        id: `${b.id}#${k}`,
        participant: b.participant,
        resource: r.id,
        bus: r.bus,
        side: b.side,
        intervalStart: start,
        quantityWh: s.quantity_w,
        limitPrice: s.price_per_mwh,
      });
    });
  }
  for (let i = orders.length - 1; i > 0; i--) {
    const j = Math.floor(sim.rand() * (i + 1));
    [orders[i], orders[j]] = [orders[j], orders[i]];
  }
  return orders;
}

/** Net traded energy per resource (+ = sold). */
function netTraded(cda: ContinuousDoubleAuction) {
  const m = new Map<string, number>();
  for (const t of cda.trades) {
    m.set(t.sellerResource, (m.get(t.sellerResource) ?? 0) + t.quantityWh);
    m.set(t.buyerResource, (m.get(t.buyerResource) ?? 0) - t.quantityWh);
  }
  return m;
}

/**
 * DGO: exact power flow on the traded schedule; emergency dispatch overrides the largest trader
 * behind a violation, up to five times.
 */
function dgoEmergencyDispatch(
  sim: Simulation,
  day: SimDay,
  cda: ContinuousDoubleAuction,
  start: number,
  loads: ReadonlyMap<string, number>,
) {
  for (let tries = 0; tries < 5; tries++) {
    const injections: Record<string, { p_w: number; q_var: number }> = {};
    for (const [id, w] of netTraded(cda)) {
      const bus = day.resIndex.get(id)!.bus;
      injections[bus] = { p_w: (injections[bus]?.p_w ?? 0) + w, q_var: 0 };
    }
    const loadsPf = Object.fromEntries([...loads].map(([bus, w]) => [bus, { p_w: w, q_var: w * 0.33 }]));
    const rep = checkFeasibility(sim.network, { intervals: [{ start, injections, loads: loadsPf }] });
    if (rep.feasible) break;
    const v = rep.intervals[0].violations[0];
    const injecting = v.kind === 'voltage' ? v.limit === 'max' : true;
    const worst = [...netTraded(cda)]
      .filter(([, w]) => (injecting ? w > 0 : w < 0))
      .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))[0];
    if (!worst) break;
    sim.dgo.emergency_dispatches++;
    for (const t of cda.emergencyOverride(worst[0], start, 0, 1))
      sim.dgo.curtailed_mwh += (t.matchedWh - t.quantityWh) / 1e6;
  }
}

/**
 * The P2P hour's settlement: the trades at their prices; self-dispatch (resources deliver their
 * trades, PV its output, loads their need); the utility as provider of last resort covers every
 * imbalance at the LMP -/+ its fee, serves the non-participating load and buys the net import.
 */
function settleP2pHour(
  sim: Simulation,
  day: SimDay,
  cda: ContinuousDoubleAuction,
  h: number,
  loads: ReadonlyMap<string, number>,
) {
  const { ledger, utility, delivered, hourly } = sim;
  const { noise } = day;
  const period = day.d * 24 + h;
  const start = day.dayStart + h * HOUR_MS;
  const lmp = sim.iso.forecastLmp(start);
  hourly.push({
    hour: new Date(start).toISOString(),
    lmp,
    dlmp_min: lmp,
    dlmp_max: lmp,
    import_kw: 0,
    der_net_kw: 0,
  });
  const tradedWh = new Map<string, number>();
  const withdrawn = new Map<string, number>();
  for (const t of cda.trades) {
    if (t.quantityWh <= 0) continue;
    ledger.energy(period, t.buyer, -t.quantityWh, t.price, 'p2p_trade', t.id);
    ledger.energy(period, t.seller, t.quantityWh, t.price, 'p2p_trade', t.id);
    tradedWh.set(t.buyer, (tradedWh.get(t.buyer) ?? 0) + t.quantityWh);
    tradedWh.set(t.seller, (tradedWh.get(t.seller) ?? 0) + t.quantityWh);
  }
  // Self-dispatch: resources deliver their trades; PV delivers its output, loads their need.
  const net = netTraded(cda);
  let areaNet = 0;
  const imbalance = new Map<string, number>();
  for (const r of sim.registry.all()) {
    const tradedNet = net.get(r.id) ?? 0;
    let actual = tradedNet;
    if (r.kind === 'pv' && r.status === 'certified') actual = r.max_inject_w * solar(h) * noise(0.1);
    if (r.kind === 'flex_load')
      actual = Math.min(tradedNet, -r.max_withdraw_w * LOAD_SHAPE[h] * 0.6) * noise(0.02);
    areaNet += actual;
    if (actual > 0) delivered.injected_mwh += actual / 1e6;
    else delivered.withdrawn_mwh += -actual / 1e6;
    const acct = r.owner;
    if (actual < 0) withdrawn.set(acct, (withdrawn.get(acct) ?? 0) - actual);
    imbalance.set(acct, (imbalance.get(acct) ?? 0) + actual - tradedNet);
  }
  // Provider of last resort: the utility covers every imbalance at the LMP -/+ its fee.
  for (const [acct, wh] of imbalance) {
    ledger.energy(period, acct, wh, wh > 0 ? lmp - POLR_FEE : lmp + POLR_FEE, 'polr', 'imbalance', utility);
  }
  const totalLoad = [...loads.values()].reduce((s, w) => s + w, 0);
  ledger.energy(period, 'customers', -totalLoad, lmp + POLR_FEE, 'polr', 'non-participating load', utility);
  // The utility buys the area's net import from the ISO at the LMP.
  ledger.energy(period, utility, areaNet - totalLoad, lmp, 'polr', 'wholesale purchase', 'iso');
  delivered.area_import_mwh += (totalLoad - areaNet) / 1e6;
  hourly[hourly.length - 1] = {
    ...hourly[hourly.length - 1],
    import_kw: round2((totalLoad - areaNet) / 1000),
    der_net_kw: round2(areaNet / 1000),
  };
  chargeFeesAll(
    ledger,
    period,
    day.participantsToday,
    tradedWh,
    withdrawn,
    sim.fees,
    sim.dmo,
    utility,
    h === 0,
  );
  // One price for the whole area (the ISO's in models 1-2, the LMP in P2P): no congestion or loss surplus.
  ledger.closePeriod(period, utility, NO_SURPLUS);
}

/** The run's report: the books, every account's net, the DMO's revenue, the DGO's interventions. */
function simulationReport(sim: Simulation): SimulationReport {
  const { opts, config, ledger, dmo, utility, delivered, dgo } = sim;
  const books = checkBooks(ledger);
  const totals = totalsByAccount(ledger);
  const participants = [...totals]
    .filter(([a]) => a !== CLEARING)
    .map(([account, t]) => ({ account, net_cents: t.net, by_kind: t.byKind }))
    .sort((a, b) => a.account.localeCompare(b.account, 'en', { numeric: true }));
  return {
    model: opts.model,
    name: config.name,
    marketForm: config.marketForm,
    roles: { ...config.roles },
    sites: opts.sites,
    days: opts.days,
    seed: opts.seed,
    buses: sim.network.buses.length,
    resources: sim.registry.size,
    refusals: [...sim.refusals].map(([code, r]) => ({ code, ...r })),
    hourly: sim.hourly,
    delivered: {
      injected_mwh: round3(delivered.injected_mwh),
      withdrawn_mwh: round3(delivered.withdrawn_mwh),
      area_import_mwh: round3(delivered.area_import_mwh),
    },
    participants,
    dmo: { account: dmo, revenue_cents: totals.get(dmo)?.byKind.dmo_fee ?? 0 },
    congestion_surplus_cents: totals.get(utility)?.byKind.congestion_surplus ?? 0,
    books: {
      periods: books.length,
      balanced: books.every((b) => b.balanced),
      max_abs_sum_cents: Math.max(0, ...books.map((b) => Math.abs(b.sumCents))),
      max_abs_clearing_cents: Math.max(0, ...books.map((b) => Math.abs(b.clearingCents))),
    },
    dgo: { ...dgo, curtailed_mwh: round3(dgo.curtailed_mwh) },
    ...(config.marketForm === 'p2p' ? { trades: sim.trades } : {}),
    ancillary: [...sim.anc].map(([product, a]) => ({
      product,
      awarded_mwh: round3(a.awarded),
      held_mwh: round3(a.held),
      paid_cents: a.cents,
      curtailed_awards: a.cut,
    })),
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
