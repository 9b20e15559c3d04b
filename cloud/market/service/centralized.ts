import type { TdAward } from '../../../protocols/market/td-interface.ts';
import { newId } from '../../auth/secrets.ts';
import { resourcesFromBids } from '../clearing/curves.ts';
import { ANCILLARY_PRODUCTS } from '../clearing/types.ts';
import { awardsAtPrice, netCurvePoints, screenAwards } from '../forms/centralized.ts';
import {
  type AncillaryW,
  ancillaryOffers,
  screenAncillary,
  splitAncillaryAward,
} from '../forms/centralized-ancillary.ts';
import { ISO_ANCILLARY } from '../model/bids.ts';
import type { AwardRecord, DispatchRecord, PriceRecord } from '../model/records.ts';
import { MarketRefusal, refuse } from '../model/rules.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import { CLEARING, chargeFeesAll, checkBooks, Ledger } from '../settlement/ledger.ts';
import { NO_SURPLUS } from '../settlement/surplus.ts';
import type { MarketCaller, MarketContext } from './context.ts';
import { dispatchToField } from './dispatch.ts';
import type { ScreeningRecord } from './store-forms.ts';

/**
 * The service side of the centralized models (1, 2): the (simulated) ISO is the market operator (the
 * DMO role is held by the ISO actor), DER take part only through aggregators (bids are checked by
 * the core rules: AGGREGATOR_REQUIRED, NOT_REPRESENTED), and the DGO screens the ISO's awards with
 * the exact power flow before anything is dispatched: curtailed or screened-out awards are stored
 * with the reason for the DGO and the aggregator, and only what survives reaches the field.
 *
 * Day-ahead: the aggregators' curves (plus the forecast non-participating load) go to the ISO as one
 * net curve at the T-D node; the ISO clears at one LMP per hour; each resource's award follows its
 * curve at that price; the DGO screens each hour. Settlement: the ISO award at the LMP (the ISO's
 * market), the load at the LMP to the utility, the interface at the LMP to the ISO; what the DGO
 * curtails settles as a real-time deviation at the RT LMP when the interval is dispatched.
 *
 * ISO ancillary services (reg up/down, reserve): the aggregators' offers go up in the T-D bid's
 * `ancillary` field; the ISO's award per product and hour is split over the offering resources in
 * merit order at the ISO's price, screened by the DGO (centralized-ancillary.ts: the full call must
 * fit the resource and the feeder on top of the screened energy), stored as awards of that product
 * with a screening row each, and paid as capacity at the ISO's price for what the screen lets
 * through; the ISO pays the clearing account exactly that, so every period still sums to zero.
 */

type DayAheadQuery = { dayStart: number; forecastLmp?: number[]; loadForecastW?: Record<string, number[]> };

/** Share of an award the DGO must cut before we call it screened out rather than curtailed. */
const SCREENED_OUT = 0.99;

