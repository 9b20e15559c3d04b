/**
 * Dispatch routes (/api/v1/dispatches/…): dispatching a group needs command:send, the operator or
 * aggregator role and the group in scope; a dispatch outside the caller's groups answers 404. Every
 * change is audited, refusals by the dispatch manager too.
 */
import { z } from 'zod';
import type { Role } from '../auth/roles.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { DispatchRefused, dispatchRequestSchema } from '../vpp/dispatch.ts';
import type { VppService } from '../vpp/service.ts';
import type { Principal } from './auth.ts';
import { DomainError } from './errors.ts';
import { id } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';
import { vppService } from './routes-vpp.ts';

const DISPATCH_ROLES: readonly Role[] = ['operator', 'aggregator'];
const mayDispatch = { allow: DISPATCH_ROLES, verb: 'dispatch (operator or aggregator only)' };
const dispatchParams = z.object({ id });

export function dispatchRoutes(d: { registry: Registry; vpp?: VppService }): AnyRouteDef[] {
  const svc = vppService(d);
  const dispatchOr404 = (p: Principal, did: string) => {
    const x = svc().dispatch.get(did);
    if (!x || !p.canGroup(x.group)) throw new DomainError('not_found', `unknown dispatch ${did}`);
    return x;
  };
  return [
    route({
      method: 'post',
      path: '/dispatches',
      summary: 'Dispatch a group: target meter power or change against baseline over [start, end)',
      tag: 'dispatch',
      permission: 'command:send',
      scope: { roles: mayDispatch, group: ({ req }) => (req.body as { group: string }).group },
      body: dispatchRequestSchema,
      status: 201,
      // The raw body: the manager parses it itself (dates, defaults).
      handler: async ({ req, principal }) => svc().dispatch.create(req.body, principal.actor),
      audit: {
        action: 'dispatch.create',
        target: (_ctx, x) => x.id,
        detail: ({ req }, x) => ({
          request: req.body,
          targetMeterW: x.targetMeterW,
          baselineW: x.baseline.w,
          feasibility: x.feasibility,
        }),
      },
      auditRefusals: {
        action: 'dispatch.refused',
        target: (req) => (req.body as { group: string }).group,
        on: ['domain'],
        detail: ({ req, reason, err }) => ({
          request: req.body,
          reason,
          feasibility: err instanceof DispatchRefused ? err.feasibility : undefined,
        }),
      },
    }),
    route({
      method: 'post',
      path: '/dispatches/preview',
      summary:
        'Dry run of POST /dispatches: the baseline, target and feasibility (what is infeasible and why) and whether it would be accepted; nothing is registered or sent',
      tag: 'dispatch',
      permission: 'command:send',
      scope: { roles: mayDispatch, group: ({ req }) => (req.body as { group: string }).group },
      body: dispatchRequestSchema,
      handler: async ({ req }) => svc().dispatch.preview(req.body),
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
      params: dispatchParams,
      handler: async ({ params, principal }) => dispatchOr404(principal, params.id),
    }),
    route({
      method: 'get',
      path: '/dispatches/:id/performance',
      summary: 'Target vs delivered at the meters per interval, with the baseline used',
      tag: 'dispatch',
      permission: 'site:read',
      params: dispatchParams,
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
      scope: { roles: mayDispatch },
      params: dispatchParams,
      handler: async ({ params, principal }) => {
        dispatchOr404(principal, params.id);
        return svc().dispatch.cancel(params.id);
      },
      audit: { action: 'dispatch.cancel', target: ({ params }) => params.id },
    }),
  ];
}
