import { DomainError } from '../errors.ts';
import { type Cents, roundCents, sumCents } from '../market/index.ts';
import { inWindow, type LocalParts, localDay, localMonth, localParts, monthKey } from './calendar.ts';
import type { CppEvent, TariffVersion, VoltageLevel } from './schema.ts';

/**
 * A site's bill from its metered intervals under one tariff (all of its versions). Pure: the caller
 * reads the meter (tariffs/metered.ts) and the DLMPs.
 *
 * - Each 5-minute interval's net meter energy (+ = export) splits into import (−wh when negative)
 *   and export (wh when positive): interval net metering.
 * - The bill period is cut where a version ends; each part is billed with its own version, and the
 *   lines name the version.
 * - Lines (each rounded to the cent once): energy per TOU period (or the DLMP pass-through), CPP
 *   adder on imports during notified events, demand per billing month (the highest demand interval's
 *   mean import kW, prorated by the share of the local month the part covers), fixed per local day or
 *   month (prorated the same way), export credit (negative), network-use by voltage level.
 */

export interface MeterInterval {
  readonly start: number;
  /** Net energy exported in the interval (Wh, + export, − import). */
  readonly wh: number;
  /** False when the meter had no reading for it (billed as 0 and counted in `unmeasuredIntervals`). */
  readonly measured: boolean;
}

export const METER_INTERVAL_MS = 5 * 60_000;

export type LineKind = 'energy' | 'cpp' | 'demand' | 'fixed' | 'export' | 'network';

export interface BillLine {
  readonly kind: LineKind;
  readonly version: number;
  /** The period, charge or event id the line is for. */
  readonly id: string;
  readonly description: string;
  readonly from: number;
  readonly to: number;
  readonly quantity: number;
  readonly unit: 'kWh' | 'kW' | 'day' | 'month';
  /** $ per unit as the tariff states it (DLMP energy: the quantity-weighted mean). */
  readonly rate: number;
  /** Share of the billing month (demand) the line covers; 1 otherwise. */
  readonly fraction: number;
  readonly amountCents: Cents;
}

export interface Bill {
  readonly site: string;
  readonly tariff: string;
  readonly from: number;
  readonly to: number;
  readonly versions: number[];
  readonly importKwh: number;
  readonly exportKwh: number;
  readonly unmeasuredIntervals: number;
  readonly lines: BillLine[];
  readonly totalCents: Cents;
  readonly notes: string[];
}

export interface BillInput {
  readonly site: string;
  readonly from: number;
  readonly to: number;
  /** The tariff's versions (any order); together they must cover [from, to). */
  readonly versions: readonly TariffVersion[];
  /** 5-minute intervals covering [from, to). */
  readonly intervals: readonly MeterInterval[];
  readonly voltageLevel?: VoltageLevel;
  readonly cppEvents?: readonly CppEvent[];
  /** The site's DLMP ($/MWh) for the interval starting at t. */
  readonly dlmpAt?: (t: number) => number | undefined;
}

const kwh = (wh: number) => wh / 1000;

export function computeBill(inp: BillInput): Bill {
  const { from, to } = inp;
  if (!(to > from)) throw new DomainError('invalid', 'a bill needs to > from');
  if (from % METER_INTERVAL_MS || to % METER_INTERVAL_MS)
    throw new DomainError('invalid', 'a bill period starts and ends on 5-minute boundaries');
  if (!inp.versions.length) throw new DomainError('invalid', 'the tariff has no versions');
  const tariff = inp.versions[0].tariff;
  const segments = cutByVersion(inp.versions, from, to);
  const byStart = new Map(inp.intervals.map((iv) => [iv.start, iv]));
  const lines: BillLine[] = [];
  const notes: string[] = [];
  let importWh = 0;
  let exportWh = 0;
  let unmeasured = 0;
  for (const seg of segments) {
    const v = seg.version;
    const ivs: (MeterInterval & { local: LocalParts })[] = [];
    for (let t = seg.from; t < seg.to; t += METER_INTERVAL_MS) {
      const iv = byStart.get(t) ?? { start: t, wh: 0, measured: false };
      if (!iv.measured) unmeasured++;
      ivs.push({ ...iv, local: localParts(t, v.timezone) });
    }
    for (const iv of ivs) {
      importWh += Math.max(0, -iv.wh);
      exportWh += Math.max(0, iv.wh);
    }
    const ctx: SegCtx = { v, from: seg.from, to: seg.to, ivs, lines, notes, inp };
    energyLines(ctx);
    cppLines(ctx);
    demandLines(ctx);
    fixedLines(ctx);
    exportLines(ctx);
    networkLines(ctx);
  }
  if (unmeasured)
    notes.push(
      `${unmeasured} of ${(to - from) / METER_INTERVAL_MS} intervals had no meter reading (billed as 0)`,
    );
  return {
    site: inp.site,
    tariff,
    from,
    to,
    versions: segments.map((s) => s.version.version),
    importKwh: kwh(importWh),
    exportKwh: kwh(exportWh),
    unmeasuredIntervals: unmeasured,
    lines,
    totalCents: sumCents(lines.map((l) => l.amountCents)),
    notes,
  };
}

