import { newId } from '../../auth/secrets.ts';
import { compileFeeder } from '../clearing/feeder.ts';
import { ContinuousDoubleAuction, LinearNetworkScreen, type Trade } from '../forms/p2p.ts';
import { gateClosure } from '../model/bids.ts';
import { MarketServiceError } from '../model/errors.ts';
import type { AwardRecord } from '../model/records.ts';
import { capabilityOf, checkMayBid, MarketRefusal, refuse, separationRefusal } from '../model/rules.ts';
import { HOUR_MS } from '../model/time.ts';
import { chargeFeesAll, checkBooks, Ledger } from '../settlement/ledger.ts';
import { NO_SURPLUS } from '../settlement/surplus.ts';
import type { MarketCaller, MarketContext } from './context.ts';
import { dispatchToField, type SendCommand } from './dispatch.ts';
import type { StoredOrder, StoredTrade } from './store-forms.ts';

/**
 * The service side of the peer-to-peer models (5, 6): one continuous double auction per market
 * territory (settings market.p2p.territories; default one territory `lda`), orders per delivery
 * interval (market.p2p.intervalMs) until the interval's gate closes. Every match is screened by the
 * DGO (LinearNetworkScreen over the network model with its base loads): a trade that would break a
 * thermal or voltage limit is curtailed or rejected with the reason. There is no DERM: when the DMO
 * closes an interval, each resource self-dispatches on its net traded position (commands issued as
 * `market:self:<participant>` through the command pipeline), trades settle at their prices, and the
 * utility as provider of last resort (PoLR) serves unmatched demand and absorbs metered imbalances
 * at the LMP plus/minus its configurable fee. DGO emergency dispatch overrides trades.
 */

export interface OrderInput {
  readonly id?: string;
  readonly participant?: string;
  readonly resource: string;
  readonly side: 'buy' | 'sell';
  readonly intervalStart: number;
  readonly quantityWh: number;
  readonly limitPrice: number;
}

const EPS = 1e-9;

export class P2pMarket {
  readonly #m: MarketContext;
  readonly #auctions = new Map<string, ContinuousDoubleAuction>();
  readonly #screens = new Map<string, LinearNetworkScreen>();
  /** Orders by id (all states), so fills and cancels can be persisted. */
  readonly #orders = new Map<string, StoredOrder>();

  constructor(m: MarketContext) {
    this.#m = m;
  }

  get settings() {
    return this.#m.settings.p2p;
  }

  get intervalMs(): number {
    return this.settings.intervalMs;
  }

  territories(): string[] {
    return this.settings.territories.length ? this.settings.territories.map((t) => t.id) : ['lda'];
  }

  territoryOf(bus: string): string | null {
    const ts = this.settings.territories;
    if (!ts.length) return 'lda';
    return ts.find((t) => t.buses.includes(bus))?.id ?? null;
  }

