import { z } from 'zod';
import type { Role } from '../auth/roles.ts';
import {
  DAY_MS,
  gateClosure,
  type MarketService,
  noWorseOffReport,
  PRODUCTS,
  REGISTRABLE_ACTOR_KINDS,
  RT_INTERVAL_MS,
  StepSchema,
} from '../market/index.ts';
import type { Principal } from './auth.ts';
import { id, time } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

/**
 * /api/v1/market/…: participants bid and read their own results; the DMO clears and sees everything;
 * the DGO registers/certifies resources, reads screening outcomes and issues emergency dispatch.
 *
 * Two layers decide: the cloud role says what kind of verb a user may use (viewer: read only;
 * participant/aggregator/operator: bid; operator: DMO/DGO operations, onboarding and certification;
 * installer: resource registration), and the market organization(s) the user acts for (config
 * market.actors[].users, plus the links the DMO adds through /market/actors/{id}/users)
 * say in which capacity — market rules (DMO never bids, certification, representation) are the
 * core's, unchanged. Every route needs a token (`site:read`, which every role has).
 */

export const BID_ROLES: readonly Role[] = ['participant', 'aggregator', 'operator'];
export const OPERATE_ROLES: readonly Role[] = ['operator'];
const REGISTER_ROLES: readonly Role[] = ['operator', 'installer'];

export const windowQuery = z.object({
  market: z.enum(['DA', 'RT', 'MT', 'P2P']).optional(),
  from: time.optional(),
  to: time.optional(),
  all: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true'),
});
const bidBody = z.object({
  id: id.optional(),
  participant: z.string().optional(),
  resource: z.string().min(1),
  market: z.enum(['DA', 'RT']),
  product: z.enum(PRODUCTS).default('energy'),
  side: z.enum(['sell', 'buy']),
  interval_start: time,
  /** Not checked here beyond shape: monotonicity and capability are the market rules' refusals. */
  steps: z.array(StepSchema).min(1).max(10),
});
const resourceBody = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
  owner: z.string().min(1),
  aggregator: z.string().min(1).optional(),
  kind: z.enum(['pv', 'battery', 'flex_load', 'generator', 'ev']),
  bus: z.string().min(1),
  max_inject_w: z.number().nonnegative(),
  max_withdraw_w: z.number().nonnegative(),
  energy_wh: z.number().positive().optional(),
  soc0_wh: z.number().nonnegative().optional(),
  efficiency: z.number().gt(0).lte(1).optional(),
  status: z.enum(['applied', 'registered', 'certified', 'suspended']).optional(),
  site: z.string().optional(),
  device: z.string().optional(),
});

/** Roles allowed to use a verb; mount() refuses the others with "role <role> may not <verb>". */
export const roles = (allow: readonly Role[], verb: string) => ({ roles: { allow, verb } });

export const caller = (p: Principal) => ({ userId: p.user.id, auditActor: p.actor });

const tag = 'market';
const permission = 'site:read' as const;
const bidId = z.object({ id: z.string().min(1) });

export function marketRoutes(m: MarketService | undefined): AnyRouteDef[] {
  if (!m) return [];
  return [...resourceRoutes(m), ...onboardingRoutes(m), ...bidRoutes(m), ...operatorRoutes(m)];
}

/**
 * The market clock and the state of the gates on it: today's, tomorrow's and the day after's
 * day-ahead gates and the next real-time intervals' (a gate is open while now < closesAt, as the
 * bid rules decide). The app shows these instead of guessing from the browser's clock.
 */
export function gateState(m: Pick<MarketService, 'now' | 'gates'>) {
  const now = m.now();
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const nextRt = Math.ceil((now + 1) / RT_INTERVAL_MS) * RT_INTERVAL_MS;
  const gate = (market: 'DA' | 'RT', intervalStart: number) => {
    const closesAt = gateClosure(market, intervalStart, m.gates);
    return { intervalStart, closesAt, open: now < closesAt };
  };
  return {
    now,
    gateState: {
      DA: [0, 1, 2].map((d) => gate('DA', today + d * DAY_MS)),
      RT: [0, 1, 2, 3].map((k) => gate('RT', nextRt + k * RT_INTERVAL_MS)),
    },
  };
}

