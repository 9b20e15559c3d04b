import { roundCents, sumCents } from '../market/index.ts';
import type { Bill, MeterInterval } from './bill.ts';

/**
 * The retailer's (LSE's) settlement with the DMO, per day: what its customers pay it on their
 * tariffs (their bills for the day) against what it pays the DMO for the same metered energy at the
 * DLMP of each site's bus and interval (net imports cost, net exports earn; a DLMP in $/MWh). The
 * difference is the retailer's margin before its other costs. The wholesale cost of a site-day is
 * rounded to the cent once.
 */

export interface SiteDay {
  readonly site: string;
  readonly tariff: string;
  readonly revenueCents: number;
  readonly costCents: number;
  readonly marginCents: number;
  readonly importKwh: number;
  readonly exportKwh: number;
  /** Intervals with metered energy but no DLMP: priced at 0 and counted here. */
  readonly unpricedIntervals: number;
}

export function wholesaleCost(
  intervals: readonly MeterInterval[],
  dlmpAt: (t: number) => number | undefined,
) {
  let dollars = 0;
  let unpriced = 0;
  for (const iv of intervals) {
    if (!iv.wh) continue;
    const p = dlmpAt(iv.start);
    if (p === undefined) {
      unpriced++;
      continue;
    }
    dollars += (-iv.wh / 1e6) * p; // Wh → MWh; an import (wh < 0) is a cost
  }
  return { cents: roundCents(dollars * 100), unpriced };
}

export function siteDay(
  bill: Bill,
  intervals: readonly MeterInterval[],
  dlmpAt: (t: number) => number | undefined,
): SiteDay {
  const c = wholesaleCost(intervals, dlmpAt);
  return {
    site: bill.site,
    tariff: bill.tariff,
    revenueCents: bill.totalCents,
    costCents: c.cents,
    marginCents: bill.totalCents - c.cents,
    importKwh: bill.importKwh,
    exportKwh: bill.exportKwh,
    unpricedIntervals: c.unpriced,
  };
}

export function dayTotals(day: number, sites: readonly SiteDay[]) {
  const revenueCents = sumCents(sites.map((s) => s.revenueCents));
  const costCents = sumCents(sites.map((s) => s.costCents));
  return { day, revenueCents, costCents, marginCents: revenueCents - costCents, sites };
}
