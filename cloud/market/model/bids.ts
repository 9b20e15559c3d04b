import { z } from 'zod';
import type { ResourceRegistry } from './resources.ts';
import type { MarketConfig } from './roles.ts';
import { checkMayBid, MarketRefusal, type Refusal, refuse } from './rules.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from './time.ts';

/**
 * Bids and offers: stepwise price-quantity curves for one resource, one product and one interval.
 *
 * Steps are incremental blocks. A `sell` curve (offer: inject more / consume less) must have
 * non-decreasing prices; a `buy` curve (bid: consume more / inject less) non-increasing prices, so
 * that the aggregate supply curve rises and the demand curve falls.
 */

export const PRODUCTS = [
  'energy',
  'reg_up',
  'reg_down',
  'reserve',
  'congestion_relief',
  'voltage_support',
] as const;
export type Product = (typeof PRODUCTS)[number];
export const ISO_ANCILLARY: readonly Product[] = ['reg_up', 'reg_down', 'reserve'];
export const GRID_SERVICES: readonly Product[] = ['congestion_relief', 'voltage_support'];

export type MarketKind = 'DA' | 'RT';

export const StepSchema = z.object({
  quantity_w: z.number().finite().positive(),
  price_per_mwh: z.number().finite().gte(-1000).lte(10000),
});
export type Step = z.infer<typeof StepSchema>;

export const BidSchema = z.object({
  id: z.string().min(1),
  participant: z.string().min(1),
  resource: z.string().min(1),
  market: z.enum(['DA', 'RT']),
  product: z.enum(PRODUCTS),
  side: z.enum(['sell', 'buy']),
  /** Interval start, UTC epoch ms (hour-aligned for DA, 5-min aligned for RT). */
  interval_start: z.number().int(),
  steps: z.array(StepSchema).min(1).max(10),
});
export type Bid = z.infer<typeof BidSchema>;

export interface GateRules {
  /** DA gate closes this long before the delivery day starts (default 12 h: noon the day before). */
  readonly daGateBeforeDayMs: number;
  /** RT gate closes this long before the interval starts (default 5 min). */
  readonly rtGateBeforeIntervalMs: number;
}
export const DEFAULT_GATES: GateRules = {
  daGateBeforeDayMs: 12 * HOUR_MS,
  rtGateBeforeIntervalMs: RT_INTERVAL_MS,
};

export function gateClosure(
  market: MarketKind,
  intervalStart: number,
  gates: GateRules = DEFAULT_GATES,
): number {
  if (market === 'DA') return Math.floor(intervalStart / DAY_MS) * DAY_MS - gates.daGateBeforeDayMs;
  return intervalStart - gates.rtGateBeforeIntervalMs;
}

export function checkMonotone(side: 'sell' | 'buy', steps: readonly Step[]): Refusal | null {
  for (let i = 1; i < steps.length; i++) {
    const a = steps[i - 1].price_per_mwh;
    const b = steps[i].price_per_mwh;
    if (side === 'sell' ? b < a : b > a) {
      return refuse(
        'NON_MONOTONE',
        `${side} curve step ${i + 1} price ${b} $/MWh ${side === 'sell' ? 'falls below' : 'rises above'} step ${i} price ${a} $/MWh: ${side === 'sell' ? 'offer prices must not decrease' : 'bid prices must not increase'}`,
      );
    }
  }
  return null;
}

export interface BidContext {
  readonly config: MarketConfig;
  readonly registry: ResourceRegistry;
  readonly now: number;
  readonly gates?: GateRules;
}

