import type { Highs } from 'highs';
import * as highsModule from 'highs';
import {
  type AncillaryProductName,
  type BidPriceLimits,
  type TdAward,
  type TdBid,
  TdBidSchema,
} from '../../protocols/market/td-interface.ts';
import type { WholesaleGateway } from '../../protocols/market/wholesale.ts';

/**
 * A simulated ISO: a single-zone wholesale market with its own supply stack, its own system load and
 * ancillary requirements, that treats a DSO as one participant at the T-D interface. Day-ahead it
 * co-optimizes energy and ancillary services hour by hour (LP); the LMP is the dual of the energy
 * balance. Real-time prices come from re-clearing with a perturbed load and the DSO as price taker.
 */

type Loader = () => Promise<Highs>;
const mod = highsModule as unknown as { default: Loader | { default: Loader } };
const loadHighs: Loader = typeof mod.default === 'function' ? mod.default : mod.default.default;
let highsP: Promise<Highs> | undefined;

export interface SupplyUnit {
  readonly id: string;
  readonly capacityW: number;
  readonly costPerMWh: number;
  /** Offer prices for capacity held back for ancillary services, $/MW per hour. */
  readonly regPrice: number;
  readonly reservePrice: number;
}

export interface IsoOptions {
  /** System peak load (W) excluding the DSO. */
  readonly peakLoadW?: number;
  readonly seed?: number;
  readonly units?: readonly SupplyUnit[];
  /** Ancillary requirements as fractions of system load. */
  readonly regFraction?: number;
  readonly reserveFraction?: number;
  /**
   * Bid price floor and cap it publishes, $/MWh (default CAISO's: -150 / 1,000). Declared, not yet
   * enforced: the centralized models forward aggregator curves with end points at -1,000 / 10,000.
   */
  readonly bidPriceLimits?: BidPriceLimits;
}

export const DEFAULT_BID_PRICE_LIMITS: BidPriceLimits = { floorPerMWh: -150, capPerMWh: 1000 };

export const DEFAULT_STACK: readonly SupplyUnit[] = [
  { id: 'nuclear', capacityW: 300e6, costPerMWh: 8, regPrice: 50, reservePrice: 40 },
  { id: 'wind', capacityW: 150e6, costPerMWh: 0, regPrice: 60, reservePrice: 50 },
  { id: 'coal-1', capacityW: 200e6, costPerMWh: 28, regPrice: 12, reservePrice: 6 },
  { id: 'ccgt-1', capacityW: 200e6, costPerMWh: 42, regPrice: 8, reservePrice: 4 },
  { id: 'ccgt-2', capacityW: 150e6, costPerMWh: 51, regPrice: 9, reservePrice: 4 },
  { id: 'peaker-1', capacityW: 100e6, costPerMWh: 95, regPrice: 15, reservePrice: 3 },
  { id: 'peaker-2', capacityW: 80e6, costPerMWh: 160, regPrice: 20, reservePrice: 3 },
];

/** Shape of the system load through the day (fraction of peak, hour 0..23 UTC). */
const SHAPE = [
  0.62, 0.58, 0.56, 0.55, 0.56, 0.6, 0.68, 0.78, 0.85, 0.88, 0.9, 0.92, 0.93, 0.92, 0.91, 0.92, 0.95, 1.0,
  0.99, 0.95, 0.88, 0.8, 0.72, 0.66,
];

export class WholesaleMarket implements WholesaleGateway {
  readonly units: readonly SupplyUnit[];
  readonly peakLoadW: number;
  readonly bidPriceLimits: BidPriceLimits;
  readonly #seed: number;
  readonly #reg: number;
  readonly #res: number;
  readonly daLmp = new Map<number, number>();

  constructor(opts: IsoOptions = {}) {
    this.units = opts.units ?? DEFAULT_STACK;
    this.peakLoadW = opts.peakLoadW ?? 900e6;
    this.#seed = opts.seed ?? 1;
    this.#reg = opts.regFraction ?? 0.01;
    this.#res = opts.reserveFraction ?? 0.03;
    this.bidPriceLimits = opts.bidPriceLimits ?? DEFAULT_BID_PRICE_LIMITS;
  }

