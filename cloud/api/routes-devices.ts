import { z } from 'zod';
import type { Registry } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';
import { siteOr404 } from './lookup.ts';
import { id, siteId, siteParams } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

const deviceSchema = z.object({
  siteId: z.string(),
  id: z.string(),
  kind: z.string(),
  protocol: z.string(),
  manufacturer: z.string().nullable(),
  model: z.string().nullable(),
  serial: z.string().nullable(),
  firmware: z.string().nullable(),
  nameplate: z.record(z.string(), z.number()),
  controls: z.array(z.string()),
  models: z.array(z.number()).nullable(),
  node: z.string().nullable(),
  updatedAt: z.number(),
});
const deviceParams = z.object({ site: siteId, device: id });

/** Devices of a site: self-registered by the edge from its capabilities; the node is the operator's. */
export function deviceRoutes({ registry }: { registry: Registry }): AnyRouteDef[] {
  const deviceOr404 = async (site: string, device: string) => {
    const dev = await registry.getDevice(site, device);
    if (!dev) throw new DomainError('not_found', `unknown device ${device}`);
    return dev;
  };
  return [
    route({
      method: 'get',
      path: '/sites/:site/devices',
      summary: 'Devices of a site (self-registered from capabilities)',
      tag: 'devices',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      response: z.array(deviceSchema),
      handler: async ({ params }) => {
        await siteOr404(registry, params.site);
        return registry.listDevices(params.site);
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/devices/:device',
      summary: 'One device',
      tag: 'devices',
      permission: 'site:read',
      scope: { site: 'site' },
      params: deviceParams,
      response: deviceSchema,
      handler: async ({ params }) => deviceOr404(params.site, params.device),
    }),
    route({
      method: 'patch',
      path: '/sites/:site/devices/:device',
      summary: 'Assign a device to a network node',
      tag: 'devices',
      permission: 'site:write',
      scope: { site: 'site' },
      params: deviceParams,
      body: z.object({ node: z.string().max(100).nullable() }).strict(),
      response: deviceSchema,
      handler: async ({ params, body }) => {
        await deviceOr404(params.site, params.device);
        return registry.patchDevice(params.site, params.device, body);
      },
      audit: {
        action: 'device.update',
        target: ({ params }) => params.site,
        detail: ({ params, body }) => ({ device: params.device, ...body }),
      },
    }),
  ];
}
