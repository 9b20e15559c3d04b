import { newId } from '../../auth/secrets.ts';
import { resourcesFromBids } from '../clearing/curves.ts';
import { compileFeeder } from '../clearing/feeder.ts';
import { gridServiceOffers, NetworkRefiner } from '../clearing/grid-services.ts';
import { clearRealTime } from '../clearing/realtime.ts';
import { callsByBus, serviceCallsW, withCalls } from '../clearing/service-calls.ts';
import { runDayAhead } from '../clearing/total-dso.ts';
import { ANCILLARY_PRODUCTS } from '../clearing/types.ts';
import type { Bid } from '../model/bids.ts';
import { MarketServiceError } from '../model/errors.ts';
import { energyCents, roundCents } from '../model/money.ts';
import type { AwardRecord, PriceRecord } from '../model/records.ts';
import type { MarketConfig } from '../model/roles.ts';
import { MarketRefusal, refuse } from '../model/rules.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import { CLEARING, chargeFeesAll, checkBooks, Ledger } from '../settlement/ledger.ts';
import { type BusPriceComponents, expectedSurplus, uniformPrice } from '../settlement/surplus.ts';
import type { MarketCaller, MarketContext } from './context.ts';
import { dispatchToField, type SendCommand } from './dispatch.ts';

/**
 * The service side of the nodal models (3, 4: distribution node, utility or independent DMO): the
 * DMO clears the area's day ahead in the seven Total-DSO steps with the ISO (clearing/total-dso.ts)
 * and every 5-minute real-time interval on top of it (clearing/realtime.ts), both priced per bus
 * (DLMPs) with the network refinement (losses, DSO grid services); settles each period in the
 * ledger, stores the run, and sends the real-time awards (plus the hour's grid-service calls) to the
 * field. Like the centralized and P2P services it sees the market only through MarketContext.
 */

export type NodalDayAheadQuery = {
  dayStart: number;
  forecastLmp?: number[];
  loadForecastW?: Record<string, number[]>;
};

export interface NodalRealTimeQuery {
  intervalStart: number;
  interfacePrice?: number;
  loadForecastW?: Record<string, number>;
  socWh?: Record<string, number>;
  /**
   * Available power of PV and generator resources (W, e.g. forecast blended with the live output):
   * their offers are cut to it, so the market never awards more than the sun gives.
   */
  availableW?: Record<string, number>;
  dispatch?: boolean;
  /**
   * Market-clock time by which the interval must be cleared (the RT scheduler's deadline): a
   * clearing that finishes later is refused with LATE, nothing stored or sent (stale awards).
   */
  deadline?: number;
}

/** Length of one real-time interval (ms): `market.realtime.intervalMs`, 5 minutes by default. */
export function rtIntervalMs(m: Pick<MarketContext, 'settings'>): number {
  return m.settings.realtime?.intervalMs ?? RT_INTERVAL_MS;
}

/** A WRONG_MARKET_FORM refusal unless the model clears a nodal market. */
export function requireNodal(config: MarketConfig) {
  if (config.marketForm !== 'nodal')
    throw new MarketRefusal(
      refuse(
        'WRONG_MARKET_FORM',
        `model ${config.model} (${config.name}) is a ${config.marketForm} market: trade through /market/p2p/orders; the DMO closes intervals with /market/p2p/close`,
      ),
    );
}

/** Account a resource settles to: whoever bid it (owner or aggregator). */
function accountOf(bids: readonly Bid[]): Map<string, string> {
  return new Map(bids.map((b) => [b.resource, b.participant]));
}