export async function runCentralizedDayAhead(m: MarketContext, c: MarketCaller, q: DayAheadQuery) {
  return m.guard(c, 'market.clear.da', String(q.dayStart), { dayStart: q.dayStart }, async () => {
    const by = m.actingAs(c.userId, 'DMO');
    if (q.dayStart % DAY_MS !== 0)
      throw new MarketRefusal(refuse('BAD_INTERVAL', 'the delivery day starts at 00:00 UTC'));
    m.requireGateClosed('DA', q.dayStart);
    const iso = m.iso();
    const bids = m.book
      .list({ market: 'DA', from: q.dayStart, to: q.dayStart + DAY_MS })
      .filter((b) => b.product === 'energy' || ISO_ANCILLARY.includes(b.product));
    const resources = resourcesFromBids(bids, m.resources, 24, (s) => (s - q.dayStart) / HOUR_MS);
    const load = loadForecast(q.loadForecastW);
    const slack = m.network?.buses.find((b) => b.type === 'slack')?.id ?? 'td-1';
    const award = await iso.clearDayAhead({
      dso: `aggregators@${m.config.roles.DGO}`,
      interface_id: slack,
      hours: Array.from({ length: 24 }, (_, h) => ({
        interval_start: q.dayStart + h * HOUR_MS,
        points: netCurvePoints(resources, h, load.fixed(h)),
        ancillary: ancillaryOffers(resources, h),
      })),
    });
    const run: DayAheadRun = {
      runId: `da_${newId(8)}`,
      account: new Map(bids.map((b) => [b.resource, b.participant])),
      participants: new Set(bids.map((b) => b.participant)),
      awards: [],
      prices: [],
      screening: [],
      ledger: new Ledger(),
      lmp: [],
      ancillary: {},
    };
    for (let h = 0; h < 24; h++)
      settleIsoHour(m, run, {
        h,
        period: q.dayStart + h * HOUR_MS,
        isoHour: award.hours[h],
        resources,
        load,
        slack,
      });
    const { summary, cut, ancCut } = dayAheadSummary(run, bids.length, award, q.loadForecastW);
    await m.store.saveRun(
      {
        id: run.runId,
        market: 'DA',
        intervalStart: q.dayStart,
        intervalEnd: q.dayStart + DAY_MS,
        runAt: m.now(),
        runBy: by,
        summary,
      },
      run.awards,
      run.prices,
      run.ledger.entries,
    );
    await m.forms.saveScreening(run.screening);
    await m.audit(c, 'market.clear.da', run.runId, {
      as: by,
      marketForm: 'wholesale',
      dayStart: q.dayStart,
      lmp: run.lmp,
      awards: run.awards.length,
      balanced: summary.balanced,
    });
    await m.audit(c, 'market.dgo.screen', run.runId, {
      dgo: m.config.roles.DGO,
      curtailed: [...cut, ...ancCut].map((s) => ({
        resource: s.resource,
        product: s.product ?? 'energy',
        participant: s.participant,
        intervalStart: s.intervalStart,
        awardW: s.awardW,
        screenedW: s.screenedW,
        status: s.status,
        reason: s.reason,
      })),
    });
    return { runId: run.runId, ...summary, awards: run.awards.length };
  });
}

type CentralizedResources = ReturnType<typeof resourcesFromBids>;
type AncillarySeries = Record<string, { awardW: number[]; screenedW: number[]; pricePerMWh: number[] }>;

/** What a centralized day-ahead run accumulates hour by hour before it is stored. */
type DayAheadRun = {
  readonly runId: string;
  /** Settlement account per resource: the participant that bid it. */
  readonly account: ReadonlyMap<string, string>;
  readonly participants: ReadonlySet<string>;
  readonly awards: AwardRecord[];
  readonly prices: PriceRecord[];
  readonly screening: ScreeningRecord[];
  readonly ledger: Ledger;
  readonly lmp: number[];
  /** ISO ancillary awards per product and hour: the ISO's total, what the DGO let through, the price ($/MW-h). */
  readonly ancillary: AncillarySeries;
};

/** The forecast non-participating load: per bus at an hour, and its total (fixed import) at an hour. */
function loadForecast(loadForecastW: Record<string, number[]> | undefined) {
  const loads = new Map(Object.entries(loadForecastW ?? {}));
  return {
    at: (h: number) => new Map([...loads].map(([bus, s]) => [bus, s[h] ?? 0])),
    fixed: (h: number) => [...loads.values()].reduce((s, x) => s + (x[h] ?? 0), 0),
  };
}

/**
 * One hour of the ISO's day-ahead award: the price, each resource's award at that price screened by
 * the DGO, the ancillary awards, and the hour's settlement (energy, load, interface, fees).
 */
