import { z } from 'zod';
import type { MarketService } from '../market/index.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { TariffStore } from '../storage/registry/tariffs.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import {
  cppEventInputSchema,
  tariffIdSchema,
  tariffVersionInputSchema,
  VOLTAGE_LEVELS,
} from '../tariffs/schema.ts';
import { billFor, compareBills, retailerSettlement } from '../tariffs/service.ts';
import type { Principal } from './auth.ts';
import { DomainError } from './errors.ts';
import { siteOr404 } from './lookup.ts';
import { id, siteParams, timeText } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

/**
 * Retail tariffs and bills. Anyone who may read sites may read tariffs (they are published); only
 * operators and users acting for a market organization of kind `retailer` (or the `utility`) may
 * define tariffs, post CPP events and assign sites. A bill is read through the site's scope: a
 * participant sees its own sites' bills only.
 */

const tag = 'tariffs';
const tariffParams = z.object({ tariff: tariffIdSchema });
const period = z.object({ from: timeText, to: timeText });
const voltageLevel = z.enum(VOLTAGE_LEVELS);
const AUTHOR_KINDS = new Set(['retailer', 'utility']);

const lineSchema = z.object({
  kind: z.enum(['energy', 'cpp', 'demand', 'fixed', 'export', 'network']),
  version: z.number(),
  id: z.string(),
  description: z.string(),
  from: z.number(),
  to: z.number(),
  quantity: z.number(),
  unit: z.enum(['kWh', 'kW', 'day', 'month']),
  rate: z.number(),
  fraction: z.number(),
  amountCents: z.number().int(),
});
const billSchema = z.object({
  site: z.string(),
  tariff: z.string(),
  from: z.number(),
  to: z.number(),
  versions: z.array(z.number()),
  importKwh: z.number(),
  exportKwh: z.number(),
  unmeasuredIntervals: z.number(),
  lines: z.array(lineSchema),
  totalCents: z.number().int(),
  notes: z.array(z.string()),
});