export async function runNodalDayAhead(m: MarketContext, c: MarketCaller, q: NodalDayAheadQuery) {
  return m.guard(c, 'market.clear.da', String(q.dayStart), { dayStart: q.dayStart }, async () => {
    const by = m.actingAs(c.userId, 'DMO');
    requireNodal(m.config);
    if (q.dayStart % DAY_MS !== 0)
      throw new MarketRefusal(refuse('BAD_INTERVAL', 'the delivery day starts at 00:00 UTC'));
    m.requireGateClosed('DA', q.dayStart);
    const bids = m.book.list({ market: 'DA', from: q.dayStart, to: q.dayStart + DAY_MS });
    const loads = new Map(Object.entries(q.loadForecastW ?? {}));
    const iso = m.iso();
    const forecastLmp =
      q.forecastLmp ??
      Array.from({ length: 24 }, (_, h) => iso.forecastLmp?.(q.dayStart + h * HOUR_MS) ?? 50);
    const slack = m.network?.buses.find((b) => b.type === 'slack')?.id ?? 'copper-plate';
    const refiner = new NetworkRefiner({
      lossIterations: m.settings.lossIterations,
      offers: gridServiceOffers(bids, m.resources, 24, (s) => (s - q.dayStart) / HOUR_MS),
    });
    const da = await runDayAhead({
      refine: refiner,
      dso: m.config.roles.DMO,
      interfaceId: slack,
      dayStart: q.dayStart,
      registry: m.resources,
      bids,
      feeder: m.network ? compileFeeder(m.network) : null,
      loadForecastW: loads,
      forecastLmp,
      iso,
      curveOffsets: m.settings.curveOffsetsPerMWh,
      ...(m.settings.interfaceLimitW !== undefined ? { interfaceLimitW: m.settings.interfaceLimitW } : {}),
    });
    const run: NodalDayAheadRun = {
      runId: `da_${newId(8)}`,
      account: accountOf(bids),
      participants: new Set(bids.map((b) => b.participant)),
      awards: [],
      prices: [],
      ledger: new Ledger(),
    };
    for (let h = 0; h < 24; h++)
      settleNodalHour(m, run, { h, period: q.dayStart + h * HOUR_MS, da, loads, refiner });
    const { runId, awards, prices, ledger } = run;
    const books = checkBooks(ledger);
    const summary = {
      lmp: da.lmp,
      importW: da.final.interfaceImportW,
      /** The consolidated T-D bid curve sent to the ISO, per hour (step 3). */
      tdCurve: da.tdBid.hours.map((h) => h.points),
      loadW: q.loadForecastW ?? {},
      bids: bids.length,
      resources: da.final.schedules.size,
      balanced: books.every((b) => b.balanced),
      surplusCents: books.reduce((s, b) => s + b.surplusCents, 0),
      timingsMs: da.timings,
      ...refiner.summary(),
    };
    await m.store.saveRun(
      {
        id: runId,
        market: 'DA',
        intervalStart: q.dayStart,
        intervalEnd: q.dayStart + DAY_MS,
        runAt: m.now(),
        runBy: by,
        summary,
      },
      awards,
      prices,
      ledger.entries,
    );
    await m.audit(c, 'market.clear.da', runId, {
      as: by,
      dayStart: q.dayStart,
      lmp: da.lmp,
      awards: awards.length,
      balanced: summary.balanced,
    });
    return { runId, ...summary, awards: awards.length };
  });
}

/** What a nodal day-ahead run accumulates hour by hour before it is stored. */
type NodalDayAheadRun = {
  readonly runId: string;
  readonly account: ReadonlyMap<string, string>;
  readonly participants: ReadonlySet<string>;
  readonly awards: AwardRecord[];
  readonly prices: PriceRecord[];
  readonly ledger: Ledger;
};

type TotalDsoDay = Awaited<ReturnType<typeof runDayAhead>>;

/**
 * One hour of the cleared day: the bus prices, each resource's energy award at its DLMP, the load
 * and the interface, the ISO ancillary awards, the fees and the network refinement's settlement.
 */
function settleNodalHour(
  m: MarketContext,
  run: NodalDayAheadRun,
  q: {
    h: number;
    period: number;
    da: TotalDsoDay;
    loads: ReadonlyMap<string, number[]>;
    refiner: NetworkRefiner;
  },
) {
  const { h, period, da, loads, refiner } = q;
  const { runId, account, awards, ledger } = run;
  const dgo = m.config.roles.DGO;
  const p = da.final.prices[h];
  for (const [bus, bp] of p) run.prices.push({ runId, market: 'DA', intervalStart: period, bus, ...bp });
  const traded = new Map<string, number>();
  const withdrawn = new Map<string, number>();
  const atDlmp: [string, number][] = []; // net withdrawal by bus (Wh), for the surplus definition
  for (const [id, s] of da.final.schedules) {
    const r = m.resources.get(id)!;
    const acct = account.get(id) ?? r.owner;
    const w = s.netW[h];
    const dlmp = busPrice(p, r.bus)!.dlmp;
    awards.push({
      runId,
      market: 'DA',
      resource: id,
      participant: acct,
      bus: r.bus,
      intervalStart: period,
      product: 'energy',
      awardW: w,
      deviationW: null,
      pricePerMWh: dlmp,
    });
    ledger.energy(period, acct, w, dlmp, 'da_energy', id); // 1 h: W = Wh
    atDlmp.push([r.bus, -w]);
    traded.set(acct, (traded.get(acct) ?? 0) + Math.abs(w));
    withdrawn.set(acct, (withdrawn.get(acct) ?? 0) + Math.max(0, -w));
  }
  for (const [bus, series] of loads) {
    ledger.energy(
      period,
      dgo,
      -(series[h] ?? 0),
      busPrice(p, bus)?.dlmp ?? da.lmp[h],
      'da_energy',
      `load@${bus}`,
    );
    atDlmp.push([bus, series[h] ?? 0]);
  }
  ledger.energy(
    period,
    m.config.roles.ISO,
    da.final.interfaceImportW[h],
    da.lmp[h],
    'da_energy',
    'interface',
  );
  settleNodalAncillary(m, run, h, period, da);
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
  const services = refiner.settle(ledger, { t: h, period, durationH: 1, runId, dgo, market: 'DA' });
  awards.push(...services);
  ledger.closePeriod(
    period,
    dgo,
    expectedSurplus({
      priceAt: priceAt(p, da.lmp[h]),
      refPricePerMWh: da.lmp[h],
      importWh: da.final.interfaceImportW[h],
      atDlmp,
      atEnergyAndLoss: services.map((a) => [a.bus, -a.awardW] as const),
    }),
  );
}

