import { MarketServiceError } from '../model/errors.ts';
import { roundCents } from '../model/money.ts';
import type { AwardRecord, RunRecord } from '../model/records.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import type { P2pStatementLine } from '../settlement/metered-p2p.ts';
import type { MarketCaller, MarketContext } from './context.ts';

/**
 * "No worse off" (the layered Total-DSO design's promise): per participant and UTC day, what the
 * distribution market paid it (its net ledger position over the day: energy, imbalance, grid
 * services, fees) against what the same energy would have earned or cost traded at the ISO price
 * directly (no distribution market, no fees).
 *
 * The energy is each of its resources' delivered energy per settlement interval, as settled:
 * - P2P: the metered energy of the interval's metered run (settlement/metered-p2p.ts), else what
 *   the close assumed (traded + PoLR imbalance); ISO price: the LMP the close used.
 * - Nodal and centralized: the metered run of the hour (device/PCC energy; demand response against
 *   its baseline) per 5-minute period, else the latest schedule (RT award, else DA award); ISO
 *   price: the RT interval's interface price, else the day-ahead LMP of the hour.
 * `source` counts which of these each figure came from.
 */

interface Interval {
  readonly start: number;
  readonly resource: string;
  readonly account: string;
  readonly wh: number;
  readonly isoPrice: number;
  readonly source: 'metered' | 'assumed' | 'scheduled';
}

export interface NoWorseOffRow {
  readonly participant: string;
  readonly day: string;
  /** Net cents the market moved to the participant over the day (+ = received). */
  readonly marketCents: number;
  /** The same delivered energy at the ISO price (cents, + = received), rounded once for the day. */
  readonly isoCents: number;
  /** marketCents - isoCents: >= 0 means no worse off. */
  readonly differenceCents: number;
  readonly noWorseOff: boolean;
  /** Delivered energy over the day (Wh, + = into the grid). */
  readonly deliveredWh: number;
  readonly intervals: number;
  readonly sources: Record<string, number>;
}

export async function noWorseOffReport(
  m: MarketContext,
  c: MarketCaller,
  q: { day: number; participant?: string },
): Promise<NoWorseOffRow[]> {
  const dayStart = Math.floor(q.day / DAY_MS) * DAY_MS;
  if (dayStart !== q.day)
    throw new MarketServiceError('BAD_DAY', 'the report is per UTC day: give its midnight');
  const mine = m.actorsOf(c.userId);
  const dmo = mine.includes(m.config.roles.DMO);
  if (!dmo && !mine.length)
    throw new MarketServiceError('NO_MARKET_ACTOR', `user "${c.userId}" acts for no market organization`);
  if (q.participant !== undefined && !dmo && !mine.includes(q.participant))
    throw new MarketServiceError('NOT_YOURS', `user "${c.userId}" does not act for "${q.participant}"`);
  const dayEnd = dayStart + DAY_MS;
  const intervals =
    m.config.marketForm === 'p2p'
      ? await p2pIntervals(m, dayStart, dayEnd)
      : await nodalIntervals(m, dayStart, dayEnd);
  const ledger = await m.store.ledger({ from: dayStart, to: dayEnd });
  const participants = new Set(intervals.map((i) => i.account));
  const wanted = (p: string) =>
    (q.participant === undefined || p === q.participant) && (dmo || mine.includes(p));
  const rows: NoWorseOffRow[] = [];
  const dayName = new Date(dayStart).toISOString().slice(0, 10);
  for (const p of [...participants].sort()) {
    if (!wanted(p)) continue;
    let marketCents = 0;
    for (const e of ledger) {
      if (e.to === p) marketCents += e.cents;
      if (e.from === p) marketCents -= e.cents;
    }
    const own = intervals.filter((i) => i.account === p);
    // One ISO settlement of the day's energy, rounded once (Wh × $/MWh summed, then to the cent).
    const isoCents = roundCents(own.reduce((s, i) => s + (i.wh / 1e6) * i.isoPrice * 100, 0));
    const sources: Record<string, number> = {};
    for (const i of own) sources[i.source] = (sources[i.source] ?? 0) + 1;
    rows.push({
      participant: p,
      day: dayName,
      marketCents,
      isoCents,
      differenceCents: marketCents - isoCents,
      noWorseOff: marketCents >= isoCents,
      deliveredWh: own.reduce((s, i) => s + i.wh, 0),
      intervals: own.length,
      sources,
    });
  }
  return rows;
}