function settleIsoHour(
  m: MarketContext,
  run: DayAheadRun,
  q: {
    h: number;
    period: number;
    isoHour: TdAward['hours'][number];
    resources: CentralizedResources;
    load: ReturnType<typeof loadForecast>;
    slack: string;
  },
) {
  const { h, period, isoHour: ah, resources, load, slack } = q;
  const { runId, ledger } = run;
  const dgo = m.config.roles.DGO;
  run.lmp.push(ah.lmp_per_mwh);
  const aw = awardsAtPrice(resources, h, ah.lmp_per_mwh, load.fixed(h), ah.import_w);
  // The DGO's screen of the ISO's awards (exact power flow); without a network model nothing is screened.
  const active = resources.filter((r) => Math.abs(aw.get(r.id) ?? 0) > 1e-6);
  const screen = m.network && active.length ? screenAwards(m.network, active, aw, load.at(h), period) : null;
  run.prices.push({
    runId,
    market: 'DA',
    intervalStart: period,
    bus: slack,
    dlmp: ah.lmp_per_mwh,
    energy: ah.lmp_per_mwh,
    loss: 0,
    congestion: 0,
    voltage: 0,
  });
  const { traded, withdrawn } = awardIsoEnergy(m, run, period, ah.lmp_per_mwh, aw, screen);
  const anc = screenCentralizedAncillary(m, {
    runId,
    period,
    h,
    resources,
    isoHour: ah,
    energyW: screen?.awardsW ?? aw,
    loads: load.at(h),
    account: run.account,
    ledger,
  });
  run.awards.push(...anc.awards);
  run.screening.push(...anc.screening);
  recordAncillaryHour(run.ancillary, anc.byProduct, h);
  const fixed = load.fixed(h);
  if (fixed) ledger.energy(period, dgo, -fixed, ah.lmp_per_mwh, 'da_energy', 'load');
  ledger.energy(period, m.config.roles.ISO, ah.import_w, ah.lmp_per_mwh, 'da_energy', 'interface');
  chargeFeesAll(
    ledger,
    period,
    run.participants,
    traded,
    withdrawn,
    m.settings.fees,
    m.config.roles.DMO,
    dgo,
    h === 0,
  );
  // One ISO price for the whole area: no congestion or loss surplus by definition.
  ledger.closePeriod(period, dgo, NO_SURPLUS);
}

/** The screen's verdict on one award: how much of it the DGO cut. */
function screeningStatus(screened: boolean, w: number, cut: number): ScreeningRecord['status'] {
  if (!screened) return 'unscreened';
  if (Math.abs(cut) <= 1e-6) return 'feasible';
  return Math.abs(cut) >= SCREENED_OUT * Math.abs(w) ? 'screened-out' : 'curtailed';
}

/**
 * The hour's energy awards at the ISO's LMP: an award and a screening row per resource, the energy
 * line in the ledger, and what each account traded and withdrew (for the fees).
 */
function awardIsoEnergy(
  m: MarketContext,
  run: DayAheadRun,
  period: number,
  lmp: number,
  aw: ReadonlyMap<string, number>,
  screen: ReturnType<typeof screenAwards> | null,
) {
  const { runId } = run;
  const traded = new Map<string, number>();
  const withdrawn = new Map<string, number>();
  for (const [id, w] of aw) {
    if (Math.abs(w) <= 1e-6) continue;
    const r = m.resources.get(id)!;
    const acct = run.account.get(id) ?? r.aggregator ?? r.owner;
    const screened = screen?.awardsW.get(id) ?? w;
    const cut = w - screened;
    run.awards.push({
      runId,
      market: 'DA',
      resource: id,
      participant: acct,
      bus: r.bus,
      intervalStart: period,
      product: 'energy',
      awardW: w,
      deviationW: null,
      pricePerMWh: lmp,
    });
    const status = screeningStatus(screen !== null, w, cut);
    run.screening.push({
      runId,
      resource: id,
      participant: acct,
      bus: r.bus,
      intervalStart: period,
      awardW: w,
      screenedW: status === 'screened-out' ? 0 : screened,
      status,
      reason:
        status === 'curtailed' || status === 'screened-out'
          ? `DGO feasibility screen: ${screen!.violations.join('; ')}`
          : status === 'unscreened'
            ? 'no network model configured: the DGO screen is off'
            : null,
    });
    run.ledger.energy(period, acct, w, lmp, 'da_energy', id); // 1 h: W = Wh
    traded.set(acct, (traded.get(acct) ?? 0) + Math.abs(w));
    withdrawn.set(acct, (withdrawn.get(acct) ?? 0) + Math.max(0, -w));
  }
  return { traded, withdrawn };
}