/**
 * A bus's price of a period. Without a feeder the area clears as one copper plate (clearing.ts):
 * its one price (node `copper-plate`) is every resource's and load's, whatever bus they name.
 */
function busPrice<T>(p: ReadonlyMap<string, T>, bus: string): T | undefined {
  return p.get(bus) ?? p.get('copper-plate');
}

/** A period's published bus prices; a bus without one is at the interface price. */
function priceAt(p: ReadonlyMap<string, BusPriceComponents>, lmp: number) {
  const flat = uniformPrice(lmp);
  return (bus: string) => busPrice(p, bus) ?? flat(bus);
}

/**
 * The hour's ISO ancillary awards per resource and product, paid at the ISO's price from the
 * clearing account; the ISO pays the clearing account its award per product.
 */
function settleNodalAncillary(
  m: MarketContext,
  run: NodalDayAheadRun,
  h: number,
  period: number,
  da: TotalDsoDay,
) {
  const { runId, account, awards, ledger } = run;
  for (const [id, aw] of da.final.ancillaryAwards) {
    const r = m.resources.get(id)!;
    for (const prod of ANCILLARY_PRODUCTS) {
      const w = aw[prod]?.[h] ?? 0;
      if (w <= 0) continue;
      const price = da.isoAward.hours[h].ancillary[prod]?.price_per_mwh ?? 0;
      const acct = account.get(id) ?? r.owner;
      awards.push({
        runId,
        market: 'DA',
        resource: id,
        participant: acct,
        bus: r.bus,
        intervalStart: period,
        product: prod,
        awardW: w,
        deviationW: null,
        pricePerMWh: price,
      });
      ledger.energy(period, acct, w, price, 'ancillary', `${id}:${prod}`);
    }
  }
  for (const prod of ANCILLARY_PRODUCTS) {
    const a = da.isoAward.hours[h].ancillary[prod];
    if (a && a.award_w > 0)
      ledger.transfer(
        period,
        m.config.roles.ISO,
        CLEARING,
        energyCents(a.award_w, a.price_per_mwh),
        'ancillary',
        prod,
      );
  }
}

