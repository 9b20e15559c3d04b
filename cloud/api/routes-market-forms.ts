import { z } from 'zod';
import type { MarketService, P2pMarket } from '../market/index.ts';
import {
  MarketRefusal,
  MarketServiceError,
  p2pStatements,
  refuse,
  settleP2pInterval,
} from '../market/index.ts';
import { id, time } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';
import { BID_ROLES, caller, OPERATE_ROLES, roles, windowQuery } from './routes-market.ts';

/**
 * /api/v1/market/… for the centralized (1, 2) and peer-to-peer (5, 6) market forms, next to the
 * common market routes: the DGO's screening of ISO awards (DGO and the aggregators concerned), and
 * the P2P continuous double auction (orders, anonymous book, trades, interval close by the DMO).
 * Refusals answer `{ error, code, reason }` like every market route.
 */
export function marketFormRoutes(m: MarketService | undefined): AnyRouteDef[] {
  if (!m) return [];
  const tag = 'market';
  const permission = 'site:read' as const;
  const p2p = (): P2pMarket => {
    if (!m.p2p)
      throw new MarketRefusal(
        refuse(
          'WRONG_MARKET_FORM',
          `model ${m.config.model} (${m.config.name}) is a ${m.config.marketForm} market, not peer to peer`,
        ),
      );
    return m.p2p;
  };
  const orderId = z.object({ id: z.string().min(1) });
  return [
    route({
      method: 'get',
      path: '/market/screening',
      summary:
        'DGO screening of ISO awards (models 1, 2): feasible, curtailed or screened out, with the reason (DGO: all; aggregators: their own)',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => {
        const mine = m.actorsOf(principal.user.id);
        const q = {
          ...(query.from !== undefined ? { from: query.from } : {}),
          ...(query.to !== undefined ? { to: query.to } : {}),
        };
        if (mine.includes(m.config.roles.DGO) || mine.includes(m.config.roles.DMO))
          return m.forms.screening(q);
        if (!mine.length)
          throw new MarketServiceError(
            'NO_MARKET_ACTOR',
            `user "${principal.user.id}" acts for no market organization`,
          );
        const out = [];
        for (const a of mine) out.push(...(await m.forms.screening({ ...q, participant: a })));
        return out.sort((x, y) => x.intervalStart - y.intervalStart || x.resource.localeCompare(y.resource));
      },
    }),
    route({
      method: 'post',
      path: '/market/p2p/orders',
      summary:
        'P2P (models 5, 6): submit a buy/sell order for a delivery interval; it matches at once (continuous double auction)',
      tag,
      permission,
      body: z.object({
        id: id.optional(),
        participant: z.string().optional(),
        resource: z.string().min(1),
        side: z.enum(['buy', 'sell']),
        intervalStart: time,
        quantityWh: z.number().finite().positive(),
        limitPrice: z.number().finite(),
      }),
      status: 201,
      scope: roles(BID_ROLES, 'trade in the market'),
      handler: async ({ principal, body }) => p2p().submitOrder(caller(principal), body),
    }),
    route({
      method: 'delete',
      path: '/market/p2p/orders/:id',
      summary: 'P2P: cancel what is left of your order before the interval’s gate closes',
      tag,
      permission,
      params: orderId,
      scope: roles(BID_ROLES, 'trade in the market'),
      handler: async ({ principal, params }) => p2p().cancelOrder(caller(principal), params.id),
    }),
    route({
      method: 'get',
      path: '/market/p2p/orders',
      summary: 'P2P: your orders with what is left of them (all=true: every order, DMO/DGO only)',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => p2p().orders(caller(principal), query),
    }),
    route({
      method: 'get',
      path: '/market/p2p/book',
      summary: 'P2P: the anonymous order book (price levels and depth) of a territory and interval',
      tag,
      permission,
      query: z.object({ intervalStart: time, territory: z.string().default('lda') }),
      handler: async ({ query }) => p2p().book(query.territory, query.intervalStart),
    }),
    route({
      method: 'get',
      path: '/market/p2p/trades',
      summary:
        'P2P: trades you are party to, with DGO curtailments/overrides and reasons (all=true: DMO/DGO)',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => p2p().trades(caller(principal), query),
    }),
    route({
      method: 'post',
      path: '/market/p2p/close',
      summary:
        'DMO: close a P2P interval after its gate: settle trades, provider-of-last-resort service and fees; DER self-dispatch on their trades',
      tag,
      permission,
      body: z.object({
        intervalStart: time,
        lmp: z.number().finite().optional(),
        meteredWh: z.record(z.string(), z.number().finite()).optional(),
        dispatch: z.boolean().default(true),
      }),
      scope: roles(OPERATE_ROLES, 'close market intervals'),
      handler: async ({ principal, body }) => p2p().close(caller(principal), body),
    }),
    route({
      method: 'post',
      path: '/market/p2p/settlement/metered',
      summary:
        'DMO: settle a closed P2P interval, once it is over, from stored telemetry (device counters, PCC meters, the DR baseline): metered − traded at the PoLR price, replacing what the close assumed',
      tag,
      permission,
      body: z.object({ intervalStart: time }),
      scope: roles(OPERATE_ROLES, 'run market settlement'),
      handler: async ({ principal, body }) => {
        p2p();
        return settleP2pInterval(
          m,
          { timeseries: m.deps.timeseries, registry: m.deps.registry },
          caller(principal),
          body,
        );
      },
    }),
    route({
      method: 'get',
      path: '/market/p2p/statements',
      summary:
        'P2P metered statements: per resource traded, assumed and metered energy, how it was metered and the baseline used, the imbalance and its price (yours; all for the DMO)',
      tag,
      permission,
      query: z.object({ from: time.optional(), to: time.optional() }),
      handler: async ({ principal, query }) => {
        p2p();
        return p2pStatements(m, caller(principal), query);
      },
    }),
  ];
}