  /** The ISO's own (non-DSO) load in an hour, deterministic per seed. */
  systemLoadW(intervalStart: number): number {
    const h = new Date(intervalStart).getUTCHours();
    const day = Math.floor(intervalStart / 86_400_000);
    const noise = 1 + 0.04 * (hash(this.#seed, day * 24 + h) - 0.5);
    return this.peakLoadW * SHAPE[h] * noise;
  }

  /** Forecast of the interface LMP the DSO uses before the ISO clears (merit order without the DSO). */
  forecastLmp(intervalStart: number): number {
    return this.#marginalCost(this.systemLoadW(intervalStart));
  }

  /** Steps 4-5 of Total DSO: clears the day with the DSO's curve and returns awards and LMPs. */
  async clearDayAhead(input: TdBid): Promise<TdAward> {
    const bid = TdBidSchema.parse(input);
    highsP ??= loadHighs();
    const highs = await highsP;
    const hours = bid.hours.map((h) => {
      const load = this.systemLoadW(h.interval_start);
      const pts = h.points;
      const qMin = pts[pts.length - 1].import_w;
      const steps = pts
        .slice(0, -1)
        .map((p, k) => ({ q: p.import_w - pts[k + 1].import_w, price: p.price_per_mwh }));
      const req = { reg_up: load * this.#reg, reg_down: load * this.#reg, reserve: load * this.#res };
      const lines: string[] = [];
      const obj: string[] = [];
      const bounds: string[] = [];
      const balance: string[] = [];
      const anc: Record<AncillaryProductName, string[]> = { reg_up: [], reg_down: [], reserve: [] };
      const heads: string[] = [];
      this.units.forEach((u, i) => {
        const cap = u.capacityW / 1e6;
        obj.push(
          `${fmt(u.costPerMWh)} g${i}`,
          `${fmt(u.regPrice)} ru${i}`,
          `${fmt(u.regPrice)} rd${i}`,
          `${fmt(u.reservePrice)} rs${i}`,
        );
        bounds.push(
          `0 <= g${i} <= ${fmt(cap)}`,
          `0 <= ru${i} <= ${fmt(cap * 0.1)}`,
          `0 <= rd${i} <= ${fmt(cap * 0.1)}`,
          `0 <= rs${i} <= ${fmt(cap * 0.2)}`,
        );
        balance.push(`+ g${i}`);
        anc.reg_up.push(`+ ru${i}`);
        anc.reg_down.push(`+ rd${i}`);
        anc.reserve.push(`+ rs${i}`);
        heads.push(`hu${i}: g${i} + ru${i} + rs${i} <= ${fmt(cap)}`, `hd${i}: g${i} - rd${i} >= 0`);
      });
      steps.forEach((s, k) => {
        if (s.q <= 0) return;
        obj.push(`${fmt(-s.price)} d${k}`);
        bounds.push(`0 <= d${k} <= ${fmt(s.q / 1e6)}`);
        balance.push(`- d${k}`);
      });
      const dsoAnc: { product: AncillaryProductName; k: number }[] = [];
      h.ancillary.forEach((a, j) => {
        a.steps.forEach((s, k) => {
          const name = `a${j}_${k}`;
          obj.push(`${fmt(s.price_per_mwh)} ${name}`);
          bounds.push(`0 <= ${name} <= ${fmt(s.quantity_w / 1e6)}`);
          anc[a.product].push(`+ ${name}`);
          dsoAnc.push({ product: a.product, k });
        });
      });
      for (const p of ['reg_up', 'reg_down', 'reserve'] as const) {
        obj.push(`1000 short_${p}`);
        anc[p].push(`+ short_${p}`);
      }
      obj.push('10000 shed');
      balance.push('+ shed');
      lines.push('Minimize', ` obj: ${obj.join(' + ').replaceAll('+ -', '- ')}`, 'Subject To');
      lines.push(` balance: ${balance.join(' ')} = ${fmt((load + qMin) / 1e6)}`);
      for (const p of ['reg_up', 'reg_down', 'reserve'] as const)
        lines.push(` req_${p}: ${anc[p].join(' ')} >= ${fmt(req[p] / 1e6)}`);
      for (const hd of heads) lines.push(` ${hd}`);
      lines.push('Bounds', ...bounds.map((b) => ` ${b}`), 'End');
      const sol = highs.solve(lines.join('\n'), { output_flag: false });
      if (sol.Status !== 'Optimal')
        throw new Error(`ISO clearing failed for hour ${h.interval_start}: ${sol.Status}`);
      const cols = sol.Columns as Record<string, { Primal: number }>;
      const rows = sol.Rows as { Name: string; Dual: number }[];
      const dual = (name: string) => rows.find((r) => r.Name === name)!.Dual;
      let imp = qMin;
      steps.forEach((s, k) => {
        if (s.q > 0) imp += (cols[`d${k}`]?.Primal ?? 0) * 1e6;
      });
      const lmp = dual('balance');
      this.daLmp.set(h.interval_start, lmp);
      const ancillary: TdAward['hours'][number]['ancillary'] = {};
      h.ancillary.forEach((a, j) => {
        const award = a.steps.reduce((s, _, k) => s + (cols[`a${j}_${k}`]?.Primal ?? 0) * 1e6, 0);
        const prev = ancillary[a.product]?.award_w ?? 0;
        ancillary[a.product] = { award_w: round3(prev + award), price_per_mwh: dual(`req_${a.product}`) };
      });
      return { interval_start: h.interval_start, import_w: round3(imp), lmp_per_mwh: lmp, ancillary };
    });
    return { dso: bid.dso, interface_id: bid.interface_id, hours };
  }

  /**
   * Real-time LMP of a 5-minute interval: the system load deviates from its day-ahead value by a
   * seeded random walk, and the merit order sets the price with the DSO's actual import added.
   */
  realTimeLmp(intervalStart: number, dsoImportW: number): number {
    const hourStart = Math.floor(intervalStart / 3_600_000) * 3_600_000;
    const k = Math.floor(intervalStart / 300_000);
    const dev =
      0.06 * (hash(this.#seed + 7, k) - 0.5) + 0.03 * (hash(this.#seed + 11, Math.floor(k / 6)) - 0.5);
    return this.#marginalCost(this.systemLoadW(hourStart) * (1 + dev) + dsoImportW);
  }

  #marginalCost(loadW: number): number {
    let left = loadW;
    const sorted = [...this.units].sort((a, b) => a.costPerMWh - b.costPerMWh);
    for (const u of sorted) {
      left -= u.capacityW;
      if (left <= 0) return u.costPerMWh;
    }
    return 1000; // scarcity
  }
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(12);
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
/** Deterministic hash in [0, 1). */
function hash(seed: number, n: number): number {
  let h = (seed * 0x9e3779b1) ^ (n * 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