export async function runNodalRealTime(m: MarketContext, c: MarketCaller, q: NodalRealTimeQuery) {
  return m.guard(
    c,
    'market.clear.rt',
    String(q.intervalStart),
    { intervalStart: q.intervalStart },
    async () => {
      const by = c.system === 'DMO' ? m.config.roles.DMO : m.actingAs(c.userId, 'DMO');
      requireNodal(m.config);
      const len = rtIntervalMs(m);
      if (q.intervalStart % len !== 0)
        throw new MarketRefusal(
          refuse(
            'BAD_INTERVAL',
            `RT intervals start on ${len / 1000}-second boundaries (market.realtime.intervalMs)`,
          ),
        );
      m.requireGateClosed('RT', q.intervalStart);
      const start = q.intervalStart;
      const hourStart = Math.floor(start / HOUR_MS) * HOUR_MS;
      const dayStart = Math.floor(start / DAY_MS) * DAY_MS;
      const h = (hourStart - dayStart) / HOUR_MS;
      const { bids, resources: offered } = realTimeBids(m, start, hourStart);
      const resources = q.availableW ? capToAvailable(m, offered, q.availableW) : offered;
      const daRun = (await m.store.runs({ market: 'DA', from: dayStart, to: dayStart + 1 }))[0];
      const daAwards = await m.store.awards({ market: 'DA', from: hourStart, to: hourStart + 1 });
      const daW = new Map(daAwards.filter((a) => a.product === 'energy').map((a) => [a.resource, a.awardW]));
      const calls = serviceCallsW(daAwards); // DA grid-service calls: fixed here, on top in the field
      const daImport = Number((daRun?.summary.importW as number[] | undefined)?.[h] ?? 0);
      const daLoad = (daRun?.summary.loadW ?? {}) as Record<string, number[]>;
      const price = q.interfacePrice ?? m.iso().realTimeLmp?.(start, daImport) ?? 50;
      const loads = new Map(Object.entries(q.loadForecastW ?? {}));
      const rt = await clearRealTime({
        feeder: m.network ? compileFeeder(m.network) : null,
        intervalStart: start,
        interfacePrice: price,
        ...(m.settings.interfaceLimitW !== undefined ? { interfaceLimitW: m.settings.interfaceLimitW } : {}),
        loadForecastW: loads,
        fixedInjectionW: callsByBus(calls, m.resources),
        resources,
        ...(q.socWh ? { socWh: new Map(Object.entries(q.socWh)) } : {}),
        daScheduleW: daW,
        daLoadW: new Map(Object.entries(daLoad).map(([bus, s]) => [bus, s[h] ?? 0])),
        daImportW: daImport,
        lossIterations: m.settings.lossIterations,
        durationMs: len,
      });
      if (q.deadline !== undefined && m.now() > q.deadline)
        throw new MarketServiceError(
          'RT_LATE',
          `the RT interval ${new Date(start).toISOString()} cleared after its deadline ${new Date(q.deadline).toISOString()}: not stored, not sent`,
        );
      const runId = `rt_${newId(8)}`;
      const p = rt.clearing.prices[0];
      const prices: PriceRecord[] = [...p].map(([bus, bp]) => ({
        runId,
        market: 'RT' as const,
        intervalStart: start,
        bus,
        ...bp,
      }));
      const ledger = new Ledger();
      const { awards, awardsW } = settleRealTimeInterval(m, ledger, {
        runId,
        start,
        price,
        daImport,
        account: accountOf(bids),
        rt,
        durationMs: len,
      });
      const books = checkBooks(ledger);
      const summary = {
        interfacePrice: price,
        importW: rt.clearing.interfaceImportW[0],
        balanced: books.every((b) => b.balanced),
        bids: bids.length,
        ...(rt.lossW !== null ? { lossesW: Math.round(rt.lossW) } : {}),
      };
      await m.store.saveRun(
        {
          id: runId,
          market: 'RT',
          intervalStart: start,
          intervalEnd: start + len,
          runAt: m.now(),
          runBy: by,
          summary,
        },
        awards,
        prices,
        ledger.entries,
      );
      await m.audit(c, 'market.clear.rt', runId, {
        as: by,
        intervalStart: start,
        price,
        awards: awards.length,
      });
      const dispatch =
        q.dispatch !== false && m.send
          ? await dispatchRealTime(m, c, m.send, {
              runId,
              start,
              end: start + len,
              awardsW: withCalls(awardsW, calls),
              loads,
            })
          : null;
      return {
        runId,
        ...summary,
        awards: awards.length,
        screen: dispatch?.screen ?? null,
        dispatch: dispatch?.records ?? [],
      };
    },
  );
}

/**
 * PV and generator offers cut to the available power: the sell steps in price order keep their
 * quantities until the available power is used up (a resource not in `availableW` is unchanged).
 */
function capToAvailable(
  m: MarketContext,
  resources: ReturnType<typeof realTimeBids>['resources'],
  availableW: Record<string, number>,
) {
  return resources.map((r) => {
    const kind = m.resources.get(r.id)?.kind;
    const cap = availableW[r.id];
    if (cap === undefined || (kind !== 'pv' && kind !== 'generator')) return r;
    let left = Math.max(0, cap);
    const steps = [...r.sell[0]]
      .sort((a, b) => a.price_per_mwh - b.price_per_mwh)
      .flatMap((st) => {
        const q = Math.min(st.quantity_w, left);
        left -= q;
        return q > 0 ? [{ ...st, quantity_w: q }] : [];
      });
    return { ...r, sell: [steps] };
  });
}

/**
 * The interval's bids: the real-time re-bids, and the day-ahead curve of the hour for resources that
 * did not re-bid (carried over), as single-interval clearing resources without ancillary offers.
 */
