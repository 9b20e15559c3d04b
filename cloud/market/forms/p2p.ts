import { type CompiledFeeder, LP_BASE_VA, linDistFlow } from '../clearing/feeder.ts';

/**
 * Peer-to-peer market (models 5 and 6): a continuous double auction per market territory and
 * delivery interval. Orders match on arrival against the best opposite price, then the earliest
 * (price-time priority); a trade executes at the resting order's price. Every match is screened by
 * the DGO before it stands: a trade that would break a thermal or voltage limit is curtailed to
 * what the network can carry, or rejected. The DGO can later issue emergency dispatch that
 * overrides trades.
 */

export interface P2pOrder {
  readonly id: string;
  readonly participant: string;
  readonly resource: string;
  readonly bus: string;
  readonly side: 'buy' | 'sell';
  readonly intervalStart: number;
  readonly quantityWh: number;
  readonly limitPrice: number;
}

export interface Trade {
  readonly id: string;
  readonly intervalStart: number;
  readonly buyOrder: string;
  readonly sellOrder: string;
  readonly buyer: string;
  readonly seller: string;
  readonly buyerResource: string;
  readonly sellerResource: string;
  readonly buyerBus: string;
  readonly sellerBus: string;
  readonly price: number;
  /** Energy that stands after DGO screening and overrides. */
  quantityWh: number;
  /** Energy matched before DGO screening/override cuts. */
  readonly matchedWh: number;
  status: 'accepted' | 'curtailed' | 'rejected';
  reason?: string;
}

/** The DGO's network check: how much of a proposed trade (Wh) the network can carry now. */
export interface TradeScreen {
  allow(trade: { sellerBus: string; buyerBus: string; intervalStart: number; quantityWh: number }): {
    allowedWh: number;
    reason?: string;
  };
  commit(trade: { sellerBus: string; buyerBus: string; intervalStart: number; quantityWh: number }): void;
}

interface Resting extends P2pOrder {
  remainingWh: number;
  seq: number;
}

export class ContinuousDoubleAuction {
  readonly territory: string;
  readonly trades: Trade[] = [];
  readonly #bids = new Map<number, Resting[]>();
  readonly #asks = new Map<number, Resting[]>();
  readonly #screen: TradeScreen | undefined;
  readonly #tradeId: (() => string) | undefined;
  #seq = 0;

  /** `tradeId`: id generator for trades (a service needs ids unique across restarts). */
  constructor(territory: string, screen?: TradeScreen, tradeId?: () => string) {
    this.territory = territory;
    this.#screen = screen;
    this.#tradeId = tradeId;
  }

  /** Puts a resting order back into the book without matching (restore after a restart). */
  restore(order: P2pOrder, remainingWh: number, seq: number): void {
    const own = this.#side(order.side, order.intervalStart);
    own.push({ ...order, remainingWh, seq });
    this.#seq = Math.max(this.#seq, seq + 1);
    this.#sort(own, order.side);
  }