interface SegCtx {
  v: TariffVersion;
  from: number;
  to: number;
  ivs: (MeterInterval & { local: LocalParts })[];
  lines: BillLine[];
  notes: string[];
  inp: BillInput;
}

/** [from, to) cut where versions change; a gap no version covers is refused. */
export function cutByVersion(versions: readonly TariffVersion[], from: number, to: number) {
  const sorted = [...versions].sort((a, b) => a.validFrom - b.validFrom);
  const out: { version: TariffVersion; from: number; to: number }[] = [];
  let t = from;
  for (const v of sorted) {
    const end = Math.min(to, v.validTo ?? Number.POSITIVE_INFINITY);
    if (v.validFrom > t) break;
    if (end > t) {
      out.push({ version: v, from: t, to: end });
      t = end;
    }
    if (t >= to) break;
  }
  if (t < to)
    throw new DomainError(
      'unprocessable',
      `no version of tariff ${sorted[0]?.tariff} is valid at ${new Date(t).toISOString()}`,
    );
  return out;
}

/** The TOU period of an interval: the first period with a matching window, else the default. */
function periodOf(v: TariffVersion, p: LocalParts) {
  if (v.energy.kind !== 'tou') throw new Error('periodOf needs TOU energy');
  const e = v.energy;
  return (
    e.periods.find((x) => x.windows.some((w) => inWindow(p, w))) ??
    e.periods.find((x) => x.id === e.defaultPeriod)!
  );
}

/** $/kWh of the DLMP pass-through at the interval, or undefined without a price. */
function dlmpRate(ctx: SegCtx, t: number): number | undefined {
  const e = ctx.v.energy;
  if (e.kind !== 'dlmp') return undefined;
  const p = ctx.inp.dlmpAt?.(t);
  if (p === undefined) return undefined;
  let r = (p / 1000) * e.multiplier + e.adderPerKwh;
  if (e.floorPerKwh !== undefined) r = Math.max(r, e.floorPerKwh);
  if (e.capPerKwh !== undefined) r = Math.min(r, e.capPerKwh);
  return r;
}

function requirePrices(ctx: SegCtx) {
  const missing = ctx.ivs.filter((iv) => ctx.inp.dlmpAt?.(iv.start) === undefined);
  if (missing.length)
    throw new DomainError(
      'unprocessable',
      `tariff ${ctx.v.tariff} v${ctx.v.version} passes the DLMP through, but ${missing.length} interval(s) have no DLMP (first ${new Date(missing[0].start).toISOString()})`,
    );
}

function push(
  ctx: SegCtx,
  l: Omit<BillLine, 'version' | 'from' | 'to' | 'fraction'> & { fraction?: number },
) {
  ctx.lines.push({ version: ctx.v.version, from: ctx.from, to: ctx.to, fraction: 1, ...l });
}

