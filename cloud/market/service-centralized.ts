import { newId } from '../auth/secrets.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from './bids.ts';
import { awardsAtPrice, netCurvePoints, screenAwards } from './centralized.ts';
import { resourcesFromBids } from './curves.ts';
import { dispatchToField } from './dispatch.ts';
import { MarketRefusal, refuse } from './rules.ts';
import type { MarketCaller, MarketService } from './service.ts';
import { chargeFeesAll, checkBooks, Ledger } from './settlement.ts';
import type { AwardRecord, DispatchRecord, PriceRecord } from './store.ts';
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
 */

type DayAheadQuery = { dayStart: number; forecastLmp?: number[]; loadForecastW?: Record<string, number[]> };

/** Share of an award the DGO must cut before we call it screened out rather than curtailed. */
const SCREENED_OUT = 0.99;

export async function runCentralizedDayAhead(m: MarketService, c: MarketCaller, q: DayAheadQuery) {
  return m.guard(c, 'market.clear.da', String(q.dayStart), { dayStart: q.dayStart }, async () => {
    const by = m.actingAs(c.userId, 'DMO');
    if (q.dayStart % DAY_MS !== 0)
      throw new MarketRefusal(refuse('BAD_INTERVAL', 'the delivery day starts at 00:00 UTC'));
    m.requireGateClosed('DA', q.dayStart);
    const iso = m.iso();
    const bids = m.book
      .list({ market: 'DA', from: q.dayStart, to: q.dayStart + DAY_MS })
      .filter((b) => b.product === 'energy');
    const resources = resourcesFromBids(bids, m.resources, 24, (s) => (s - q.dayStart) / HOUR_MS);
    const loads = new Map(Object.entries(q.loadForecastW ?? {}));
    const loadAt = (h: number) => new Map([...loads].map(([bus, s]) => [bus, s[h] ?? 0]));
    const fixed = (h: number) => [...loads.values()].reduce((s, x) => s + (x[h] ?? 0), 0);
    const slack = m.network?.buses.find((b) => b.type === 'slack')?.id ?? 'td-1';
    const award = await iso.clearDayAhead({
      dso: `aggregators@${m.config.roles.DGO}`,
      interface_id: slack,
      hours: Array.from({ length: 24 }, (_, h) => ({
        interval_start: q.dayStart + h * HOUR_MS,
        points: netCurvePoints(resources, h, fixed(h)),
        ancillary: [],
      })),
    });
    const runId = `da_${newId(8)}`;
    const account = new Map(bids.map((b) => [b.resource, b.participant]));
    const participants = new Set(bids.map((b) => b.participant));
    const awards: AwardRecord[] = [];
    const prices: PriceRecord[] = [];
    const screening: ScreeningRecord[] = [];
    const ledger = new Ledger();
    const dgo = m.config.roles.DGO;
    const lmp: number[] = [];
    for (let h = 0; h < 24; h++) {
      const period = q.dayStart + h * HOUR_MS;
      const ah = award.hours[h];
      lmp.push(ah.lmp_per_mwh);
      const aw = awardsAtPrice(resources, h, ah.lmp_per_mwh, fixed(h), ah.import_w);
      // The DGO's screen of the ISO's awards (exact power flow); without a network model nothing is screened.
      const active = resources.filter((r) => Math.abs(aw.get(r.id) ?? 0) > 1e-6);
      const screen =
        m.network && active.length ? screenAwards(m.network, active, aw, loadAt(h), period) : null;
      prices.push({
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
      const traded = new Map<string, number>();
      const withdrawn = new Map<string, number>();
      for (const [id, w] of aw) {
        if (Math.abs(w) <= 1e-6) continue;
        const r = m.resources.get(id)!;
        const acct = account.get(id) ?? r.aggregator ?? r.owner;
        const screened = screen?.awardsW.get(id) ?? w;
        const cut = w - screened;
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
          pricePerMWh: ah.lmp_per_mwh,
        });
        const status = !screen
          ? 'unscreened'
          : Math.abs(cut) <= 1e-6
            ? 'feasible'
            : Math.abs(cut) >= SCREENED_OUT * Math.abs(w)
              ? 'screened-out'
              : 'curtailed';
        screening.push({
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
        ledger.energy(period, acct, w, ah.lmp_per_mwh, 'da_energy', id); // 1 h: W = Wh
        traded.set(acct, (traded.get(acct) ?? 0) + Math.abs(w));
        withdrawn.set(acct, (withdrawn.get(acct) ?? 0) + Math.max(0, -w));
      }
      if (fixed(h)) ledger.energy(period, dgo, -fixed(h), ah.lmp_per_mwh, 'da_energy', 'load');
      ledger.energy(period, m.config.roles.ISO, ah.import_w, ah.lmp_per_mwh, 'da_energy', 'interface');
      chargeFeesAll(
        ledger,
        period,
        participants,
        traded,
        withdrawn,
        m.deps.settings.fees,
        m.config.roles.DMO,
        dgo,
        h === 0,
      );
      ledger.closePeriod(period, dgo);
    }
    const books = checkBooks(ledger);
    const cut = screening.filter((s) => s.status === 'curtailed' || s.status === 'screened-out');
    const summary = {
      marketForm: 'wholesale',
      lmp,
      importW: award.hours.map((x) => x.import_w),
      loadW: q.loadForecastW ?? {},
      bids: bids.length,
      resources: new Set(awards.map((a) => a.resource)).size,
      curtailed: cut.filter((s) => s.status === 'curtailed').length,
      screenedOut: cut.filter((s) => s.status === 'screened-out').length,
      balanced: books.every((b) => b.balanced),
      surplusCents: books.reduce((s, b) => s + b.surplusCents, 0),
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
    await m.forms.saveScreening(screening);
    await m.audit(c, 'market.clear.da', runId, {
      as: by,
      marketForm: 'wholesale',
      dayStart: q.dayStart,
      lmp,
      awards: awards.length,
      balanced: summary.balanced,
    });
    await m.audit(c, 'market.dgo.screen', runId, {
      dgo,
      curtailed: cut.map((s) => ({
        resource: s.resource,
        participant: s.participant,
        intervalStart: s.intervalStart,
        awardW: s.awardW,
        screenedW: s.screenedW,
        status: s.status,
        reason: s.reason,
      })),
    });
    return { runId, ...summary, awards: awards.length };
  });
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
export async function runCentralizedRealTime(m: MarketService, c: MarketCaller, q: RealTimeQuery) {
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
      const screenedDa = await m.forms.screening({ from: hourStart, to: hourStart + 1 });
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
      if (q.dispatch !== false && m.deps.send) {
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
          maxTtlSeconds: m.deps.maxTtlSeconds ?? 86_400,
          send: m.deps.send,
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
      ledger.closePeriod(start, dgo);
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