/** The market's organization and its resources. */
function resourceRoutes(m: MarketService): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/market',
      summary: 'The organizational model, role assignment, gate rules, and the organizations you act for',
      tag,
      permission,
      handler: async ({ principal }) => ({
        model: m.config.model,
        name: m.config.name,
        marketForm: m.config.marketForm,
        roles: m.config.roles,
        utilityDerMayParticipate: m.config.utilityDerMayParticipate,
        gates: m.gates,
        ...gateState(m),
        // The RT scheduler (market.realtime.auto): last and next interval and the last outcome.
        realtime: m.realtimeState?.() ?? { auto: false, intervalMs: m.settings.realtime.intervalMs },
        you: m.rolesOf(principal.user.id),
      }),
    }),
    route({
      method: 'get',
      path: '/market/resources',
      summary: 'Registered market resources (yours; all for the DGO/DMO)',
      tag,
      permission,
      handler: async ({ principal }) => {
        const mine = new Set(m.actorsOf(principal.user.id));
        const all = mine.has(m.config.roles.DGO) || mine.has(m.config.roles.DMO);
        return m
          .listResources()
          .filter((r) => all || mine.has(r.owner) || (r.aggregator !== undefined && mine.has(r.aggregator)));
      },
    }),
    route({
      method: 'post',
      path: '/market/resources',
      summary: 'Utility (DGO): register a DER resource, optionally linked to a registry site/device',
      tag,
      permission,
      body: resourceBody,
      status: 201,
      scope: roles(REGISTER_ROLES, 'register market resources'),
      handler: async ({ principal, body }) => m.registerResource(caller(principal), body),
    }),
    route({
      method: 'patch',
      path: '/market/resources/:id',
      summary: 'Utility (DGO): interconnection decision — certify, suspend or set back to registered',
      tag,
      permission,
      params: bidId,
      body: z.object({
        status: z.enum(['applied', 'registered', 'certified', 'suspended']),
        /** Kept on the interconnection record (e.g. the utility's approval reference). */
        note: z.string().max(500).optional(),
      }),
      scope: roles(OPERATE_ROLES, 'certify market resources'),
      handler: async ({ principal, params, body }) =>
        m.setResourceStatus(caller(principal), params.id, body.status, body.note),
    }),
    route({
      method: 'get',
      path: '/market/certifications',
      summary:
        'The interconnection record: every status decision on a resource, who made it (user, DGO organization) and when (all for the DGO/DMO; yours otherwise)',
      tag,
      permission,
      query: z.object({ resource: z.string().min(1).optional() }),
      handler: async ({ principal, query }) => m.certifications(caller(principal), query.resource),
    }),
  ];
}

/**
 * Onboarding (the DMO): market organizations beyond the config's (participants: aggregators,
 * producers, consumers, retailers) and the cloud users who act for them. Registered ones are stored
 * (registry migration 14) and are in the same actor map the market's rules read, so bids, resource
 * registration and every control path treat them exactly like the config's.
 */
function onboardingRoutes(m: MarketService): AnyRouteDef[] {
  const actorParam = z.object({ id: z.string().min(1) });
  return [
    route({
      method: 'get',
      path: '/market/actors',
      summary: 'Market organizations with their roles and users (all for the DMO/DGO; yours otherwise)',
      tag,
      permission,
      handler: async ({ principal }) => m.listActors(caller(principal)),
    }),
    route({
      method: 'post',
      path: '/market/actors',
      summary: 'DMO: register a market participant organization (aggregator, producer, consumer, retailer)',
      tag,
      permission,
      body: z.object({
        id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
        kind: z.enum(REGISTRABLE_ACTOR_KINDS),
        name: z.string().min(1).max(200).optional(),
      }),
      status: 201,
      scope: roles(OPERATE_ROLES, 'register market organizations'),
      handler: async ({ principal, body }) => m.registerActor(caller(principal), body),
    }),
    route({
      method: 'post',
      path: '/market/actors/:id/users',
      summary: 'DMO: let a cloud user act for the organization',
      tag,
      permission,
      params: actorParam,
      body: z.object({ user: z.string().min(1) }),
      status: 201,
      scope: roles(OPERATE_ROLES, 'link users to market organizations'),
      handler: async ({ principal, params, body }) => m.linkUser(caller(principal), params.id, body.user),
    }),
    route({
      method: 'delete',
      path: '/market/actors/:id/users/:user',
      summary: 'DMO: end a user’s API link to the organization (config links are changed in the config)',
      tag,
      permission,
      params: z.object({ id: z.string().min(1), user: z.string().min(1) }),
      scope: roles(OPERATE_ROLES, 'link users to market organizations'),
      handler: async ({ principal, params }) => m.unlinkUser(caller(principal), params.id, params.user),
    }),
  ];
}

