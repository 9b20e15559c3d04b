import { z } from 'zod';
import type { Registry } from '../storage/registry/registry.ts';
import { aggregate } from '../storage/timeseries/aggregate.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { DomainError } from './errors.ts';
import { groupOr404, requireKnownSites } from './lookup.ts';
import { aggregateQuery, bucketWindow, groupParams, id, siteId } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';
import { aggregateSchema } from './routes-telemetry.ts';

const groupSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.string(),
  description: z.string().nullable(),
  createdAt: z.number(),
  sites: z.array(z.string()),
});
const kind = z.enum(['vpp', 'feeder', 'portfolio', 'other']);
const sites = z.array(siteId).max(100_000);

/** Groups of sites (VPPs, feeders, portfolios): membership and group totals. */
export function groupRoutes({
  registry,
  store,
}: {
  registry: Registry;
  store: TimeSeriesStore;
}): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/groups',
      summary: 'Groups (VPPs, feeders, portfolios) the caller may see',
      tag: 'groups',
      permission: 'site:read',
      response: z.array(groupSchema),
      handler: async ({ principal }) => {
        const g = principal.groups();
        return registry.listGroups(g === 'all' ? undefined : [...g]);
      },
    }),
    route({
      method: 'post',
      path: '/groups',
      summary: 'Create a group',
      tag: 'groups',
      permission: 'group:write',
      body: z.object({
        id,
        name: z.string().min(1).max(200),
        kind,
        description: z.string().max(1000).optional(),
        sites: sites.optional(),
      }),
      status: 201,
      response: groupSchema,
      handler: async ({ body }) => {
        if (await registry.getGroup(body.id)) throw new DomainError('conflict', `group ${body.id} exists`);
        const { sites, ...g } = body;
        // Checked before the group exists, so a refused request leaves nothing behind.
        if (sites) await requireKnownSites(registry, sites);
        await registry.createGroup(g);
        if (sites) await registry.setGroupSites(body.id, sites);
        return registry.getGroup(body.id);
      },
      audit: { action: 'group.create', target: ({ body }) => body.id, detail: ({ body }) => body },
    }),
    route({
      method: 'get',
      path: '/groups/:group',
      summary: 'One group with its sites',
      tag: 'groups',
      permission: 'site:read',
      scope: { group: 'group' },
      params: groupParams,
      response: groupSchema,
      handler: async ({ params }) => groupOr404(registry, params.group),
    }),
    route({
      method: 'patch',
      path: '/groups/:group',
      summary: 'Edit a group',
      tag: 'groups',
      permission: 'group:write',
      params: groupParams,
      body: z
        .object({ name: z.string().min(1).max(200), kind, description: z.string().max(1000).nullable() })
        .partial()
        .strict(),
      response: groupSchema,
      handler: async ({ params, body }) => {
        await groupOr404(registry, params.group);
        return registry.patchGroup(params.group, body);
      },
      audit: { action: 'group.update', target: ({ params }) => params.group, detail: ({ body }) => body },
    }),
    route({
      method: 'put',
      path: '/groups/:group/sites',
      summary: 'Replace the membership of a group',
      tag: 'groups',
      permission: 'group:write',
      params: groupParams,
      body: z.object({ sites }),
      response: groupSchema,
      handler: async ({ params, body }) => {
        await groupOr404(registry, params.group);
        await requireKnownSites(registry, body.sites);
        return registry.setGroupSites(params.group, body.sites);
      },
      audit: { action: 'group.members', target: ({ params }) => params.group, detail: ({ body }) => body },
    }),
    route({
      method: 'get',
      path: '/groups/:group/aggregate',
      summary: 'Group total of one point per bucket (sum over its sites of device means)',
      tag: 'groups',
      permission: 'site:read',
      scope: { group: 'group' },
      params: groupParams,
      query: aggregateQuery,
      response: aggregateSchema,
      handler: async ({ params, query }) => {
        const g = await groupOr404(registry, params.group);
        return aggregate(store, {
          sites: g.sites,
          devices: query.devices,
          point: query.point,
          ...bucketWindow(query),
        });
      },
    }),
  ];
}