/** Puts one hour's ancillary totals into the day's series per product. */
function recordAncillaryHour(
  ancillary: AncillarySeries,
  byProduct: Partial<Record<string, { awardW: number; screenedW: number; price: number }>>,
  h: number,
) {
  for (const p of ANCILLARY_PRODUCTS) {
    const a = byProduct[p];
    if (!a) continue;
    ancillary[p] ??= {
      awardW: Array(24).fill(0),
      screenedW: Array(24).fill(0),
      pricePerMWh: Array(24).fill(0),
    };
    ancillary[p].awardW[h] = a.awardW;
    ancillary[p].screenedW[h] = a.screenedW;
    ancillary[p].pricePerMWh[h] = a.price;
  }
}

/** The stored summary of a centralized day-ahead run, and the energy and ancillary rows the DGO cut. */
function dayAheadSummary(
  run: DayAheadRun,
  bidCount: number,
  award: TdAward,
  loadForecastW: Record<string, number[]> | undefined,
) {
  const books = checkBooks(run.ledger);
  const isCut = (s: ScreeningRecord) => s.status === 'curtailed' || s.status === 'screened-out';
  const cut = run.screening.filter((s) => (s.product ?? 'energy') === 'energy' && isCut(s));
  const ancCut = run.screening.filter((s) => (s.product ?? 'energy') !== 'energy' && isCut(s));
  const summary = {
    marketForm: 'wholesale',
    lmp: run.lmp,
    importW: award.hours.map((x) => x.import_w),
    loadW: loadForecastW ?? {},
    bids: bidCount,
    resources: new Set(run.awards.map((a) => a.resource)).size,
    /** ISO ancillary awards per product and hour: the ISO's total, what the DGO let through, the price ($/MW-h). */
    ancillary: run.ancillary,
    curtailed: cut.filter((s) => s.status === 'curtailed').length,
    screenedOut: cut.filter((s) => s.status === 'screened-out').length,
    ancillaryCurtailed: ancCut.length,
    balanced: books.every((b) => b.balanced),
    surplusCents: books.reduce((s, b) => s + b.surplusCents, 0),
  };
  return { summary, cut, ancCut };
}

type RealTimeQuery = {
  intervalStart: number;
  interfacePrice?: number;
  loadForecastW?: Record<string, number>;
  dispatch?: boolean;
};

/**
 * One 5-minute interval of a centralized model: the DERM dispatches the DGO-screened day-ahead awards
 * of the hour (screened again on the interval's loads, so no infeasible award reaches the field);
 * whatever differs from the ISO's award settles as a deviation at the ISO's real-time LMP. Only a
 * user acting for the DERM runs it (model 1: the ISO; model 2: the utility; anyone else: NOT_DERM).
 */
