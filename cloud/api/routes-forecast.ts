import { z } from 'zod';
import type { ForecastService } from '../forecast-service/service.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';
import { groupOr404, siteOr404 } from './lookup.ts';
import { groupParams, siteParams } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

const forecastResponse = z.object({
  subject: z.enum(['site', 'group']),
  id: z.string(),
  kind: z.enum(['load', 'pv']),
  unit: z.literal('W'),
  issuedAt: z.number(),
  issuedAtIso: z.string(),
  modelVersion: z.string(),
  start: z.number(),
  stepMs: z.number(),
  members: z.number().nullable(),
  /** Outcome of the latest attempt (may be newer than this forecast, e.g. a failed re-run). */
  status: z.object({ status: z.string(), reason: z.string().nullable(), at: z.number() }).nullable(),
  intervals: z.array(
    z.object({ start: z.number(), mean: z.number(), p10: z.number(), p50: z.number(), p90: z.number() }),
  ),
  details: z.record(z.string(), z.unknown()),
});

/** GET /sites/:site/forecast and /groups/:group/forecast: the latest stored forecast. */
export function forecastRoutes(d: { registry: Registry; forecasts?: ForecastService }): AnyRouteDef[] {
  const query = z.object({ kind: z.enum(['load', 'pv']).default('load') });
  const serve = async (subject: 'site' | 'group', id: string, kind: 'load' | 'pv') => {
    if (!d.forecasts) throw new DomainError('unavailable', 'forecasting is not running in this cloud');
    const { forecast: f, status } = await d.forecasts.latest(subject, id, kind);
    if (!f) {
      // 409: the subject exists but its data cannot (yet) support a forecast; 404: none attempted.
      if (status && status.status !== 'ok')
        throw new DomainError(
          'conflict',
          `no ${kind} forecast for ${subject} ${id}: ${status.reason ?? status.status}`,
        );
      throw new DomainError(
        'not_found',
        `no ${kind} forecast for ${subject} ${id} yet (forecasts run on a schedule)`,
      );
    }
    return {
      subject,
      id,
      kind,
      unit: 'W' as const,
      issuedAt: f.issuedAt,
      issuedAtIso: new Date(f.issuedAt).toISOString(),
      modelVersion: f.modelVersion,
      start: f.start,
      stepMs: f.stepMs,
      members: f.members,
      status: status ? { status: status.status, reason: status.reason, at: status.at } : null,
      intervals: f.p50.map((_, i) => ({
        start: f.start + i * f.stepMs,
        mean: f.mean[i],
        p10: f.p10[i],
        p50: f.p50[i],
        p90: f.p90[i],
      })),
      details: f.details,
    };
  };
  return [
    route({
      method: 'get',
      path: '/sites/:site/forecast',
      summary: 'Latest load (consumption +) or PV forecast of a site, 15-minute P10/P50/P90 in W',
      tag: 'forecasts',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query,
      response: forecastResponse,
      handler: async ({ params, query: q }) => {
        await siteOr404(d.registry, params.site);
        return serve('site', params.site, q.kind);
      },
    }),
    route({
      method: 'get',
      path: '/groups/:group/forecast',
      summary: 'Latest aggregated load or PV forecast of a group (VPP, feeder, portfolio)',
      tag: 'forecasts',
      permission: 'site:read',
      scope: { group: 'group' },
      params: groupParams,
      query,
      response: forecastResponse,
      handler: async ({ params, query: q }) => {
        await groupOr404(d.registry, params.group);
        return serve('group', params.group, q.kind);
      },
    }),
  ];
}
