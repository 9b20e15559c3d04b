import { DomainError } from '../errors.ts';
import { type MarketService, meteredEnergy, sumCents } from '../market/index.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TariffStore } from '../storage/registry/tariffs.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { type Bill, computeBill, METER_INTERVAL_MS, type MeterInterval } from './bill.ts';
import { dayTotals, siteDay } from './retailer.ts';
import type { VoltageLevel } from './schema.ts';

/**
 * Bills from the stores: the site's tariff assignment, the tariff's versions and CPP events, the
 * site meter's energy per 5-minute interval from stored telemetry (the `meter` devices at the PCC,
 * lifetime counters when reported, else integrated power: market metering's meteredEnergy), and the
 * site's DLMP (RT price of its bus — the registry site's `node` — for the interval, else the DA price
 * of the hour) when a tariff passes it through.
 */

export interface TariffDeps {
  readonly registry: Registry;
  readonly tariffs: TariffStore;
  readonly store: TimeSeriesStore;
  readonly market?: Pick<MarketService, 'store'>;
}

/** Bills are computed for at most this long at once (a year of 5-minute intervals). */
export const MAX_BILL_MS = 366 * 24 * 3_600_000;

export async function siteMeterIntervals(d: TariffDeps, site: string, from: number, to: number) {
  const meters = (await d.registry.listDevices(site)).filter((x) => x.kind === 'meter').map((x) => x.id);
  if (!meters.length) throw new DomainError('unprocessable', `site ${site} has no meter device to bill from`);
  const iv = await meteredEnergy(d.store, site, meters, from, to, METER_INTERVAL_MS);
  return iv.map((e): MeterInterval => ({ start: e.start, wh: e.wh, measured: e.method !== 'none' }));
}

export async function dlmpOf(d: TariffDeps, site: string, from: number, to: number) {
  const bus = (await d.registry.getSite(site))?.node ?? undefined;
  if (!d.market || !bus) return () => undefined;
  const rt = new Map<number, number>();
  const da = new Map<number, number>();
  for (const p of await d.market.store.prices({ market: 'RT', from, to, bus }))
    rt.set(p.intervalStart, p.dlmp);
  for (const p of await d.market.store.prices({ market: 'DA', from: from - 3_600_000, to, bus }))
    da.set(p.intervalStart, p.dlmp);
  return (t: number) => rt.get(t) ?? da.get(Math.floor(t / 3_600_000) * 3_600_000);
}

function checkPeriod(from: number, to: number) {
  if (!(to > from)) throw new DomainError('invalid', 'to must be after from');
  if (to - from > MAX_BILL_MS) throw new DomainError('invalid', 'a bill covers at most 366 days');
  if (from % METER_INTERVAL_MS || to % METER_INTERVAL_MS)
    throw new DomainError('invalid', 'from and to must be on 5-minute boundaries');
}

export async function billFor(
  d: TariffDeps,
  q: { site: string; from: number; to: number; tariff?: string; voltageLevel?: VoltageLevel },
  intervals?: MeterInterval[],
): Promise<Bill> {
  checkPeriod(q.from, q.to);
  const a = await d.tariffs.assignment(q.site);
  const tariff = q.tariff ?? a?.tariff;
  if (!tariff) throw new DomainError('not_found', `site ${q.site} has no tariff assigned`);
  const versions = await d.tariffs.versions(tariff);
  if (!versions.length) throw new DomainError('not_found', `unknown tariff ${tariff}`);
  return computeBill({
    site: q.site,
    from: q.from,
    to: q.to,
    versions,
    intervals: intervals ?? (await siteMeterIntervals(d, q.site, q.from, q.to)),
    voltageLevel: q.voltageLevel ?? a?.voltageLevel ?? undefined,
    cppEvents: await d.tariffs.cppEvents(tariff, q.from, q.to),
    dlmpAt: await dlmpOf(d, q.site, q.from, q.to),
  });
}

/** One site, one period, several tariffs side by side (the meter is read once). */
export async function compareBills(
  d: TariffDeps,
  q: { site: string; from: number; to: number; tariffs: string[]; voltageLevel?: VoltageLevel },
) {
  checkPeriod(q.from, q.to);
  const intervals = await siteMeterIntervals(d, q.site, q.from, q.to);
  const bills: Bill[] = [];
  for (const tariff of q.tariffs) bills.push(await billFor(d, { ...q, tariff }, intervals));
  const base = bills[0]?.totalCents ?? 0;
  return {
    site: q.site,
    from: q.from,
    to: q.to,
    rows: bills.map((b) => ({
      tariff: b.tariff,
      totalCents: b.totalCents,
      /** Against the first tariff named (the reference, e.g. the site's current tariff). */
      deltaCents: b.totalCents - base,
      byKind: byKind(b),
    })),
    bills,
  };
}

function byKind(b: Bill): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of b.lines) out[l.kind] = sumCents([out[l.kind] ?? 0, l.amountCents]);
  return out;
}

const DAY_MS = 86_400_000;

/**
 * The retailer's daily settlement over the UTC days of [from, to): every site on a tariff whose
 * latest version names `retailer`, its bill per day against its energy at the DLMP.
 */
export async function retailerSettlement(d: TariffDeps, q: { retailer: string; from: number; to: number }) {
  if (q.from % DAY_MS || q.to % DAY_MS) throw new DomainError('invalid', 'from and to must be UTC midnights');
  checkPeriod(q.from, q.to);
  const mine = (await d.tariffs.list()).filter((t) => t.latest.retailer === q.retailer).map((t) => t.tariff);
  const sites = await d.tariffs.sitesOn(mine);
  const perDay = new Map<number, ReturnType<typeof siteDay>[]>();
  for (const a of sites) {
    const intervals = await siteMeterIntervals(d, a.site, q.from, q.to);
    const dlmp = await dlmpOf(d, a.site, q.from, q.to);
    for (let day = q.from; day < q.to; day += DAY_MS) {
      const ivs = intervals.filter((iv) => iv.start >= day && iv.start < day + DAY_MS);
      const bill = await billFor(d, { site: a.site, from: day, to: day + DAY_MS }, ivs);
      const list = perDay.get(day) ?? [];
      list.push(siteDay(bill, ivs, dlmp));
      perDay.set(day, list);
    }
  }
  const days = [];
  for (let day = q.from; day < q.to; day += DAY_MS) days.push(dayTotals(day, perDay.get(day) ?? []));
  return { retailer: q.retailer, tariffs: mine, from: q.from, to: q.to, days };
}