  /** Removes a resting order; returns what was left of it, or null if it is not in the book. */
  cancel(id: string): { remainingWh: number } | null {
    for (const m of [this.#bids, this.#asks])
      for (const l of m.values()) {
        const i = l.findIndex((o) => o.id === id);
        if (i >= 0) return { remainingWh: l.splice(i, 1)[0].remainingWh };
      }
    return null;
  }

  /** Remaining energy of a resting order (0 when it is filled or not in the book). */
  remaining(id: string): number {
    for (const m of [this.#bids, this.#asks])
      for (const l of m.values()) {
        const o = l.find((x) => x.id === id);
        if (o) return o.remainingWh;
      }
    return 0;
  }

  /** Sequence number the next order gets (time priority). */
  get nextSeq(): number {
    return this.#seq;
  }

  /** Matches the order against the book; any remainder rests. Returns the trades it made. */
  submit(order: P2pOrder): Trade[] {
    if (!(order.quantityWh > 0) || !Number.isFinite(order.limitPrice)) {
      throw new RangeError(`order ${order.id}: quantity must be > 0 and the limit price finite`);
    }
    const incoming: Resting = { ...order, remainingWh: order.quantityWh, seq: this.#seq++ };
    const opposite = this.#side(order.side === 'buy' ? 'sell' : 'buy', order.intervalStart);
    const made: Trade[] = [];
    for (const rest of [...opposite]) {
      if (incoming.remainingWh <= 0) break;
      const crosses =
        order.side === 'buy' ? rest.limitPrice <= order.limitPrice : rest.limitPrice >= order.limitPrice;
      if (!crosses) break;
      if (rest.participant === order.participant) continue; // no self-trades
      const seller = order.side === 'sell' ? incoming : rest;
      const buyer = order.side === 'buy' ? incoming : rest;
      const want = Math.min(incoming.remainingWh, rest.remainingWh);
      const check = this.#screen?.allow({
        sellerBus: seller.bus,
        buyerBus: buyer.bus,
        intervalStart: order.intervalStart,
        quantityWh: want,
      }) ?? { allowedWh: want };
      const q = Math.max(0, Math.min(want, check.allowedWh));
      const trade: Trade = {
        id: this.#tradeId?.() ?? `${this.territory}-t${this.trades.length + 1}`,
        intervalStart: order.intervalStart,
        buyOrder: buyer.id,
        sellOrder: seller.id,
        buyer: buyer.participant,
        seller: seller.participant,
        buyerResource: buyer.resource,
        sellerResource: seller.resource,
        buyerBus: buyer.bus,
        sellerBus: seller.bus,
        price: rest.limitPrice,
        quantityWh: q,
        matchedWh: want,
        status: q <= 1e-9 ? 'rejected' : q < want - 1e-9 ? 'curtailed' : 'accepted',
        ...(q < want - 1e-9 ? { reason: check.reason ?? 'network limit' } : {}),
      };
      this.trades.push(trade);
      made.push(trade);
      if (q <= 1e-9) continue; // this pair cannot trade over the network; try the next order
      this.#screen?.commit({
        sellerBus: seller.bus,
        buyerBus: buyer.bus,
        intervalStart: order.intervalStart,
        quantityWh: q,
      });
      incoming.remainingWh -= q;
      rest.remainingWh -= q;
      if (rest.remainingWh <= 1e-9) opposite.splice(opposite.indexOf(rest), 1);
    }
    if (incoming.remainingWh > 1e-9) {
      const own = this.#side(order.side, order.intervalStart);
      own.push(incoming);
      this.#sort(own, order.side);
    }
    return made;
  }

  /** Best bid/ask and depth of an interval's book. */
  book(intervalStart: number): {
    bids: { id: string; price: number; wh: number }[];
    asks: { id: string; price: number; wh: number }[];
  } {
    const view = (l: Resting[]) => l.map((o) => ({ id: o.id, price: o.limitPrice, wh: o.remainingWh }));
    return { bids: view(this.#side('buy', intervalStart)), asks: view(this.#side('sell', intervalStart)) };
  }

  /**
   * DGO emergency dispatch: the resource must hold `setpointW` (net injection) in the interval.
   * Its trades that the setpoint no longer covers are curtailed, latest first. Returns the cuts.
   */
  emergencyOverride(resource: string, intervalStart: number, setpointW: number, durationH: number): Trade[] {
    const cut: Trade[] = [];
    const mine = this.trades.filter((t) => t.intervalStart === intervalStart && t.quantityWh > 0);
    const sold = mine.filter((t) => t.sellerResource === resource).reverse();
    const bought = mine.filter((t) => t.buyerResource === resource).reverse();
    let net = (sum(sold) - sum(bought)) / durationH; // W
    const reduce = (list: Trade[], direction: 1 | -1) => {
      for (const t of list) {
        const excessW = direction * (net - setpointW);
        if (excessW <= 1e-9) break;
        const dWh = Math.min(t.quantityWh, excessW * durationH);
        t.quantityWh -= dWh;
        t.status = t.quantityWh <= 1e-9 ? 'rejected' : 'curtailed';
        t.reason = `DGO emergency dispatch of ${resource} to ${setpointW} W`;
        net -= (direction * dWh) / durationH;
        cut.push(t);
      }
    };
    if (net > setpointW) reduce(sold, 1);
    if (net < setpointW) reduce(bought, -1);
    return cut;
  }

  #sort(l: Resting[], side: 'buy' | 'sell'): void {
    l.sort(
      side === 'buy'
        ? (a, b) => b.limitPrice - a.limitPrice || a.seq - b.seq
        : (a, b) => a.limitPrice - b.limitPrice || a.seq - b.seq,
    );
  }

  #side(side: 'buy' | 'sell', intervalStart: number): Resting[] {
    const m = side === 'buy' ? this.#bids : this.#asks;
    let l = m.get(intervalStart);
    if (!l) {
      l = [];
      m.set(intervalStart, l);
    }
    return l;
  }
}

function sum(ts: Trade[]): number {
  return ts.reduce((s, t) => s + t.quantityWh, 0);
}

/**
 * Linear (LinDistFlow) network screen over a compiled feeder: keeps the forecast base injections
 * plus every accepted trade per interval, and allows a new trade up to the tightest remaining
 * thermal or voltage margin along its path.
 */
export class LinearNetworkScreen implements TradeScreen {
  readonly #f: CompiledFeeder;
  readonly #durH: number;
  readonly #base: (intervalStart: number) => Float64Array;
  readonly #extra = new Map<number, Float64Array>();