export async function runCentralizedRealTime(m: MarketContext, c: MarketCaller, q: RealTimeQuery) {
  return m.guard(
    c,
    'market.clear.rt',
    String(q.intervalStart),
    { intervalStart: q.intervalStart },
    async () => {
      // The DERM dispatches DER: the ISO in model 1, the utility in model 2 (the ISO stays the DMO).
      const by = m.actingAs(c.userId, 'DERM');
      if (q.intervalStart % RT_INTERVAL_MS !== 0)
        throw new MarketRefusal(refuse('BAD_INTERVAL', 'RT intervals start on 5-minute boundaries'));
      m.requireGateClosed('RT', q.intervalStart);
      const start = q.intervalStart;
      const hourStart = Math.floor(start / HOUR_MS) * HOUR_MS;
      const dayStart = Math.floor(start / DAY_MS) * DAY_MS;
      const h = (hourStart - dayStart) / HOUR_MS;
      const screenedDa = await m.forms.screening({ from: hourStart, to: hourStart + 1, product: 'energy' });
      if (!screenedDa.length)
        throw new MarketRefusal(
          refuse(
            'BAD_INTERVAL',
            `no day-ahead ISO awards for ${new Date(hourStart).toISOString()}: clear the day first`,
          ),
        );
      const daRun = (await m.store.runs({ market: 'DA', from: dayStart, to: dayStart + 1 }))[0];
      const daImport = Number((daRun?.summary.importW as number[] | undefined)?.[h] ?? 0);
      const daLoad = (daRun?.summary.loadW ?? {}) as Record<string, number[]>;
      const price = q.interfacePrice ?? m.iso().realTimeLmp?.(start, daImport) ?? 50;
      const loads = new Map(Object.entries(q.loadForecastW ?? {}));
      for (const [bus, s] of Object.entries(daLoad)) if (!loads.has(bus)) loads.set(bus, s[h] ?? 0);
      const daScreened = new Map(screenedDa.map((s) => [s.resource, s.screenedW]));
      const runId = `rt_${newId(8)}`;
      let records: DispatchRecord[] = [];
      let screen: { feasible: boolean; violationsBefore: number; iterations: number } | null = null;
      let finalW = daScreened;
      if (q.dispatch !== false && m.send) {
        const d = await dispatchToField({
          runId,
          intervalStart: start,
          intervalEnd: start + RT_INTERVAL_MS,
          now: m.now(),
          awardsW: daScreened,
          config: m.config,
          registry: m.resources,
          links: m.links,
          network: m.network,
          loadsW: loads,
          by: 'DERM',
          actor: `market:DERM:${m.config.roles.DERM ?? 'none'}`,
          maxTtlSeconds: m.maxTtlSeconds ?? 86_400,
          send: m.send,
        });
        records = d.records;
        screen = d.screen;
        finalW = new Map(records.map((r) => [r.resource, r.screenedW]));
      } else if (m.network) {
        const ids = [...daScreened.keys()].filter((id) => m.resources.get(id));
        const s = screenAwards(
          m.network,
          ids.map((id) => ({ id, bus: m.resources.get(id)!.bus })),
          daScreened,
          loads,
          start,
        );
        finalW = s.awardsW;
        screen = { feasible: s.feasible, violationsBefore: s.violationsBefore, iterations: s.iterations };
      }
      const ledger = new Ledger();
      const dur = RT_INTERVAL_MS / HOUR_MS;
      const dgo = m.config.roles.DGO;
      const awards: AwardRecord[] = [];
      let devSum = 0;
      for (const s of screenedDa) {
        const w = finalW.get(s.resource) ?? 0;
        const dev = w - s.awardW;
        devSum += dev;
        awards.push({
          runId,
          market: 'RT',
          resource: s.resource,
          participant: s.participant,
          bus: s.bus,
          intervalStart: start,
          product: 'energy',
          awardW: w,
          deviationW: dev,
          pricePerMWh: price,
        });
        ledger.energy(start, s.participant, dev * dur, price, 'rt_deviation', s.resource);
      }
      let loadDev = 0;
      for (const [bus, w] of loads) {
        const d = w - (daLoad[bus]?.[h] ?? 0);
        loadDev += d;
        if (d) ledger.energy(start, dgo, -d * dur, price, 'rt_deviation', `load@${bus}`);
      }
      // The ISO delivers what the DER do not: their shortfall and the load's deviation come through the interface.
      ledger.energy(start, m.config.roles.ISO, (loadDev - devSum) * dur, price, 'rt_deviation', 'interface');
      ledger.closePeriod(start, dgo, NO_SURPLUS); // one price: nothing may be left
      const books = checkBooks(ledger);
      const summary = {
        marketForm: 'wholesale',
        interfacePrice: price,
        importW: daImport + loadDev - devSum,
        balanced: books.every((b) => b.balanced),
      };
      await m.store.saveRun(
        {
          id: runId,
          market: 'RT',
          intervalStart: start,
          intervalEnd: start + RT_INTERVAL_MS,
          runAt: m.now(),
          runBy: by,
          summary,
        },
        awards,
        [],
        ledger.entries,
      );
      for (const d of records) await m.store.saveDispatch(d);
      await m.audit(c, 'market.clear.rt', runId, {
        as: by,
        marketForm: 'wholesale',
        intervalStart: start,
        price,
      });
      if (records.length)
        await m.audit(c, 'market.dispatch.rt', runId, {
          screen,
          dispatch: records.map((d) => ({ resource: d.resource, status: d.status, command: d.commandId })),
        });
      return { runId, ...summary, awards: awards.length, screen, dispatch: records };
    },
  );
}