/** Participants: bids, awards, prices, settlements. */
function bidRoutes(m: MarketService): AnyRouteDef[] {
  return [
    route({
      method: 'post',
      path: '/market/bids',
      summary: 'Submit a bid/offer (stepwise curve) before gate closure',
      tag,
      permission,
      body: bidBody,
      status: 201,
      scope: roles(BID_ROLES, 'bid in the market'),
      handler: async ({ principal, body }) => m.submitBid(caller(principal), body),
    }),
    route({
      method: 'get',
      path: '/market/bids',
      summary: 'Your live bids (all=true: every bid, DMO only)',
      tag,
      permission,
      query: windowQuery.extend({ market: z.enum(['DA', 'RT']).optional() }),
      handler: async ({ principal, query }) => m.listBids(caller(principal), query),
    }),
    route({
      method: 'patch',
      path: '/market/bids/:id',
      summary: 'Modify your bid’s curve before gate closure',
      tag,
      permission,
      params: bidId,
      body: z.object({ steps: z.array(StepSchema).min(1).max(10) }),
      scope: roles(BID_ROLES, 'bid in the market'),
      handler: async ({ principal, params, body }) => m.modifyBid(caller(principal), params.id, body.steps),
    }),
    route({
      method: 'delete',
      path: '/market/bids/:id',
      summary: 'Cancel your bid before gate closure',
      tag,
      permission,
      params: bidId,
      scope: roles(BID_ROLES, 'bid in the market'),
      handler: async ({ principal, params }) => m.cancelBid(caller(principal), params.id),
    }),
    route({
      method: 'get',
      path: '/market/awards',
      summary: 'Your awards/schedules (all=true: every award, DMO or DGO)',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => m.awards(caller(principal), query),
    }),
    route({
      method: 'get',
      path: '/market/prices',
      summary: 'Published DLMPs per bus and interval, decomposed (energy, loss, congestion, voltage)',
      tag,
      permission,
      query: windowQuery.extend({ bus: z.string().optional() }),
      handler: async ({ query }) => {
        const { all: _all, ...q } = query;
        return m.prices(q);
      },
    }),
    route({
      method: 'get',
      path: '/market/reports/no-worse-off',
      summary:
        'No worse off: per participant for a UTC day, its market outcome (net cents) against the same delivered energy traded at the ISO price directly (yours; every participant for the DMO)',
      tag,
      permission,
      query: z.object({ day: time, participant: z.string().min(1).optional() }),
      handler: async ({ principal, query }) => noWorseOffReport(m, caller(principal), query),
    }),
    route({
      method: 'get',
      path: '/market/settlements',
      summary:
        'Your settlement lines and totals in cents (all=true: every account and the books check, DMO only)',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => m.settlements(caller(principal), query),
    }),
  ];
}

/** The DMO's clearing and settlement runs and the DGO's screening and emergency dispatch. */
function operatorRoutes(m: MarketService): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/market/runs',
      summary: 'DMO: clearing runs with their summaries',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => {
        m.actingAs(principal.user.id, 'DMO');
        const { all: _all, ...q } = query;
        return m.store.runs(q);
      },
    }),
    route({
      method: 'post',
      path: '/market/clearing/da',
      summary: 'DMO: clear the day-ahead market (Total DSO, steps 1-7) for a delivery day after gate closure',
      tag,
      permission,
      body: z.object({
        dayStart: time,
        forecastLmp: z.array(z.number()).length(24).optional(),
        loadForecastW: z.record(z.string(), z.array(z.number()).length(24)).optional(),
      }),
      scope: roles(OPERATE_ROLES, 'run market clearing'),
      handler: async ({ principal, body }) => m.runDayAhead(caller(principal), body),
    }),
    route({
      method: 'post',
      path: '/market/settlement/metered',
      summary:
        'DMO: settle a completed hour from metered telemetry (imbalance at RT prices, DR baseline, fee true-up)',
      tag,
      permission,
      body: z.object({ hourStart: time }),
      scope: roles(OPERATE_ROLES, 'run market settlement'),
      handler: async ({ principal, body }) => m.settleMetered(caller(principal), body),
    }),
    route({
      method: 'post',
      path: '/market/clearing/rt',
      summary: 'DMO: clear one 5-minute real-time interval and dispatch the awards (after the DGO screen)',
      tag,
      permission,
      body: z.object({
        intervalStart: time,
        interfacePrice: z.number().optional(),
        loadForecastW: z.record(z.string(), z.number()).optional(),
        socWh: z.record(z.string(), z.number().nonnegative()).optional(),
        dispatch: z.boolean().default(true),
      }),
      scope: roles(OPERATE_ROLES, 'run market clearing'),
      handler: async ({ principal, body }) => m.runRealTime(caller(principal), body),
    }),
    route({
      method: 'get',
      path: '/market/dgo/screening',
      summary: 'DGO: feasibility screening and dispatch outcomes of real-time awards',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => m.screeningOutcomes(caller(principal), query),
    }),
    route({
      method: 'get',
      path: '/market/dgo/schedule',
      summary:
        'DGO: the schedule to screen, net injection by bus and interval (per market and product; P2P trades by delivery interval) and the grid services it buys; no bids, prices or participants',
      tag,
      permission,
      query: windowQuery,
      handler: async ({ principal, query }) => {
        const { all: _all, ...q } = query;
        return m.dgoSchedule(caller(principal), q);
      },
    }),
    route({
      method: 'post',
      path: '/market/dgo/emergency',
      summary: 'DGO: emergency dispatch of a resource, overriding market positions',
      tag,
      permission,
      body: z.object({
        resource: z.string().min(1),
        w: z.number().finite(),
        ttlSeconds: z.number().int().positive().default(300),
        reason: z.string().min(1),
      }),
      status: 201,
      scope: roles(OPERATE_ROLES, 'issue emergency dispatch'),
      handler: async ({ principal, body }) => m.emergencyDispatch(caller(principal), body),
    }),
  ];
}