  /** `baseInjW(t)`: net injection per compiled bus index in the interval without trades (W). */
  constructor(feeder: CompiledFeeder, durationH: number, baseInjW: (intervalStart: number) => Float64Array) {
    this.#f = feeder;
    this.#durH = durationH;
    this.#base = baseInjW;
  }

  allow(tr: { sellerBus: string; buyerBus: string; intervalStart: number; quantityWh: number }) {
    const f = this.#f;
    const n = f.buses.length;
    const s = f.index.get(tr.sellerBus);
    const b = f.index.get(tr.buyerBus);
    if (s === undefined || b === undefined) return { allowedWh: 0, reason: 'unknown bus' };
    const inj = this.#injections(tr.intervalStart);
    const q = new Float64Array(n).map((_, i) => Math.max(0, -inj[i]) * 0.33);
    const now = linDistFlow(f, inj, q);
    const unit = Float64Array.from(inj);
    unit[s] += LP_BASE_VA;
    unit[b] -= LP_BASE_VA;
    const moved = linDistFlow(f, unit, q);
    let maxW = tr.quantityWh / this.#durH;
    let reason: string | undefined;
    for (let i = 1; i < n; i++) {
      const sens = (moved.flowW[i] - now.flowW[i]) / LP_BASE_VA;
      const r = f.ratingMva[i] * LP_BASE_VA;
      if (Math.abs(sens) < 1e-12 || !Number.isFinite(r)) continue;
      const room = sens > 0 ? (r - now.flowW[i]) / sens : (-r - now.flowW[i]) / sens;
      if (room < maxW) {
        maxW = Math.max(0, room);
        reason = `thermal limit of branch ${f.network.branches[f.branchOf[i]].id}`;
      }
    }
    for (let i = 1; i < n; i++) {
      const v = now.vPu[i] ** 2;
      const sens = (moved.vPu[i] ** 2 - v) / LP_BASE_VA;
      if (Math.abs(sens) < 1e-15) continue;
      const room = sens > 0 ? (f.vmaxSq[i] - v) / sens : (f.vminSq[i] - v) / sens;
      if (room < maxW) {
        maxW = Math.max(0, room);
        reason = `voltage limit at bus ${f.buses[i]}`;
      }
    }
    return { allowedWh: maxW * this.#durH, ...(reason ? { reason } : {}) };
  }

  commit(tr: { sellerBus: string; buyerBus: string; intervalStart: number; quantityWh: number }): void {
    const e = this.#extraFor(tr.intervalStart);
    const w = tr.quantityWh / this.#durH;
    e[this.#f.index.get(tr.sellerBus)!] += w;
    e[this.#f.index.get(tr.buyerBus)!] -= w;
  }

  #extraFor(t: number): Float64Array {
    let e = this.#extra.get(t);
    if (!e) {
      e = new Float64Array(this.#f.buses.length);
      this.#extra.set(t, e);
    }
    return e;
  }

  #injections(t: number): Float64Array {
    const base = this.#base(t);
    const e = this.#extraFor(t);
    return base.map((x, i) => x + e[i]);
  }
}