type IsoHour = {
  readonly ancillary: Partial<Record<string, { award_w: number; price_per_mwh: number }>>;
};

/**
 * One hour's ISO ancillary awards: split over the offering resources, screened by the DGO on top of
 * the screened energy schedules, recorded (award + screening rows) and settled: each participant is
 * paid its screened capacity at the ISO's price from the clearing account, and the ISO pays the
 * clearing account the sum of those lines to the cent.
 */
function screenCentralizedAncillary(
  m: MarketContext,
  q: {
    runId: string;
    period: number;
    h: number;
    resources: ReturnType<typeof resourcesFromBids>;
    isoHour: IsoHour;
    energyW: ReadonlyMap<string, number>;
    loads: ReadonlyMap<string, number>;
    account: ReadonlyMap<string, string>;
    ledger: Ledger;
  },
) {
  const awards: AwardRecord[] = [];
  const screening: ScreeningRecord[] = [];
  const byProduct: Partial<Record<string, { awardW: number; screenedW: number; price: number }>> = {};
  const split = new Map<string, AncillaryW>();
  for (const p of ANCILLARY_PRODUCTS) {
    const a = q.isoHour.ancillary[p];
    if (!a || a.award_w <= 0) continue;
    for (const [id, w] of splitAncillaryAward(q.resources, q.h, p, a.price_per_mwh, a.award_w))
      split.set(id, { ...split.get(id), [p]: w });
  }
  if (!split.size) return { awards, screening, byProduct };
  const placed = q.resources.map((r) => {
    const reg = m.resources.get(r.id)!;
    return { id: r.id, bus: r.bus, maxInjectW: reg.max_inject_w, maxWithdrawW: reg.max_withdraw_w };
  });
  const outcome = screenAncillary(m.network, placed, q.energyW, split, q.loads, q.period);
  for (const [id, o] of outcome) {
    const r = m.resources.get(id)!;
    const acct = q.account.get(id) ?? r.aggregator ?? r.owner;
    for (const p of ANCILLARY_PRODUCTS) {
      const w = o.awardW[p];
      if (w === undefined) continue;
      const held = o.screenedW[p] ?? 0;
      const price = q.isoHour.ancillary[p]!.price_per_mwh;
      const status =
        held >= w - 1e-3
          ? m.network
            ? 'feasible'
            : 'unscreened'
          : held <= 1e-3
            ? 'screened-out'
            : 'curtailed';
      screening.push({
        runId: q.runId,
        resource: id,
        product: p,
        participant: acct,
        bus: r.bus,
        intervalStart: q.period,
        awardW: w,
        screenedW: held,
        status,
        reason:
          status === 'curtailed' || status === 'screened-out'
            ? o.reason
            : status === 'unscreened'
              ? 'no network model configured: only the resource headroom was checked'
              : null,
      });
      const b = byProduct[p] ?? { awardW: 0, screenedW: 0, price };
      byProduct[p] = b;
      b.awardW += w;
      b.screenedW += held;
      if (held <= 1e-3) continue;
      awards.push({
        runId: q.runId,
        market: 'DA',
        resource: id,
        participant: acct,
        bus: r.bus,
        intervalStart: q.period,
        product: p,
        awardW: held,
        deviationW: null,
        pricePerMWh: price,
      });
      // Capacity for one hour: W held x $/MW-h, booked like energy (W x 1 h = Wh).
      const cents = q.ledger.energy(q.period, acct, held, price, 'ancillary', `${id}:${p}`);
      q.ledger.transfer(q.period, m.config.roles.ISO, CLEARING, cents, 'ancillary', `${id}:${p}`);
    }
  }
  return { awards, screening, byProduct };
}
