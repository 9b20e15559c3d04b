import { type Bid, GRID_SERVICES, type Step } from '../model/bids.ts';
import { CLEARING, energyCents, roundCents } from '../model/money.ts';
import type { AwardRecord, Books } from '../model/records.ts';
import type { ResourceRegistry } from '../model/resources.ts';
import { type AreaModel, clearArea } from './clearing.ts';
import { linearizeLosses, lossSurplusPerH } from './losses.ts';
import type { LoadedModel } from './total-dso.ts';
import type { BranchLossLinearization, ClearingInput, ClearingResource, ClearingResult } from './types.ts';

/**
 * DSO grid services (congestion relief, voltage support) procured in the day-ahead market, and the
 * network refinement of the Total-DSO clearing (marginal losses, losses.ts).
 *
 * When a thermal (or interface) limit binds in the provisional clearing, the congestion component
 * of the DLMPs is non-zero; a binding voltage band shows in the voltage component. The component at
 * bus b is sum_c mu_c * dg_c/dinj_b: shadow price times the network sensitivity of each binding
 * constraint to an injection at b. A `sell` service offer at b (inject more / consume less) relieves
 * where its product's component is positive, a `buy` offer (inject less / consume more) where it is
 * negative. Those offers, in the periods where their constraint binds, enter the final clearing as
 * DSO-only resources priced at (energy + loss price at the bus) +/- the offer price, so the LP calls
 * them exactly when the relief is worth more than the offer, and only as far as the constraint
 * still binds: they cannot win on energy alone.
 *
 * Payment: uniform at the shadow price. The delivered energy settles like any energy at the bus's
 * energy + loss price (DMO clearing account); on top the DGO pays the bus's congestion + voltage
 * component (>= the offer price for a cleared offer, = it for the marginal one) from its own
 * account, which the period's congestion surplus (swept to the DGO) funds. The books balance by
 * construction; the service cost is visible as `grid_service` lines and in the run summary.
 */

export type GridServiceProduct = 'congestion_relief' | 'voltage_support';

export interface GridServiceOffer {
  readonly bidId: string;
  readonly participant: string;
  readonly resource: string;
  readonly bus: string;
  readonly product: GridServiceProduct;
  readonly side: 'sell' | 'buy';
  readonly period: number;
  readonly steps: readonly Step[];
}

export interface GridServiceAward {
  readonly bidId: string;
  readonly participant: string;
  readonly resource: string;
  readonly bus: string;
  readonly product: GridServiceProduct;
  readonly period: number;
  /** Net injection called (W, + = into the grid: sell side; - for buy side). */
  readonly netW: number;
  /** Service price paid per MWh called: the bus's congestion + voltage component (sign-adjusted). */
  readonly pricePerMWh: number;
  /** Energy + loss price at the bus at which the delivered energy settles. */
  readonly energyPricePerMWh: number;
}

const EPS = 1e-3; // $/MWh: below this a component is solver noise, not a binding constraint
const SYNTH = 'gs:';

/** Grid-service offers of accepted bids, per period of the run. */
export function gridServiceOffers(
  bids: readonly Bid[],
  registry: ResourceRegistry,
  periods: number,
  periodOf: (intervalStart: number) => number,
): GridServiceOffer[] {
  const out: GridServiceOffer[] = [];
  for (const b of bids) {
    if (!GRID_SERVICES.includes(b.product)) continue;
    const t = periodOf(b.interval_start);
    const r = registry.get(b.resource);
    if (!r || t < 0 || t >= periods) continue;
    out.push({
      bidId: b.id,
      participant: b.participant,
      resource: r.id,
      bus: r.bus,
      product: b.product as GridServiceProduct,
      side: b.side,
      period: t,
      steps: b.steps,
    });
  }
  return out;
}