function energyLines(ctx: SegCtx) {
  const e = ctx.v.energy;
  if (e.kind === 'tou') {
    const byPeriod = new Map<string, number>();
    for (const iv of ctx.ivs) {
      const id = periodOf(ctx.v, iv.local).id;
      byPeriod.set(id, (byPeriod.get(id) ?? 0) + Math.max(0, -iv.wh));
    }
    for (const p of e.periods) {
      const wh = byPeriod.get(p.id);
      if (wh === undefined) continue;
      push(ctx, {
        kind: 'energy',
        id: p.id,
        description: `energy, ${p.id}`,
        quantity: kwh(wh),
        unit: 'kWh',
        rate: p.ratePerKwh,
        amountCents: roundCents(kwh(wh) * p.ratePerKwh * 100),
      });
    }
    return;
  }
  requirePrices(ctx);
  let wh = 0;
  let dollars = 0;
  for (const iv of ctx.ivs) {
    const imp = Math.max(0, -iv.wh);
    wh += imp;
    dollars += kwh(imp) * dlmpRate(ctx, iv.start)!;
  }
  push(ctx, {
    kind: 'energy',
    id: 'dlmp',
    description: 'energy at the DLMP (pass-through with floor/cap)',
    quantity: kwh(wh),
    unit: 'kWh',
    rate: wh ? dollars / kwh(wh) : 0,
    amountCents: roundCents(dollars * 100),
  });
}

function cppLines(ctx: SegCtx) {
  const cpp = ctx.v.cpp;
  const events = ctx.inp.cppEvents ?? [];
  if (!cpp || !events.length) return;
  for (const ev of events) {
    if (ev.end <= ctx.from || ev.start >= ctx.to) continue;
    const label = `CPP event ${new Date(ev.start).toISOString()}–${new Date(ev.end).toISOString()}`;
    const noticeMin = (ev.start - ev.notifiedAt) / 60_000;
    if (noticeMin < cpp.minNoticeMinutes) {
      ctx.notes.push(
        `${label} not billed: notified ${noticeMin} min before it began, the tariff needs ${cpp.minNoticeMinutes}`,
      );
      continue;
    }
    let wh = 0;
    for (const iv of ctx.ivs) if (iv.start >= ev.start && iv.start < ev.end) wh += Math.max(0, -iv.wh);
    push(ctx, {
      kind: 'cpp',
      id: ev.id ?? String(ev.start),
      description: label,
      quantity: kwh(wh),
      unit: 'kWh',
      rate: cpp.adderPerKwh,
      amountCents: roundCents(kwh(wh) * cpp.adderPerKwh * 100),
    });
  }
}

function demandLines(ctx: SegCtx) {
  const { v } = ctx;
  if (!v.demand.length) return;
  const len = v.demandIntervalMinutes * 60_000;
  // Billing months the part touches, and the demand intervals in each.
  const months = new Map<
    string,
    { range: [number, number]; blocks: Map<number, { wh: number; local: LocalParts }> }
  >();
  for (const iv of ctx.ivs) {
    const key = monthKey(iv.local);
    let m = months.get(key);
    if (!m) {
      m = { range: localMonth(iv.start, v.timezone), blocks: new Map() };
      months.set(key, m);
    }
    const b0 = Math.floor(iv.start / len) * len;
    const b = m.blocks.get(b0);
    if (b) b.wh += iv.wh;
    else m.blocks.set(b0, { wh: iv.wh, local: localParts(b0, v.timezone) });
  }
  for (const [key, m] of months) {
    const covered = Math.min(ctx.to, m.range[1]) - Math.max(ctx.from, m.range[0]);
    const fraction = covered / (m.range[1] - m.range[0]);
    for (const d of v.demand) {
      let peakW = 0;
      let at: number | undefined;
      for (const [t, b] of m.blocks) {
        if (d.windows && !d.windows.some((w) => inWindow(b.local, w))) continue;
        const w = (Math.max(0, -b.wh) * 3_600_000) / len;
        if (at === undefined || w > peakW) [peakW, at] = [w, t];
      }
      const peakKw = peakW / 1000;
      push(ctx, {
        kind: 'demand',
        id: d.id,
        description: `demand ${d.id}, ${key}: peak ${peakKw} kW${at !== undefined && peakW > 0 ? ` at ${new Date(at).toISOString()}` : ''}`,
        quantity: peakKw,
        unit: 'kW',
        rate: d.ratePerKw,
        fraction,
        amountCents: roundCents(peakKw * d.ratePerKw * fraction * 100),
      });
    }
  }
}