function realTimeBids(m: MarketContext, start: number, hourStart: number) {
  const rtBids = m.book.list({ market: 'RT', from: start, to: start + 1 });
  // Resources that did not re-bid carry their day-ahead curve of the hour over.
  const rebid = new Set(rtBids.map((b) => b.resource));
  const daBids = m.book
    .list({ market: 'DA', from: hourStart, to: hourStart + 1 })
    .filter((b) => !rebid.has(b.resource));
  const bids = [...rtBids, ...daBids];
  const resources = [
    ...resourcesFromBids(rtBids, m.resources, 1, (s) => (s === start ? 0 : -1)),
    ...resourcesFromBids(daBids, m.resources, 1, (s) => (s === hourStart ? 0 : -1)),
  ].map((r) => ({ ...r, ancillary: undefined }));
  return { bids, resources };
}

/**
 * The interval's settlement: each resource's deviation from its day-ahead award at its DLMP, the
 * load's deviation, the interface's deviation at the ISO's price, and the loss surplus to the DGO.
 */
function settleRealTimeInterval(
  m: MarketContext,
  ledger: Ledger,
  q: {
    runId: string;
    start: number;
    price: number;
    daImport: number;
    account: ReadonlyMap<string, string>;
    rt: Awaited<ReturnType<typeof clearRealTime>>;
    durationMs: number;
  },
) {
  const { runId, start, price, daImport, account, rt } = q;
  const p = rt.clearing.prices[0];
  const dur = q.durationMs / HOUR_MS;
  const dgo = m.config.roles.DGO;
  const awards: AwardRecord[] = [];
  const awardsW = new Map<string, number>();
  const atDlmp: [string, number][] = []; // net withdrawal deviations by bus (Wh)
  for (const [id, s] of rt.clearing.schedules) {
    const r = m.resources.get(id)!;
    const acct = account.get(id) ?? r.owner;
    const dev = rt.deviationW.get(id) ?? 0;
    const dlmp = busPrice(p, r.bus)!.dlmp;
    awardsW.set(id, s.netW[0]);
    awards.push({
      runId,
      market: 'RT',
      resource: id,
      participant: acct,
      bus: r.bus,
      intervalStart: start,
      product: 'energy',
      awardW: s.netW[0],
      deviationW: dev,
      pricePerMWh: dlmp,
    });
    ledger.energy(start, acct, dev * dur, dlmp, 'rt_deviation', id);
    atDlmp.push([r.bus, -dev * dur]);
  }
  for (const [bus, w] of rt.loadDeviationW) {
    ledger.energy(start, dgo, -w * dur, busPrice(p, bus)?.dlmp ?? price, 'rt_deviation', `load@${bus}`);
    atDlmp.push([bus, w * dur]);
  }
  ledger.energy(
    start,
    m.config.roles.ISO,
    (rt.clearing.interfaceImportW[0] - daImport) * dur,
    price,
    'rt_deviation',
    'interface',
  );
  ledger.transfer(start, CLEARING, dgo, roundCents(rt.lossSurplusPerH * dur * 100), 'loss_surplus');
  ledger.closePeriod(
    start,
    dgo,
    expectedSurplus({
      priceAt: priceAt(p, price),
      refPricePerMWh: price,
      importWh: (rt.clearing.interfaceImportW[0] - daImport) * dur,
      atDlmp,
    }),
  );
  return { awards, awardsW };
}

/** Sends the interval's awards (plus the hour's grid-service calls) to the field as the DERM. */
async function dispatchRealTime(
  m: MarketContext,
  c: MarketCaller,
  send: SendCommand,
  q: {
    runId: string;
    start: number;
    end: number;
    awardsW: ReadonlyMap<string, number>;
    loads: ReadonlyMap<string, number>;
  },
) {
  const { runId, start } = q;
  const dispatch = await dispatchToField({
    runId,
    intervalStart: start,
    intervalEnd: q.end,
    now: m.now(),
    awardsW: q.awardsW,
    config: m.config,
    registry: m.resources,
    links: m.links,
    network: m.network,
    loadsW: q.loads,
    by: 'DERM',
    actor: `market:DERM:${m.config.roles.DERM ?? 'none'}`,
    maxTtlSeconds: m.maxTtlSeconds ?? 86_400,
    send,
  });
  for (const d of dispatch.records) await m.store.saveDispatch(d);
  await m.audit(c, 'market.dispatch.rt', runId, {
    screen: dispatch.screen,
    dispatch: dispatch.records.map((d) => ({
      resource: d.resource,
      status: d.status,
      command: d.commandId,
    })),
  });
  return dispatch;
}