/** Offers whose constraint binds in the (provisional) clearing, on the side that relieves it. */
export function eligibleOffers(
  offers: readonly GridServiceOffer[],
  provisional: ClearingResult,
): GridServiceOffer[] {
  return offers.filter((o) => {
    const p = provisional.prices[o.period]?.get(o.bus);
    if (!p) return false;
    const c = o.product === 'congestion_relief' ? p.congestion : p.voltage;
    return o.side === 'sell' ? c > EPS : c < -EPS;
  });
}

/** Energy + loss price per bus and period implied by the interface price and loss factors. */
function energyLossPrice(inp: ClearingInput, losses: BranchLossLinearization | undefined) {
  const f = inp.feeder;
  return (bus: string, t: number): number => {
    const lam = inp.interfacePrice[t];
    if (!f || !losses) return lam;
    let g = 1;
    for (let i = f.index.get(bus) ?? 0; i > 0; i = f.parent[i]) g *= 1 + losses.factor[t][i];
    return lam * g;
  };
}

/** The eligible offers as DSO-only clearing resources (id `gs:<bid id>`). */
export function serviceResources(
  offers: readonly GridServiceOffer[],
  inp: ClearingInput,
): ClearingResource[] {
  const el = energyLossPrice(inp, inp.losses);
  return offers.map((o) => {
    const e = el(o.bus, o.period);
    const curve = Array.from({ length: inp.periods }, (_, t) =>
      t === o.period
        ? o.steps.map((s) => ({
            quantity_w: s.quantity_w,
            price_per_mwh: o.side === 'sell' ? e + s.price_per_mwh : e - s.price_per_mwh,
          }))
        : [],
    );
    const none = curve.map(() => []);
    return {
      id: SYNTH + o.bidId,
      bus: o.bus,
      // The call is the offering resource's power: it shares that resource's SoC and capability rows.
      serviceOf: o.resource,
      sell: o.side === 'sell' ? curve : none,
      buy: o.side === 'buy' ? curve : none,
    };
  });
}

export interface NetworkRefinerOptions {
  /** Loss re-linearizations (AC power flow + re-clear); 0 = lossless market. */
  readonly lossIterations: number;
  readonly offers: readonly GridServiceOffer[];
}

/**
 * Plugs losses and grid services into the Total-DSO day-ahead (total-dso.ts `refine`): the
 * provisional clearing gets losses linearized around a lossless pre-solve; the final clearing adds
 * the grid-service offers whose constraints bound provisionally and re-linearizes the losses.
 * Keeps what settlement needs (awards, final input, loss figures).
 */
export class NetworkRefiner {
  awards: GridServiceAward[] = [];
  /** Offers that were eligible (their constraint bound in the provisional clearing). */
  eligible: GridServiceOffer[] = [];
  lossW: number[] | null = null;
  finalInput: ClearingInput | null = null;
  result: ClearingResult | null = null;
  /** Full final result including the `gs:` service resources. */
  #raw: ClearingResult | null = null;

  constructor(readonly opts: NetworkRefinerOptions) {}

  /** With `area` (inp loaded), the lossless pre-solve and the lossy provisional share one model. */
  async provisional(inp: ClearingInput, area?: AreaModel): Promise<ClearingInput> {
    if (!inp.feeder || this.opts.lossIterations <= 0) return inp;
    const lossless = area ? area.solve(inp.interfacePrice, 'LDA lossless pre-solve') : await clearArea(inp);
    const out = { ...inp, losses: linearizeLosses(inp, lossless).linearization };
    area?.setLosses(out.losses);
    return out;
  }