/** Sum over the local days (or months) the part touches of the share of each it covers. */
function calendarUnits(ctx: SegCtx, per: 'day' | 'month'): number {
  const unit = per === 'day' ? localDay : localMonth;
  let n = 0;
  let t = ctx.from;
  while (t < ctx.to) {
    const [a, b] = unit(t, ctx.v.timezone);
    const end = Math.min(b, ctx.to);
    n += (end - t) / (b - a);
    t = end;
  }
  return n;
}

function fixedLines(ctx: SegCtx) {
  for (const f of ctx.v.fixed) {
    const q = calendarUnits(ctx, f.per);
    push(ctx, {
      kind: 'fixed',
      id: f.id,
      description: `fixed ${f.id} per ${f.per}`,
      quantity: q,
      unit: f.per,
      rate: f.amount,
      amountCents: roundCents(q * f.amount * 100),
    });
  }
}

function exportLines(ctx: SegCtx) {
  const x = ctx.v.export;
  if (x.kind === 'none') return;
  const exp = (iv: MeterInterval) => Math.max(0, iv.wh);
  if (x.kind === 'flat') {
    const wh = ctx.ivs.reduce((s, iv) => s + exp(iv), 0);
    if (!wh) return;
    push(ctx, {
      kind: 'export',
      id: 'flat',
      description: 'export credit (net billing)',
      quantity: kwh(wh),
      unit: 'kWh',
      rate: -x.creditPerKwh,
      amountCents: roundCents(-kwh(wh) * x.creditPerKwh * 100),
    });
    return;
  }
  if (x.kind === 'retail') {
    const byPeriod = new Map<string, { wh: number; rate: number }>();
    for (const iv of ctx.ivs) {
      if (!exp(iv)) continue;
      const p = periodOf(ctx.v, iv.local);
      const e = byPeriod.get(p.id) ?? { wh: 0, rate: p.ratePerKwh };
      e.wh += exp(iv);
      byPeriod.set(p.id, e);
    }
    for (const [id, e] of byPeriod)
      push(ctx, {
        kind: 'export',
        id,
        description: `export credit at the ${id} import rate (net metering)`,
        quantity: kwh(e.wh),
        unit: 'kWh',
        rate: -e.rate,
        amountCents: roundCents(-kwh(e.wh) * e.rate * 100),
      });
    return;
  }
  // DLMP export credit: the interval's DLMP ($/MWh → $/kWh), floored at 0 unless allowed negative.
  let wh = 0;
  let dollars = 0;
  for (const iv of ctx.ivs) {
    if (!exp(iv)) continue;
    const p = ctx.inp.dlmpAt?.(iv.start);
    if (p === undefined)
      throw new DomainError(
        'unprocessable',
        `tariff ${ctx.v.tariff} v${ctx.v.version} credits exports at the DLMP, but ${new Date(iv.start).toISOString()} has no DLMP`,
      );
    const r = x.allowNegative ? p / 1000 : Math.max(0, p / 1000);
    wh += exp(iv);
    dollars += kwh(exp(iv)) * r;
  }
  if (!wh) return;
  push(ctx, {
    kind: 'export',
    id: 'dlmp',
    description: 'export credit at the DLMP',
    quantity: kwh(wh),
    unit: 'kWh',
    rate: -dollars / kwh(wh),
    amountCents: roundCents(-dollars * 100),
  });
}

function networkLines(ctx: SegCtx) {
  const n = ctx.v.network;
  if (!n) return;
  const level = ctx.inp.voltageLevel;
  const rate = level ? n.perKwh[level] : undefined;
  if (!level || rate === undefined)
    throw new DomainError(
      'unprocessable',
      `tariff ${ctx.v.tariff} v${ctx.v.version} has network charges for ${Object.keys(n.perKwh).join(', ') || 'no level'}; the site's voltage level is ${level ?? 'not set'}`,
    );
  const wh = ctx.ivs.reduce((s, iv) => s + Math.max(0, -iv.wh), 0);
  push(ctx, {
    kind: 'network',
    id: level,
    description: `network use at ${level}`,
    quantity: kwh(wh),
    unit: 'kWh',
    rate,
    amountCents: roundCents(kwh(wh) * rate * 100),
  });
}
