/**
 * VPP routes (/api/v1/vpps/…). VPPs are registry groups of kind `vpp`; aggregate and envelope also
 * accept any other group (a feeder, a portfolio). Reads need site:read and the group in scope.
 * Every change is audited.
 */
import { z } from 'zod';
import type { Registry } from '../storage/registry/registry.ts';
import { type VppService, vppSelectionSchema } from '../vpp/service.ts';
import { DomainError } from './errors.ts';
import { groupOr404, requireKnownSites } from './lookup.ts';
import { id } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

const vppParams = z.object({ vpp: id });

/** The VPP service, or 503 when this cloud does not run it. */
export const vppService = (d: { vpp?: VppService }) => () => {
  if (!d.vpp) throw new DomainError('unavailable', 'VPP service not running');
  return d.vpp;
};

export function vppRoutes(d: { registry: Registry; vpp?: VppService }): AnyRouteDef[] {
  const { registry } = d;
  const svc = vppService(d);
  const vppOr404 = (gid: string) => groupOr404(registry, gid, 'VPP/group');
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
      handler: async ({ body, res }) => {
        if (await registry.getGroup(body.id)) throw new DomainError('conflict', `group ${body.id} exists`);
        let sites: string[];
        try {
          sites = await svc().resolveSelection(body.select);
        } catch (err) {
          throw new DomainError('unprocessable', (err as Error).message);
        }
        // Before the group exists: a refused request leaves nothing behind, and no phantom sites.
        await requireKnownSites(registry, sites);
        await registry.createGroup({
          id: body.id,
          name: body.name,
          kind: 'vpp',
          description: body.description,
        });
        res.locals.sites = sites;
        return registry.setGroupSites(body.id, sites);
      },
      audit: {
        action: 'vpp.create',
        target: ({ body }) => body.id,
        // The resolved selection as it was resolved (the stored group lists its members its own way).
        detail: ({ body, res }) => ({ select: body.select, sites: res.locals.sites }),
      },
    }),
    route({
      method: 'get',
      path: '/vpps/:vpp',
      summary: 'One VPP (or any group) with its sites',
      tag: 'vpp',
      permission: 'site:read',
      scope: { group: 'vpp' },
      params: vppParams,
      handler: async ({ params }) => vppOr404(params.vpp),
    }),
    route({
      method: 'get',
      path: '/vpps/:vpp/aggregate',
      summary: 'Live aggregate: power at the meters and devices, stored energy, SoC weighted by capacity',
      tag: 'vpp',
      permission: 'site:read',
      scope: { group: 'vpp' },
      params: vppParams,
      handler: async ({ params }) => {
        const g = await vppOr404(params.vpp);
        return { vpp: g.id, ...(await svc().aggregate(g.sites)) };
      },
    }),
    route({
      method: 'get',
      path: '/vpps/:vpp/envelope',
      summary: 'Up/down flexibility now and per forecast interval',
      tag: 'vpp',
      permission: 'site:read',
      scope: { group: 'vpp' },
      params: vppParams,
      query: z.object({
        stepMinutes: z.coerce.number().int().min(1).max(1440).default(15),
        steps: z.coerce.number().int().min(1).max(672).default(16),
      }),
      handler: async ({ params, query }) => {
        const g = await vppOr404(params.vpp);
        return {
          vpp: g.id,
          ...(await svc().envelope(g.sites, { stepMs: query.stepMinutes * 60_000, steps: query.steps })),
        };
      },
    }),
  ];
}