  /**
   * With `reuse` and no eligible service offers (the LP keeps its columns), every loss iteration
   * re-solves the loaded provisional model warm: from where the curve left it, then from the
   * previous iteration's basis.
   */
  async final(inp: ClearingInput, provisional: ClearingResult, reuse?: LoadedModel): Promise<ClearingResult> {
    this.eligible = eligibleOffers(this.opts.offers, provisional);
    const withServices = (x: ClearingInput): ClearingInput => ({
      ...x,
      resources: [...x.resources, ...serviceResources(this.eligible, x)],
    });
    const loaded = this.eligible.length === 0 && inp.feeder ? reuse : undefined;
    const clear = (x: ClearingInput): Promise<ClearingResult> => {
      if (!loaded) return clearArea(x);
      loaded.setLosses(x.losses);
      return loaded.solve(x.interfacePrice, 'LDA final clearing');
    };
    let cur = withServices(inp);
    let raw = await clear(cur);
    const iterations = inp.feeder ? Math.max(0, this.opts.lossIterations - 1) : 0;
    for (let k = 0; k < iterations; k++) {
      cur = withServices({ ...inp, losses: linearizeLosses(cur, raw).linearization });
      raw = await clear(cur);
    }
    if (inp.feeder && this.opts.lossIterations > 0) this.lossW = linearizeLosses(cur, raw).lossW;
    this.finalInput = cur;
    this.#raw = raw;
    this.awards = this.#awards(raw);
    const schedules = new Map([...raw.schedules].filter(([id]) => !id.startsWith(SYNTH)));
    this.result = { ...raw, schedules };
    return this.result;
  }

  #awards(raw: ClearingResult): GridServiceAward[] {
    const out: GridServiceAward[] = [];
    for (const o of this.eligible) {
      const w = raw.schedules.get(SYNTH + o.bidId)?.netW[o.period] ?? 0;
      if (Math.abs(w) < 1e-3) continue;
      const p = raw.prices[o.period].get(o.bus)!;
      const network = p.congestion + p.voltage;
      out.push({
        bidId: o.bidId,
        participant: o.participant,
        resource: o.resource,
        bus: o.bus,
        product: o.product,
        period: o.period,
        netW: w,
        pricePerMWh: o.side === 'sell' ? network : -network,
        energyPricePerMWh: p.energy + p.loss,
      });
    }
    return out;
  }

  /** Loss surplus of period t ($/h) of the final clearing, 0 when lossless. */
  lossSurplusPerH(t: number): number {
    if (!this.finalInput || !this.#raw || !this.finalInput.losses) return 0;
    return lossSurplusPerH(this.finalInput, this.#raw, t);
  }

  /**
   * Books period t of a run whose periods last `durationH`: service energy at the energy + loss
   * price (clearing account), the service payment from the DGO, and the loss surplus from the
   * clearing account to the DGO (before `closePeriod` sweeps the congestion surplus). Returns the
   * award records to store.
   */
  settle(
    ledger: Books,
    q: { t: number; period: number; durationH: number; runId: string; dgo: string; market: 'DA' | 'RT' },
  ): AwardRecord[] {
    const out: AwardRecord[] = [];
    for (const a of this.awards) {
      if (a.period !== q.t) continue;
      const wh = a.netW * q.durationH;
      const ref = `${a.resource}:${a.product}`;
      ledger.energy(q.period, a.participant, wh, a.energyPricePerMWh, 'da_energy', ref);
      ledger.transfer(
        q.period,
        q.dgo,
        a.participant,
        energyCents(Math.abs(wh), a.pricePerMWh),
        'grid_service',
        ref,
      );
      out.push({
        runId: q.runId,
        market: q.market,
        resource: a.resource,
        participant: a.participant,
        bus: a.bus,
        intervalStart: q.period,
        product: a.product,
        awardW: a.netW,
        deviationW: null,
        pricePerMWh: a.pricePerMWh,
      });
    }
    const surplus = this.lossSurplusPerH(q.t) * q.durationH;
    ledger.transfer(q.period, CLEARING, q.dgo, roundCents(surplus * 100), 'loss_surplus');
    return out;
  }

  summary() {
    const costPerH = this.awards.reduce((s, a) => s + (Math.abs(a.netW) / 1e6) * a.pricePerMWh, 0);
    return {
      gridServices: {
        eligibleOffers: this.eligible.length,
        awards: this.awards.length,
        costDollars: Math.round(costPerH * 100) / 100,
      },
      ...(this.lossW ? { lossesW: this.lossW.map((w) => Math.round(w)) } : {}),
    };
  }
}
