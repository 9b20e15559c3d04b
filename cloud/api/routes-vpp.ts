/**
 * VPP and dispatch routes (/api/v1/vpps/…, /api/v1/dispatches/…). VPPs are registry groups of kind
 * `vpp`; aggregate, envelope and dispatch also accept any other group (a feeder, a portfolio).
 * Reads need site:read and the group in scope; dispatching needs command:send, the operator or
 * aggregator role and the group in scope. Every change is audited.
 */
import { z } from 'zod';
import type { Registry } from '../storage/registry/registry.ts';
import { DispatchRefused, dispatchRequestSchema } from '../vpp/dispatch.ts';
import { type VppService, vppSelectionSchema } from '../vpp/service.ts';
import type { Principal } from './auth.ts';
import { type AnyRouteDef, HttpError, route } from './route.ts';
import { requireKnownSites } from './routes.ts';

const id = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);
const vppParams = z.object({ vpp: id });

function inScope(p: Principal, group: string) {
  const g = p.groups();
  return g === 'all' || g.has(group);
}

export function vppRoutes(d: { registry: Registry; vpp?: VppService }): AnyRouteDef[] {
  const { registry } = d;
  const svc = () => {
    if (!d.vpp) throw new HttpError(503, 'VPP service not running');
    return d.vpp;
  };
  const groupOr404 = async (p: Principal, gid: string) => {
    if (!inScope(p, gid)) throw new HttpError(403, `not authorized for group ${gid}`);
    const g = await registry.getGroup(gid);
    if (!g) throw new HttpError(404, `unknown VPP/group ${gid}`);
    return g;
  };
  const mayDispatch = (p: Principal) => {
    if (!['operator', 'aggregator'].includes(p.user.role))
      throw new HttpError(403, `role ${p.user.role} may not dispatch (operator or aggregator only)`);
  };
  const dispatchOr404 = (p: Principal, did: string) => {
    const x = svc().dispatch.get(did);
    if (!x || !inScope(p, x.group)) throw new HttpError(404, `unknown dispatch ${did}`);
    return x;
  };

  return [
    route({
      method: 'get',
      path: '/vpps',
      summary: 'VPPs (groups of kind vpp) the caller may see',
      tag: 'vpp',
      permission: 'site:read',
      handler: async ({ principal }) => {
        const g = principal.groups();
        return (await registry.listGroups(g === 'all' ? undefined : [...g])).filter((x) => x.kind === 'vpp');
      },
    }),
    route({
      method: 'post',
      path: '/vpps',
      summary: 'Create a VPP from explicit sites, a feeder, a network node or an aggregator portfolio',
      tag: 'vpp',
      permission: 'group:write',
      body: z
        .object({
          id,
          name: z.string().min(1).max(200),
          description: z.string().max(1000).optional(),
          select: vppSelectionSchema,
        })
        .strict(),
      status: 201,
      handler: async ({ body, principal }) => {
        if (await registry.getGroup(body.id)) throw new HttpError(409, `group ${body.id} exists`);
        let sites: string[];
        try {
          sites = await svc().resolveSelection(body.select);
        } catch (err) {
          throw new HttpError(422, (err as Error).message);
        }
        // Before the group exists: a refused request leaves nothing behind, and no phantom sites.
        await requireKnownSites(registry, sites);
        await registry.createGroup({
          id: body.id,
          name: body.name,
          kind: 'vpp',
          description: body.description,
        });
        const g = await registry.setGroupSites(body.id, sites);
        await registry.audit(principal.actor, 'vpp.create', body.id, { select: body.select, sites });
        return g;
      },
    }),
    route({
      method: 'get',
      path: '/vpps/:vpp',
      summary: 'One VPP (or any group) with its sites',
      tag: 'vpp',
      permission: 'site:read',
      params: vppParams,
      handler: async ({ params, principal }) => groupOr404(principal, params.vpp),
    }),
    route({
      method: 'get',
      path: '/vpps/:vpp/aggregate',
      summary: 'Live aggregate: power at the meters and devices, stored energy, SoC weighted by capacity',
      tag: 'vpp',
      permission: 'site:read',
      params: vppParams,
      handler: async ({ params, principal }) => {
        const g = await groupOr404(principal, params.vpp);
        return { vpp: g.id, ...(await svc().aggregate(g.sites)) };
      },
    }),
    route({
      method: 'get',
      path: '/vpps/:vpp/envelope',
      summary: 'Up/down flexibility now and per forecast interval',
      tag: 'vpp',
      permission: 'site:read',
      params: vppParams,
      query: z.object({
        stepMinutes: z.coerce.number().int().min(1).max(1440).default(15),
        steps: z.coerce.number().int().min(1).max(672).default(16),
      }),
      handler: async ({ params, query, principal }) => {
        const g = await groupOr404(principal, params.vpp);
        return {
          vpp: g.id,
          ...(await svc().envelope(g.sites, { stepMs: query.stepMinutes * 60_000, steps: query.steps })),
        };
      },
    }),

    // --- dispatches ---
    route({
      method: 'post',
      path: '/dispatches',
      summary: 'Dispatch a group: target meter power or change against baseline over [start, end)',
      tag: 'dispatch',
      permission: 'command:send',
      body: dispatchRequestSchema,
      status: 201,
      handler: async ({ req, res, principal }) => {
        mayDispatch(principal);
        const group = (req.body as { group: string }).group;
        if (!inScope(principal, group)) throw new HttpError(403, `not authorized for group ${group}`);
        try {
          // The raw body: the manager parses it itself (dates, defaults).
          const x = await svc().dispatch.create(req.body, principal.actor);
          await registry.audit(principal.actor, 'dispatch.create', x.id, {
            request: req.body,
            targetMeterW: x.targetMeterW,
            baselineW: x.baseline.w,
            feasibility: x.feasibility,
          });
          res.status(201).json(x);
        } catch (err) {
          if (!(err instanceof DispatchRefused)) throw err;
          await registry.audit(principal.actor, 'dispatch.refused', group, {
            request: req.body,
            reason: err.message,
            feasibility: err.feasibility,
          });
          res.status(err.status).json({ error: err.message, feasibility: err.feasibility });
        }
      },
    }),
    route({
      method: 'get',
      path: '/dispatches',
      summary: 'Dispatches of the groups in scope, newest first',
      tag: 'dispatch',
      permission: 'site:read',
      query: z.object({ group: id.optional() }),
      handler: async ({ query, principal }) => {
        const g = principal.groups();
        return svc()
          .dispatch.list(g === 'all' ? undefined : g)
          .filter((x) => !query.group || x.group === query.group)
          .map(({ devices: _d, intervals: _i, ...rest }) => rest);
      },
    }),
    route({
      method: 'get',
      path: '/dispatches/:id',
      summary: 'One dispatch: status, progress, per-device state and performance intervals',
      tag: 'dispatch',
      permission: 'site:read',
      params: z.object({ id }),
      handler: async ({ params, principal }) => dispatchOr404(principal, params.id),
    }),
    route({
      method: 'get',
      path: '/dispatches/:id/performance',
      summary: 'Target vs delivered at the meters per interval, with the baseline used',
      tag: 'dispatch',
      permission: 'site:read',
      params: z.object({ id }),
      handler: async ({ params, principal }) => {
        const x = dispatchOr404(principal, params.id);
        const n = x.intervals.reduce((a, i) => a + i.samples, 0);
        return {
          id: x.id,
          status: x.status,
          baseline: x.baseline,
          target: x.target,
          targetMeterW: x.targetMeterW,
          meanAbsErrorW: n
            ? Math.round(x.intervals.reduce((a, i) => a + Math.abs(i.errorW) * i.samples, 0) / n)
            : null,
          intervals: x.intervals,
        };
      },
    }),
    route({
      method: 'post',
      path: '/dispatches/:id/cancel',
      summary: 'Stop a dispatch: nothing more is sent; the edges return to default when commands expire',
      tag: 'dispatch',
      permission: 'command:send',
      params: z.object({ id }),
      handler: async ({ params, principal }) => {
        mayDispatch(principal);
        dispatchOr404(principal, params.id);
        const x = svc().dispatch.cancel(params.id);
        await registry.audit(principal.actor, 'dispatch.cancel', params.id);
        return x;
      },
    }),
  ];
}