async function p2pIntervals(m: MarketContext, from: number, to: number): Promise<Interval[]> {
  const closes = latestPerInterval(await m.store.runs({ market: 'P2P', from, to }));
  const metered = new Map(
    (await m.store.runs({ market: 'MT', from, to }))
      .filter((r) => r.summary.marketForm === 'p2p')
      .map((r) => [r.intervalStart, r.summary.statement as P2pStatementLine[]]),
  );
  const awards = await m.store.awards({ market: 'P2P', from, to });
  const out: Interval[] = [];
  for (const close of closes) {
    const lmp = Number(close.summary.lmp);
    const statement = metered.get(close.intervalStart);
    if (statement) {
      for (const l of statement)
        out.push({
          start: close.intervalStart,
          resource: l.resource,
          account: l.participant,
          wh: l.meteredWh ?? l.assumedWh,
          isoPrice: lmp,
          source: l.meteredWh === null ? 'assumed' : 'metered',
        });
      continue;
    }
    const perH = (close.intervalEnd - close.intervalStart) / HOUR_MS;
    const wh = new Map<string, { account: string; wh: number }>();
    for (const a of awards.filter((x) => x.runId === close.id))
      wh.set(a.resource, { account: a.participant, wh: a.awardW * perH });
    for (const p of (close.summary.polr ?? []) as {
      resource: string;
      participant: string;
      imbalanceWh: number;
    }[]) {
      const e = wh.get(p.resource) ?? { account: p.participant, wh: 0 };
      wh.set(p.resource, { ...e, wh: e.wh + p.imbalanceWh });
    }
    for (const [resource, e] of wh)
      out.push({ start: close.intervalStart, resource, ...e, isoPrice: lmp, source: 'assumed' });
  }
  return out;
}

interface MeterReportLite {
  resource: string;
  meteredAt: string;
  intervals: { start: number; wh: number; method: string }[];
  dr?: { baselineW: number[] };
}

async function nodalIntervals(m: MarketContext, from: number, to: number): Promise<Interval[]> {
  const da = (await m.store.runs({ market: 'DA', from, to })).at(-1);
  const lmp = (da?.summary.lmp as number[] | undefined) ?? [];
  const iface = new Map(
    (await m.store.runs({ market: 'RT', from, to })).map((r) => [
      r.intervalStart,
      Number(r.summary.interfacePrice),
    ]),
  );
  const daAwards = (await m.store.awards({ market: 'DA', from, to })).filter((a) => a.product === 'energy');
  const rtAwards = (await m.store.awards({ market: 'RT', from, to })).filter((a) => a.product === 'energy');
  const mt = latestPerInterval(
    (await m.store.runs({ market: 'MT', from, to })).filter((r) => r.summary.marketForm !== 'p2p'),
  );
  const meteredAt = new Map<string, number>(); // resource|period -> delivered Wh
  for (const r of mt)
    for (const rep of (r.summary.meters ?? []) as MeterReportLite[]) {
      if (rep.meteredAt === 'unmetered') continue;
      const baselineWh =
        rep.meteredAt === 'pcc-baseline'
          ? ((rep.dr?.baselineW[0] ?? Number.NaN) * RT_INTERVAL_MS) / HOUR_MS
          : 0;
      for (const iv of rep.intervals)
        if (iv.method !== 'none' && Number.isFinite(baselineWh))
          meteredAt.set(`${rep.resource}|${iv.start}`, iv.wh + baselineWh);
    }
  const rt = new Map(rtAwards.map((a) => [`${a.resource}|${a.intervalStart}`, a]));
  const resources = new Map<string, string>(); // resource -> account
  for (const a of [...daAwards, ...rtAwards] as AwardRecord[]) resources.set(a.resource, a.participant);
  const out: Interval[] = [];
  for (const [resource, account] of resources)
    for (let t = from; t < to; t += RT_INTERVAL_MS) {
      const h = Math.floor((t - from) / HOUR_MS);
      const daA = daAwards.find((a) => a.resource === resource && a.intervalStart === from + h * HOUR_MS);
      const rtA = rt.get(`${resource}|${t}`);
      const metered = meteredAt.get(`${resource}|${t}`);
      const scheduleW = rtA?.awardW ?? daA?.awardW;
      // Nothing measured and nothing (or zero) scheduled: no energy to compare.
      if (metered === undefined && !scheduleW) continue;
      const isoPrice = iface.get(t) ?? Number(lmp[h] ?? 0);
      out.push({
        start: t,
        resource,
        account,
        wh: metered ?? ((scheduleW ?? 0) * RT_INTERVAL_MS) / HOUR_MS,
        isoPrice,
        source: metered !== undefined ? 'metered' : 'scheduled',
      });
    }
  return out;
}

/** The latest run of each interval (a re-run replaces the earlier one). */
function latestPerInterval(runs: readonly RunRecord[]): RunRecord[] {
  const by = new Map<number, RunRecord>();
  for (const r of runs) {
    const prev = by.get(r.intervalStart);
    if (!prev || r.runAt >= prev.runAt) by.set(r.intervalStart, r);
  }
  return [...by.values()].sort((a, b) => a.intervalStart - b.intervalStart);
}