/** Every check a bid must pass; the first failure is returned with its reason. */
export function validateBid(
  input: unknown,
  ctx: BidContext,
): { ok: true; bid: Bid } | { ok: false; refusal: Refusal } {
  const parsed = BidSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, refusal: refuse('MALFORMED', `${issue.path.join('.') || 'bid'}: ${issue.message}`) };
  }
  const bid = parsed.data;
  const fail = (r: Refusal) => ({ ok: false as const, refusal: r });
  const step = bid.market === 'DA' ? HOUR_MS : RT_INTERVAL_MS;
  if (bid.interval_start % step !== 0) {
    return fail(refuse('BAD_INTERVAL', `${bid.market} intervals start on ${step / 60000}-minute boundaries`));
  }
  const closes = gateClosure(bid.market, bid.interval_start, ctx.gates);
  if (ctx.now >= closes) {
    return fail(
      refuse(
        'GATE_CLOSED',
        `gate for the ${bid.market} interval ${new Date(bid.interval_start).toISOString()} closed at ${new Date(closes).toISOString()}`,
      ),
    );
  }
  const rule = checkMayBid(ctx.config, ctx.registry, bid.participant, bid.resource);
  if (rule) return fail(rule);
  if (ctx.config.marketForm === 'p2p' && bid.product !== 'energy') {
    return fail(
      refuse('WRONG_MARKET_FORM', 'peer-to-peer markets trade energy only; grid services go to the DGO'),
    );
  }
  const mono = checkMonotone(bid.side, bid.steps);
  if (mono) return fail(mono);
  const r = ctx.registry.get(bid.resource)!;
  const total = bid.steps.reduce((s, x) => s + x.quantity_w, 0);
  const cap =
    bid.product === 'energy'
      ? bid.side === 'sell'
        ? r.max_inject_w
        : r.max_withdraw_w
      : r.max_inject_w + r.max_withdraw_w;
  if (total > cap + 1e-6) {
    return fail(
      refuse(
        'BEYOND_CAPABILITY',
        `${bid.side} ${bid.product} of ${total} W exceeds resource "${r.id}" registered capability ${cap} W`,
      ),
    );
  }
  return { ok: true, bid };
}

/**
 * The DMO's book of DA/RT bids: submit, modify and cancel until gate closure. One live bid per
 * (resource, market, product, side, interval); a new one for the same key must be a modify.
 */
export class BidBook {
  readonly #bids = new Map<string, Bid>();
  readonly #byKey = new Map<string, string>();

  submit(input: unknown, ctx: BidContext): Bid {
    const v = validateBid(input, ctx);
    if (!v.ok) throw new MarketRefusal(v.refusal);
    const bid = v.bid;
    if (this.#bids.has(bid.id))
      throw new MarketRefusal(refuse('MALFORMED', `bid id "${bid.id}" already exists`));
    const k = keyOf(bid);
    if (this.#byKey.has(k)) {
      throw new MarketRefusal(
        refuse(
          'MALFORMED',
          `resource "${bid.resource}" already has bid "${this.#byKey.get(k)}" for this interval; modify it`,
        ),
      );
    }
    this.#bids.set(bid.id, bid);
    this.#byKey.set(k, bid.id);
    return bid;
  }

  modify(id: string, by: string, steps: Step[], ctx: BidContext): Bid {
    const old = this.#own(id, by);
    const v = validateBid({ ...old, steps }, ctx);
    if (!v.ok) throw new MarketRefusal(v.refusal);
    this.#bids.set(id, v.bid);
    return v.bid;
  }

  cancel(id: string, by: string, ctx: { now: number; gates?: GateRules }): Bid {
    const old = this.#own(id, by);
    const closes = gateClosure(old.market, old.interval_start, ctx.gates);
    if (ctx.now >= closes) {
      throw new MarketRefusal(refuse('GATE_CLOSED', `bid "${id}" can no longer be cancelled: gate closed`));
    }
    this.#bids.delete(id);
    this.#byKey.delete(keyOf(old));
    return old;
  }

  get(id: string): Bid | undefined {
    return this.#bids.get(id);
  }

  list(filter: { market?: MarketKind; from?: number; to?: number; participant?: string } = {}): Bid[] {
    return [...this.#bids.values()].filter(
      (b) =>
        (filter.market === undefined || b.market === filter.market) &&
        (filter.from === undefined || b.interval_start >= filter.from) &&
        (filter.to === undefined || b.interval_start < filter.to) &&
        (filter.participant === undefined || b.participant === filter.participant),
    );
  }

  #own(id: string, by: string): Bid {
    const b = this.#bids.get(id);
    if (!b) throw new MarketRefusal(refuse('UNKNOWN_BID', `no bid "${id}"`));
    if (b.participant !== by)
      throw new MarketRefusal(refuse('NOT_YOURS', `bid "${id}" belongs to another participant`));
    return b;
  }
}

function keyOf(b: Bid): string {
  return `${b.resource}|${b.market}|${b.product}|${b.side}|${b.interval_start}`;
}