export function tariffRoutes(d: {
  registry: Registry;
  store: TimeSeriesStore;
  market?: MarketService;
}): AnyRouteDef[] {
  const tariffs = new TariffStore(d.registry.db);
  const deps = { registry: d.registry, store: d.store, tariffs, market: d.market };
  /** Operators, or a user acting for a retailer/utility organization of the market. */
  /** The retailer/utility organizations the user acts for ('all' for operators), or a 403. */
  const mayAuthor = (p: Principal): 'all' | string[] => {
    if (p.user.role === 'operator') return 'all';
    const orgs = (d.market?.actorsOf(p.user.id) ?? []).filter((o) =>
      AUTHOR_KINDS.has(d.market?.config.actors.get(o)?.kind ?? ''),
    );
    if (orgs.length) return orgs;
    throw new DomainError(
      'forbidden',
      `user ${p.user.id} (role ${p.user.role}) may not define tariffs: operators and retailers may`,
    );
  };
  /** A retailer changes only the tariffs it sells (the latest version names it); operators any. */
  const mustSell = (
    p: Principal,
    orgs: 'all' | string[],
    tariff: string,
    versions: readonly { retailer?: string }[],
  ) => {
    if (orgs === 'all' || !versions.length) return;
    const seller = versions[versions.length - 1].retailer;
    if (seller === undefined || !orgs.includes(seller))
      throw new DomainError(
        'forbidden',
        `user ${p.user.id} acts for ${orgs.join(', ')}; tariff ${tariff} is sold by ${seller ?? 'no retailer (an operator tariff)'}`,
      );
  };
  const tariffOr404 = async (t: string) => {
    const v = await tariffs.versions(t);
    if (!v.length) throw new DomainError('not_found', `unknown tariff ${t}`);
    return v;
  };
  return [
    route({
      method: 'get',
      path: '/tariffs',
      summary: 'Tariffs: each one’s latest version and how many versions it has',
      tag,
      permission: 'site:read',
      handler: async () => tariffs.list(),
    }),
    route({
      method: 'get',
      path: '/tariffs/:tariff',
      summary: 'A tariff’s versions with their validity [validFrom, validTo)',
      tag,
      permission: 'site:read',
      params: tariffParams,
      handler: async ({ params }) => ({ tariff: params.tariff, versions: await tariffOr404(params.tariff) }),
    }),
    route({
      method: 'post',
      path: '/tariffs/:tariff/versions',
      summary:
        'Add a tariff version (operators, retailers): it must start after the latest, which is cut to end where it begins',
      tag,
      permission: 'site:read',
      params: tariffParams,
      body: tariffVersionInputSchema,
      status: 201,
      handler: async ({ params, body, principal }) => {
        const orgs = mayAuthor(principal);
        // A retailer defines tariffs it sells on: its own organization, named or by default.
        if (orgs !== 'all' && body.retailer !== undefined && !orgs.includes(body.retailer))
          throw new DomainError(
            'forbidden',
            `user ${principal.user.id} acts for ${orgs.join(', ')}, not for retailer ${body.retailer}`,
          );
        mustSell(principal, orgs, params.tariff, await tariffs.versions(params.tariff));
        const retailer = body.retailer ?? (orgs === 'all' ? undefined : orgs[0]);
        return tariffs.addVersion(params.tariff, { ...body, ...(retailer && { retailer }) }, principal.actor);
      },
      audit: {
        action: 'tariff.version',
        target: ({ params }) => params.tariff,
        detail: (_c, out) => ({
          version: out.version,
          validFrom: out.validFrom,
          validTo: out.validTo ?? null,
        }),
      },
    }),
    route({
      method: 'get',
      path: '/tariffs/:tariff/cpp-events',
      summary: 'The tariff’s critical-peak events',
      tag,
      permission: 'site:read',
      params: tariffParams,
      handler: async ({ params }) => {
        await tariffOr404(params.tariff);
        return tariffs.cppEvents(params.tariff);
      },
    }),
    route({
      method: 'post',
      path: '/tariffs/:tariff/cpp-events',
      summary: 'Call a critical-peak event (operators, retailers); notifiedAt is when customers were told',
      tag,
      permission: 'site:read',
      params: tariffParams,
      body: z.intersection(cppEventInputSchema, z.object({ id })),
      status: 201,
      handler: async ({ params, body, principal }) => {
        const orgs = mayAuthor(principal);
        const v = await tariffOr404(params.tariff);
        mustSell(principal, orgs, params.tariff, v);
        if (!v.some((x) => x.cpp))
          throw new DomainError(
            'invalid',
            `tariff ${params.tariff} has no critical-peak pricing in any version`,
          );
        await tariffs.addCppEvent(params.tariff, body, principal.actor);
        return body;
      },
      audit: {
        action: 'tariff.cpp_event',
        target: ({ params }) => params.tariff,
        detail: ({ body }) => body,
      },
    }),
    route({
      method: 'put',
      path: '/sites/:site/tariff',
      summary: 'Put a site on a tariff, with its connection voltage level (operators, retailers)',
      tag,
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      body: z.object({ tariff: tariffIdSchema, voltageLevel: voltageLevel.optional() }),
      handler: async ({ params, body, principal }) => {
        const orgs = mayAuthor(principal);
        await siteOr404(d.registry, params.site);
        mustSell(principal, orgs, body.tariff, await tariffOr404(body.tariff));
        await tariffs.assign(params.site, body.tariff, body.voltageLevel ?? null, principal.actor);
        return (await tariffs.assignment(params.site))!;
      },
      audit: { action: 'site.tariff', target: ({ params }) => params.site, detail: ({ body }) => body },
    }),
    route({
      method: 'get',
      path: '/sites/:site/tariff',
      summary: 'The tariff the site is on',
      tag,
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      handler: async ({ params }) => {
        await siteOr404(d.registry, params.site);
        const a = await tariffs.assignment(params.site);
        if (!a) throw new DomainError('not_found', `site ${params.site} has no tariff assigned`);
        return a;
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/bill',
      summary:
        "The site's bill for [from, to) from its metered telemetry, under its tariff (or ?tariff=): lines with quantities, rates and amounts in cents",
      tag,
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: period.extend({ tariff: tariffIdSchema.optional(), voltageLevel: voltageLevel.optional() }),
      response: billSchema,
      handler: async ({ params, query }) => {
        await siteOr404(d.registry, params.site);
        return billFor(deps, { site: params.site, ...query });
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/bill-impact',
      summary:
        'Bill impact: the same site and period under several tariffs side by side (?tariffs=a,b,c; deltas against the first)',
      tag,
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: period.extend({
        tariffs: z
          .string()
          .transform((s) => s.split(',').filter(Boolean))
          .pipe(z.array(tariffIdSchema).min(1).max(20)),
        voltageLevel: voltageLevel.optional(),
      }),
      handler: async ({ params, query }) => {
        await siteOr404(d.registry, params.site);
        return compareBills(deps, { site: params.site, ...query });
      },
    }),
    route({
      method: 'get',
      path: '/retailers/:retailer/settlement',
      summary:
        "The retailer's settlement with the DMO per UTC day: its customers' bills against their metered energy at the DLMP",
      tag,
      permission: 'site:read',
      params: z.object({ retailer: id }),
      query: period,
      handler: async ({ params, query, principal }) => {
        const orgs = d.market?.actorsOf(principal.user.id) ?? [];
        const dmo = d.market?.config.roles.DMO;
        if (
          principal.user.role !== 'operator' &&
          !orgs.includes(params.retailer) &&
          !(dmo && orgs.includes(dmo))
        )
          throw new DomainError(
            'forbidden',
            `user ${principal.user.id} may not see retailer ${params.retailer}'s settlement (the retailer, the DMO and operators may)`,
          );
        return retailerSettlement(deps, { retailer: params.retailer, ...query });
      },
    }),
  ];
}