  #auction(territory: string): ContinuousDoubleAuction {
    let a = this.#auctions.get(territory);
    if (!a) {
      const net = this.#m.network;
      let screen: LinearNetworkScreen | undefined;
      if (net) {
        // The DGO's base case: the network model's loads (W) as negative injections.
        const feeder = compileFeeder(net);
        const base = new Float64Array(feeder.buses.length);
        for (const l of net.loads) base[feeder.index.get(l.bus)!] -= l.p_w;
        screen = new LinearNetworkScreen(feeder, this.intervalMs / HOUR_MS, () => base);
        this.#screens.set(territory, screen);
      }
      a = new ContinuousDoubleAuction(territory, screen, () => `trade_${newId(10)}`);
      this.#auctions.set(territory, a);
    }
    return a;
  }

  /** Rebuilds the books and the DGO screen's committed flows from the store after a restart. */
  async restore(): Promise<void> {
    const trades = await this.#m.forms.trades();
    for (const t of trades) {
      const a = this.#auction(t.territory);
      a.trades.push({ ...t });
    }
    for (const o of await this.#m.forms.orders()) {
      this.#orders.set(o.id, o);
      if (o.status === 'live') this.#auction(o.territory).restore(o, o.remainingWh, o.seq);
    }
    // Committed flows: every standing trade loads the DGO screen again.
    for (const t of trades) if (t.quantityWh > EPS) this.#screens.get(t.territory)?.commit(t);
  }

  #check(territory: string, q: OrderInput, participant: string) {
    const m = this.#m;
    const rule = checkMayBid(m.config, m.resources, participant, q.resource);
    if (rule) throw new MarketRefusal(rule);
    if (q.intervalStart % this.intervalMs !== 0)
      throw new MarketRefusal(
        refuse('BAD_INTERVAL', `P2P delivery intervals start on multiples of ${this.intervalMs / 60000} min`),
      );
    const closes = gateClosure('RT', q.intervalStart, m.gates);
    if (m.now() >= closes)
      throw new MarketRefusal(
        refuse(
          'GATE_CLOSED',
          `trading for ${new Date(q.intervalStart).toISOString()} closed at ${new Date(closes).toISOString()}`,
        ),
      );
    const r = m.resources.get(q.resource)!;
    // Capability: live orders plus standing trades of the resource on this side, plus this order.
    const capWh = (capabilityOf(r, q.side) * this.intervalMs) / HOUR_MS;
    let used = q.quantityWh;
    for (const o of this.#orders.values())
      if (
        o.status === 'live' &&
        o.resource === r.id &&
        o.side === q.side &&
        o.intervalStart === q.intervalStart
      )
        used += this.#auction(o.territory).remaining(o.id);
    for (const t of this.#auction(territory).trades)
      if (
        t.intervalStart === q.intervalStart &&
        (q.side === 'sell' ? t.sellerResource : t.buyerResource) === r.id
      )
        used += t.quantityWh;
    if (used > capWh + 1e-6)
      throw new MarketRefusal(
        refuse(
          'BEYOND_CAPABILITY',
          `resource "${r.id}" can ${q.side === 'sell' ? 'deliver' : 'take'} at most ${capWh} Wh in the interval; orders and trades would reach ${used} Wh`,
        ),
      );
  }

  async submitOrder(c: MarketCaller, q: OrderInput) {
    const m = this.#m;
    return m.guard(c, 'market.p2p.order.submit', q.id ?? null, { order: q }, async () => {
      const participant = m.participant(c.userId, q.participant);
      const r = m.resources.get(q.resource);
      if (!r)
        throw new MarketRefusal(
          refuse('UNKNOWN_RESOURCE', `resource "${q.resource}" is not in the DER registry`),
        );
      const territory = this.territoryOf(r.bus);
      if (!territory)
        throw new MarketServiceError('NO_TERRITORY', `bus "${r.bus}" belongs to no P2P market territory`);
      const id = q.id ?? `ord_${newId(8)}`;
      if (this.#orders.has(id)) throw new MarketServiceError('DUPLICATE_ORDER', `order "${id}" exists`);
      this.#check(territory, q, participant);
      const a = this.#auction(territory);
      const order = {
        id,
        participant,
        resource: r.id,
        bus: r.bus,
        side: q.side,
        intervalStart: q.intervalStart,
        quantityWh: q.quantityWh,
        limitPrice: q.limitPrice,
      };
      const seq = a.nextSeq;
      const made = a.submit(order);
      const remainingWh = a.remaining(id);
      const stored: StoredOrder = {
        ...order,
        territory,
        remainingWh,
        seq,
        status: remainingWh > EPS ? 'live' : 'filled',
      };
      this.#orders.set(id, stored);
      await m.forms.saveOrder(stored, m.now());
      await this.#persist(territory, made);
      await m.audit(c, 'market.p2p.order.submit', id, {
        order: stored,
        trades: made.map((t) => ({
          id: t.id,
          quantityWh: t.quantityWh,
          price: t.price,
          status: t.status,
          reason: t.reason,
        })),
      });
      return { order: stored, trades: made.map((t) => ({ ...t, territory })) };
    });
  }

  /** Saves trades and the fills of the resting orders they hit. */
  async #persist(territory: string, trades: readonly Trade[]) {
    const m = this.#m;
    const a = this.#auction(territory);
    for (const t of trades) {
      await m.forms.saveTrade({ ...t, territory }, m.now());
      for (const oid of [t.buyOrder, t.sellOrder]) {
        const o = this.#orders.get(oid);
        if (o?.status !== 'live') continue;
        const remainingWh = a.remaining(oid);
        const next = { ...o, remainingWh, status: remainingWh > EPS ? 'live' : 'filled' };
        this.#orders.set(oid, next);
        await m.forms.saveOrder(next, m.now());
      }
    }
  }

  async cancelOrder(c: MarketCaller, id: string) {
    const m = this.#m;
    return m.guard(c, 'market.p2p.order.cancel', id, {}, async () => {
      const o = this.#orders.get(id);
      if (!o) throw new MarketRefusal(refuse('UNKNOWN_BID', `no order "${id}"`));
      if (!m.actorsOf(c.userId).includes(o.participant))
        throw new MarketRefusal(refuse('NOT_YOURS', `order "${id}" belongs to "${o.participant}"`));
      const closes = gateClosure('RT', o.intervalStart, m.gates);
      if (m.now() >= closes)
        throw new MarketRefusal(
          refuse(
            'GATE_CLOSED',
            `trading for ${new Date(o.intervalStart).toISOString()} closed at ${new Date(closes).toISOString()}`,
          ),
        );
      if (o.status !== 'live')
        throw new MarketServiceError('NOT_LIVE', `order "${id}" is ${o.status}: nothing left to cancel`);
      const left = this.#auction(o.territory).cancel(id);
      const next = { ...o, remainingWh: left?.remainingWh ?? 0, status: 'cancelled' };
      this.#orders.set(id, next);
      await m.forms.saveOrder(next, m.now());
      await m.audit(c, 'market.p2p.order.cancel', id, { remainingWh: next.remainingWh });
      return next;
    });
  }

  /** The user's own orders (all of them for the DMO/DGO with `all`). */
  orders(c: MarketCaller, q: { all?: boolean; from?: number; to?: number }): StoredOrder[] {
    const mine = new Set(this.#m.actorsOf(c.userId));
    if (q.all) this.#operator(c);
    return [...this.#orders.values()]
      .filter((o) => (q.all || mine.has(o.participant)) && inWindow(o.intervalStart, q))
      .sort((a, b) => a.seq - b.seq);
  }

  /** The anonymous order book of a territory and interval: price levels and depth, no names. */
  book(territory: string, intervalStart: number) {
    if (!this.territories().includes(territory))
      throw new MarketServiceError('UNKNOWN_TERRITORY', `no P2P market territory "${territory}"`);
    const b = this.#auction(territory).book(intervalStart);
    const strip = (l: { price: number; wh: number }[]) => l.map(({ price, wh }) => ({ price, wh }));
    return { territory, intervalStart, bids: strip(b.bids), asks: strip(b.asks) };
  }

  /** Every standing trade in a window, for the DGO's network schedule (no caller check: the service's). */
  networkTrades(q: { from?: number; to?: number }): Trade[] {
    const out: Trade[] = [];
    for (const a of this.#auctions.values())
      for (const t of a.trades) if (t.quantityWh > 0 && inWindow(t.intervalStart, q)) out.push(t);
    return out;
  }

  /** Trades the user is party to (every trade for the DMO/DGO with `all`). */
  trades(c: MarketCaller, q: { all?: boolean; from?: number; to?: number }): StoredTrade[] {
    const mine = new Set(this.#m.actorsOf(c.userId));
    if (q.all) this.#operator(c);
    const out: StoredTrade[] = [];
    for (const [territory, a] of this.#auctions)
      for (const t of a.trades)
        if ((q.all || mine.has(t.buyer) || mine.has(t.seller)) && inWindow(t.intervalStart, q))
          out.push({ ...t, territory });
    return out.sort((x, y) => x.intervalStart - y.intervalStart);
  }

  #operator(c: MarketCaller) {
    const mine = this.#m.actorsOf(c.userId);
    const separated = separationRefusal(
      this.#m.config,
      mine,
      'market',
      'the orders, trades, their prices or who trades',
    );
    if (separated) throw new MarketServiceError('INFORMATION_SEPARATION', separated);
    const { DMO, DGO } = this.#m.config.roles;
    if (!mine.includes(DMO) && !mine.includes(DGO))
      throw new MarketServiceError('NOT_DMO', `user "${c.userId}" acts for neither the DMO nor the DGO`);
  }

  /**
   * DGO emergency dispatch overrides the resource's trades in every interval the setpoint covers
   * (latest trades cut first). Returns the trades it cut, already persisted.
   */
  async override(c: MarketCaller, resource: string, setpointW: number, from: number, forMs: number) {
    const m = this.#m;
    const r = m.resources.get(resource);
    const territory = r ? this.territoryOf(r.bus) : null;
    if (!territory) return [];
    const a = this.#auction(territory);
    const cut: Trade[] = [];
    const first = Math.floor(from / this.intervalMs) * this.intervalMs;
    for (let t = first; t < from + forMs; t += this.intervalMs)
      cut.push(...a.emergencyOverride(resource, t, setpointW, this.intervalMs / HOUR_MS));
    await this.#persist(territory, cut);
    if (cut.length)
      await m.audit(c, 'market.p2p.trade.override', resource, {
        setpointW,
        trades: cut.map((t) => ({ id: t.id, quantityWh: t.quantityWh, reason: t.reason })),
      });
    return cut.map((t) => ({ ...t, territory }));
  }

  /**
   * DMO: closes a delivery interval after its gate: settles the trades, the PoLR service (unmatched
   * demand, metered imbalances) and fees, and sends each resource's self-dispatch command.
   * `meteredWh` (per resource, + = delivered into the grid) replaces the traded position where given.
   * Stored as a run of kind `P2P` (its awards = net traded positions), not as a real-time market run.
   */
  async close(
    c: MarketCaller,
    q: { intervalStart: number; lmp?: number; meteredWh?: Record<string, number>; dispatch?: boolean },
  ) {
    const m = this.#m;
    return m.guard(
      c,
      'market.p2p.close',
      String(q.intervalStart),
      { intervalStart: q.intervalStart },
      async () => {
        const by = m.actingAs(c.userId, 'DMO');
        if (q.intervalStart % this.intervalMs !== 0)
          throw new MarketRefusal(
            refuse('BAD_INTERVAL', `P2P intervals start on multiples of ${this.intervalMs / 60000} min`),
          );
        m.requireGateClosed('RT', q.intervalStart);
        const start = q.intervalStart;
        const end = start + this.intervalMs;
        const lmp = q.lmp ?? m.iso().forecastLmp?.(start) ?? 50;
        const fee = this.settings.polrFeePerMWh;
        const utility = m.config.roles.DGO;
        const runId = `p2p_${newId(8)}`;
        const ledger = new Ledger();
        const trades = this.trades(c, { all: true, from: start, to: start + 1 }).filter(
          (t) => t.quantityWh > EPS,
        );
        const pos = settleTrades(ledger, start, trades);
        // Provider of last resort: unmatched demand is served by the utility; metered deviations from
        // the traded position are bought/sold by the utility at the LMP -/+ its fee.
        const live = [...this.#orders.values()].filter(
          (o) => o.status === 'live' && o.intervalStart === start,
        );
        const deliveredWh = deliveredPositions(
          m,
          pos,
          live,
          (o) => this.#auction(o.territory).remaining(o.id),
          q,
        );
        const polr = settlePolr(m, ledger, { start, lmp, fee, utility }, pos, deliveredWh);
        const participants = new Set([...pos.acctOf.values()]);
        chargeFeesAll(
          ledger,
          start,
          participants,
          pos.tradedWh,
          pos.withdrawnWh,
          m.settings.fees,
          m.config.roles.DMO,
          utility,
          start % (24 * HOUR_MS) === 0,
        );
        // Trades pass through the clearing account at their own price: nothing may be left.
        ledger.closePeriod(start, utility, NO_SURPLUS);
        const books = checkBooks(ledger);
        const awards = p2pAwards(m, runId, start, this.intervalMs, pos, trades);
        const summary = {
          marketForm: 'p2p',
          lmp,
          polrFeePerMWh: fee,
          trades: trades.length,
          tradedWh: trades.reduce((s, t) => s + t.quantityWh, 0),
          polr,
          balanced: books.every((b) => b.balanced),
        };
        await m.store.saveRun(
          {
            id: runId,
            market: 'P2P',
            intervalStart: start,
            intervalEnd: end,
            runAt: m.now(),
            runBy: by,
            summary,
          },
          awards,
          [],
          ledger.entries,
        );
        await this.#expire(live);
        const dispatch =
          q.dispatch !== false && m.send && pos.netWh.size
            ? await this.#selfDispatch(runId, start, pos, m.send)
            : null;
        await m.audit(c, 'market.p2p.close', runId, {
          as: by,
          intervalStart: start,
          lmp,
          trades: trades.length,
          polr: polr.length,
          balanced: summary.balanced,
          ...(dispatch
            ? {
                dispatch: dispatch.records.map((d) => ({
                  resource: d.resource,
                  status: d.status,
                  command: d.commandId,
                })),
              }
            : {}),
        });
        return { runId, ...summary, screen: dispatch?.screen ?? null, dispatch: dispatch?.records ?? [] };
      },
    );
  }

  /** Unmatched orders expire with the interval. */
  async #expire(live: readonly StoredOrder[]) {
    const m = this.#m;
    for (const o of live) {
      const next = { ...o, status: 'expired' };
      this.#auction(o.territory).cancel(o.id);
      this.#orders.set(o.id, next);
      await m.forms.saveOrder(next, m.now());
    }
  }

  /** Sends each resource its net traded position as a self-dispatch command and stores the records. */
  async #selfDispatch(runId: string, start: number, pos: TradedPositions, send: SendCommand) {
    const m = this.#m;
    const owner = new Map(pos.acctOf);
    const dispatch = await dispatchToField({
      runId,
      intervalStart: start,
      intervalEnd: start + this.intervalMs,
      now: m.now(),
      awardsW: new Map([...pos.netWh].map(([id, wh]) => [id, (wh * HOUR_MS) / this.intervalMs])),
      config: m.config,
      registry: m.resources,
      links: m.links,
      network: m.network,
      loadsW: new Map((m.network?.loads ?? []).map((l) => [l.bus, l.p_w])),
      by: 'SELF',
      actor: (id) => `market:self:${owner.get(id) ?? 'unknown'}`,
      maxTtlSeconds: m.maxTtlSeconds ?? 86_400,
      send,
    });
    for (const d of dispatch.records) await m.store.saveDispatch(d);
    return dispatch;
  }
}

/** Each resource's and account's position after the interval's trades. */
type TradedPositions = {
  /** Net traded energy per resource (+ = sold). */
  readonly netWh: Map<string, number>;
  /** Settlement account per resource. */
  readonly acctOf: Map<string, string>;
  readonly tradedWh: Map<string, number>;
  readonly withdrawnWh: Map<string, number>;
  /** Traded value per resource (Wh × $/MWh), for its average price. */
  readonly value: Map<string, number>;
};

function addTo(mp: Map<string, number>, k: string, v: number) {
  mp.set(k, (mp.get(k) ?? 0) + v);
}

/** Settles each trade at its price (buyer pays, seller is paid) and sums the positions it leaves. */
function settleTrades(ledger: Ledger, start: number, trades: readonly StoredTrade[]): TradedPositions {
  const pos: TradedPositions = {
    netWh: new Map(),
    acctOf: new Map(),
    tradedWh: new Map(),
    withdrawnWh: new Map(),
    value: new Map(),
  };
  for (const t of trades) {
    ledger.energy(start, t.buyer, -t.quantityWh, t.price, 'p2p_trade', t.id);
    ledger.energy(start, t.seller, t.quantityWh, t.price, 'p2p_trade', t.id);
    addTo(pos.netWh, t.sellerResource, t.quantityWh);
    addTo(pos.netWh, t.buyerResource, -t.quantityWh);
    addTo(pos.value, t.sellerResource, t.quantityWh * t.price);
    addTo(pos.value, t.buyerResource, t.quantityWh * t.price);
    pos.acctOf.set(t.sellerResource, t.seller);
    pos.acctOf.set(t.buyerResource, t.buyer);
    addTo(pos.tradedWh, t.seller, t.quantityWh);
    addTo(pos.tradedWh, t.buyer, t.quantityWh);
    addTo(pos.withdrawnWh, t.buyer, t.quantityWh);
  }
  return pos;
}

/**
 * What each resource delivered: its traded position, less the unmatched demand of its live buy
 * orders, replaced by its meter reading where one is given. Accounts of untraded resources are added.
 */
function deliveredPositions(
  m: MarketContext,
  pos: TradedPositions,
  live: readonly StoredOrder[],
  remainingWh: (o: StoredOrder) => number,
  q: { meteredWh?: Record<string, number> },
) {
  const deliveredWh = new Map(pos.netWh);
  for (const o of live) {
    pos.acctOf.set(o.resource, pos.acctOf.get(o.resource) ?? o.participant);
    if (o.side === 'buy') addTo(deliveredWh, o.resource, -remainingWh(o));
  }
  for (const [id, wh] of Object.entries(q.meteredWh ?? {})) {
    const r = m.resources.get(id);
    if (!r) throw new MarketRefusal(refuse('UNKNOWN_RESOURCE', `metered resource "${id}" is not registered`));
    deliveredWh.set(id, wh);
    if (!pos.acctOf.has(id)) pos.acctOf.set(id, r.aggregator ?? r.owner);
  }
  return deliveredWh;
}

/**
 * The PoLR service: each imbalance (delivered − traded) is bought/sold by the utility at the LMP
 * −/+ its fee, and the utility balances its net PoLR position with the ISO at the LMP.
 */
function settlePolr(
  m: MarketContext,
  ledger: Ledger,
  q: { start: number; lmp: number; fee: number; utility: string },
  pos: TradedPositions,
  deliveredWh: ReadonlyMap<string, number>,
) {
  const { start, lmp, fee, utility } = q;
  let polrNet = 0;
  const polr: { resource: string; participant: string; imbalanceWh: number; price: number }[] = [];
  for (const [id, wh] of deliveredWh) {
    const imb = wh - (pos.netWh.get(id) ?? 0);
    if (Math.abs(imb) <= 1e-6) continue;
    const acct = pos.acctOf.get(id)!;
    const price = imb > 0 ? lmp - fee : lmp + fee;
    ledger.energy(start, acct, imb, price, 'polr', `imbalance:${id}`, utility);
    polr.push({ resource: id, participant: acct, imbalanceWh: imb, price });
    polrNet += imb;
    if (imb < 0) addTo(pos.withdrawnWh, acct, -imb);
  }
  // The utility balances its PoLR position with the ISO at the LMP: what the participants delivered
  // beyond their trades (polrNet > 0) it sells on, what they took beyond them it buys.
  if (Math.abs(polrNet) > 1e-6)
    ledger.energy(start, utility, polrNet, lmp, 'polr', 'wholesale balance', m.config.roles.ISO);
  return polr;
}

/** The run's awards: each resource's net traded power over the interval at its average trade price. */
function p2pAwards(
  m: MarketContext,
  runId: string,
  start: number,
  intervalMs: number,
  pos: TradedPositions,
  trades: readonly StoredTrade[],
): AwardRecord[] {
  return [...pos.netWh].map(([id, wh]) => ({
    runId,
    market: 'P2P',
    resource: id,
    participant: pos.acctOf.get(id)!,
    bus: m.resources.get(id)?.bus ?? '',
    intervalStart: start,
    product: 'energy',
    awardW: (wh * HOUR_MS) / intervalMs,
    deviationW: null,
    pricePerMWh:
      pos.value.get(id)! /
      [...trades]
        .filter((t) => t.sellerResource === id || t.buyerResource === id)
        .reduce((s, t) => s + t.quantityWh, 0),
  }));
}

function inWindow(t: number, q: { from?: number; to?: number }) {
  return (q.from === undefined || t >= q.from) && (q.to === undefined || t < q.to);
}
