import { z } from 'zod';
import { commissioningReportSchema } from '../../protocols/commissioning/report.ts';
import { hashSecret, newSecret } from '../auth/secrets.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';
import { siteOr404 } from './lookup.ts';
import { siteId, siteParams } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

const siteSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  feeder: z.string().nullable(),
  node: z.string().nullable(),
  contract: z.string().nullable(),
  status: z.string(),
  lastSeen: z.number().nullable(),
  agentVersion: z.string().nullable(),
  mode: z.string().nullable(),
  limits: z.record(z.string(), z.number()).nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
const gatewaySchema = z.object({ username: z.string(), password: z.string() });
const commissioningSchema = z.object({
  report: commissioningReportSchema,
  uploadedBy: z.string(),
  uploadedAt: z.number(),
});

/** Sites: pre-registration, what the edge cannot know, and the gateway's MQTT credentials. */
export function siteRoutes(d: {
  registry: Registry;
  /** Called after a gateway credential changes (the broker caches them). */
  credentialsChanged: (site: string) => void;
}): AnyRouteDef[] {
  const { registry } = d;
  /** The password is shown once; only its hash is stored. */
  const issueGatewayCredential = async (site: string) => {
    const secret = newSecret();
    await registry.setSiteCredential(site, hashSecret(secret));
    d.credentialsChanged(site);
    return { username: site, password: secret };
  };
  return [
    route({
      method: 'get',
      path: '/sites',
      summary: 'Sites the caller may see',
      tag: 'sites',
      permission: 'site:read',
      response: z.array(siteSchema),
      handler: async ({ principal }) => {
        const scope = await principal.sites();
        return registry.listSites(scope === 'all' ? undefined : [...scope]);
      },
    }),
    route({
      method: 'post',
      path: '/sites',
      summary: 'Pre-register a site and issue its gateway credentials (shown once)',
      tag: 'sites',
      permission: 'site:credentials',
      scope: { site: ({ body }) => body.id },
      body: z.object({ id: siteId, name: z.string().max(200).optional() }),
      status: 201,
      response: z.object({ site: siteSchema, gateway: gatewaySchema }),
      handler: async ({ body }) => {
        if (await registry.getSite(body.id)) throw new DomainError('conflict', `site ${body.id} exists`);
        const site = await registry.createSite(body.id, { name: body.name });
        return { site, gateway: await issueGatewayCredential(body.id) };
      },
      audit: [
        { action: 'site.create', target: ({ body }) => body.id, detail: ({ body }) => ({ name: body.name }) },
        { action: 'site.credentials', target: ({ body }) => body.id },
      ],
    }),
    route({
      method: 'get',
      path: '/sites/:site',
      summary: 'One site',
      tag: 'sites',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      response: siteSchema,
      handler: async ({ params }) => siteOr404(registry, params.site),
    }),
    route({
      method: 'patch',
      path: '/sites/:site',
      summary: 'Edit what the edge cannot know: name, feeder, node, contract',
      tag: 'sites',
      permission: 'site:write',
      scope: { site: 'site' },
      params: siteParams,
      body: z
        .object({
          name: z.string().max(200).nullable(),
          feeder: z.string().max(100).nullable(),
          node: z.string().max(100).nullable(),
          contract: z.string().max(200).nullable(),
        })
        .partial()
        .strict(),
      response: siteSchema,
      handler: async ({ params, body }) => {
        await siteOr404(registry, params.site);
        return registry.patchSite(params.site, body);
      },
      audit: { action: 'site.update', target: ({ params }) => params.site, detail: ({ body }) => body },
    }),
    route({
      method: 'post',
      path: '/sites/:site/credentials',
      summary: 'Issue (rotate) the gateway credentials of a site; the password is shown once',
      tag: 'sites',
      permission: 'site:credentials',
      scope: { site: 'site' },
      params: siteParams,
      status: 201,
      response: gatewaySchema,
      handler: async ({ params }) => {
        await siteOr404(registry, params.site);
        return issueGatewayCredential(params.site);
      },
      audit: { action: 'site.credentials', target: ({ params }) => params.site },
    }),
    route({
      method: 'put',
      path: '/sites/:site/commissioning',
      summary:
        "Store the site's commissioning report (gridlayer commission --upload); replaces the previous one",
      tag: 'sites',
      permission: 'site:write',
      scope: { site: 'site' },
      params: siteParams,
      body: commissioningReportSchema,
      response: commissioningSchema,
      handler: async ({ params, body, principal }) => {
        await siteOr404(registry, params.site);
        const at = Date.now();
        await registry.putCommissioningReport(params.site, body, principal.actor, at);
        return { report: body, uploadedBy: principal.actor, uploadedAt: at };
      },
      audit: {
        action: 'site.commissioning',
        target: ({ params }) => params.site,
        detail: ({ body }) => ({ at: body.at, devices: body.devices.length }),
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/commissioning',
      summary: "The site's latest commissioning report: devices found, test writes, live values read",
      tag: 'sites',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      response: commissioningSchema,
      handler: async ({ params }) => {
        await siteOr404(registry, params.site);
        const r = await registry.getCommissioningReport(params.site);
        if (!r) throw new DomainError('not_found', `site ${params.site} has no commissioning report yet`);
        return r as z.infer<typeof commissioningSchema>;
      },
    }),
  ];
}
