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

const errors = z.object({ mae: z.number(), rmse: z.number() });
/** Skills are null where the baseline was exact and the model was not (−∞). */
const skill = z.number().nullable();
const scoresResponse = z.object({
  subject: z.enum(['site', 'group']),
  id: z.string(),
  kind: z.enum(['load', 'pv']),
  unit: z.literal('W'),
  windowDays: z.number(),
  from: z.number(),
  to: z.number(),
  /** One entry per model version scored in the window, latest first. */
  models: z.array(
    z.object({
      modelVersion: z.string(),
      forecasts: z.number(),
      firstIssue: z.number(),
      lastIssue: z.number(),
      served: z.object({ model: z.number(), persistence_1d: z.number(), persistence_7d: z.number() }),
      metrics: z
        .object({
          intervals: z.number(),
          mae: z.number(),
          rmse: z.number(),
          nmae: z.number().nullable(),
          baselines: z.object({ persistence_1d: errors, persistence_7d: errors }),
          skill_1d: skill,
          skill_7d: skill,
          better_baseline: z.enum(['persistence_1d', 'persistence_7d']),
          skill,
          pinball: z.object({ p10: z.number(), p50: z.number(), p90: z.number(), mean: z.number() }),
          coverage: z.object({
            below_p10: z.number(),
            below_p50: z.number(),
            below_p90: z.number(),
            p10_p90: z.number(),
          }),
        })
        .nullable(),
    }),
  ),
  /** Verdict on the latest model over the configured scoring window (flagged: served a baseline). */
  assessment: z.object({
    modelVersion: z.string().nullable(),
    windowDays: z.number(),
    intervals: z.number(),
    minIntervals: z.number(),
    skill: z.number().nullable(),
    betterBaseline: z.enum(['persistence_1d', 'persistence_7d']).nullable(),
    flagged: z.boolean(),
    reason: z.string(),
  }),
});

const finiteOrNull = (x: number | null) => (x !== null && Number.isFinite(x) ? x : null);

type Deps = { registry: Registry; forecasts?: ForecastService };
type Subject = 'site' | 'group';
type Kind = 'load' | 'pv';
type Series = { start: number; stepMs: number; mean: number[]; p10: number[]; p50: number[]; p90: number[] };

const kindQuery = z.object({ kind: z.enum(['load', 'pv']).default('load') });
const scoresQuery = kindQuery.extend({ days: z.coerce.number().int().min(1).max(400).optional() });
const intradayQuery = kindQuery.extend({
  horizonMinutes: z.coerce.number().int().min(5).max(360).default(360),
});

function running(d: Deps): ForecastService {
  if (!d.forecasts) throw new DomainError('unavailable', 'forecasting is not running in this cloud');
  return d.forecasts;
}

const intervals = (f: Series) =>
  f.p50.map((_, i) => ({
    start: f.start + i * f.stepMs,
    mean: f.mean[i],
    p10: f.p10[i],
    p50: f.p50[i],
    p90: f.p90[i],
  }));

/** The latest stored forecast of a site or group; 409 when its last attempt failed, 404 when none ran. */
async function latestForecast(d: Deps, subject: Subject, id: string, kind: Kind) {
  const { forecast: f, status } = await running(d).latest(subject, id, kind);
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
    intervals: intervals(f),
    details: f.details,
  };
}

/** Scores with non-finite skills (the baseline was exact and the model was not) as null. */
async function forecastScores(d: Deps, subject: Subject, id: string, q: z.infer<typeof scoresQuery>) {
  const r = await running(d).scores(subject, id, q.kind, { days: q.days });
  return {
    ...r,
    unit: 'W' as const,
    models: r.models.map((m) => ({
      ...m,
      metrics: m.metrics && {
        ...m.metrics,
        nmae: finiteOrNull(m.metrics.nmae),
        skill_1d: finiteOrNull(m.metrics.skill_1d),
        skill_7d: finiteOrNull(m.metrics.skill_7d),
        skill: finiteOrNull(m.metrics.skill),
      },
    })),
    assessment: { ...r.assessment, skill: finiteOrNull(r.assessment.skill) },
  };
}

/** The intraday update of a site's latest stored forecast. */
async function intradayForecast(d: Deps, site: string, q: z.infer<typeof intradayQuery>) {
  const r = await running(d).intraday(site, q.kind, { horizonMs: q.horizonMinutes * 60_000 });
  if (!r)
    throw new DomainError(
      'conflict',
      `no stored ${q.kind} forecast of site ${site} covers the next ${q.horizonMinutes} min (forecasts run on a schedule)`,
    );
  const f = r.forecast;
  return {
    subject: 'site' as const,
    id: site,
    kind: q.kind,
    unit: 'W' as const,
    issuedAt: f.issuedAt,
    issuedAtIso: new Date(f.issuedAt).toISOString(),
    modelVersion: f.modelVersion,
    start: f.start,
    stepMs: f.stepMs,
    members: null,
    status: null,
    intervals: intervals(f),
    details: f.details,
  };
}

function scoreRoutes(d: Deps): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/sites/:site/forecast/scores',
      summary:
        'Scores of the site forecasts issued in the last `days`: MAE, RMSE, skill vs day-ahead and weekly persistence, pinball loss, quantile coverage, per model version; and whether the model is flagged',
      tag: 'forecasts',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: scoresQuery,
      response: scoresResponse,
      handler: async ({ params, query: q }) => {
        await siteOr404(d.registry, params.site);
        return forecastScores(d, 'site', params.site, q);
      },
    }),
    route({
      method: 'get',
      path: '/groups/:group/forecast/scores',
      summary: 'Scores of the group forecasts issued in the last `days` (actuals: sum of the member sites)',
      tag: 'forecasts',
      permission: 'site:read',
      scope: { group: 'group' },
      params: groupParams,
      query: scoresQuery,
      response: scoresResponse,
      handler: async ({ params, query: q }) => {
        await groupOr404(d.registry, params.group);
        return forecastScores(d, 'group', params.group, q);
      },
    }),
  ];
}

function intradayRoute(d: Deps): AnyRouteDef {
  return route({
    method: 'get',
    path: '/sites/:site/forecast/intraday',
    summary:
      'Intraday update of the latest site forecast with the last two hours of telemetry: 5-minute P10/P50/P90 in W from the interval in progress, up to 6 h ahead',
    tag: 'forecasts',
    permission: 'site:read',
    scope: { site: 'site' },
    params: siteParams,
    query: intradayQuery,
    response: forecastResponse,
    handler: async ({ params, query: q }) => {
      await siteOr404(d.registry, params.site);
      return intradayForecast(d, params.site, q);
    },
  });
}

function latestRoutes(d: Deps): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/sites/:site/forecast',
      summary: 'Latest load (consumption +) or PV forecast of a site, 15-minute P10/P50/P90 in W',
      tag: 'forecasts',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: kindQuery,
      response: forecastResponse,
      handler: async ({ params, query: q }) => {
        await siteOr404(d.registry, params.site);
        return latestForecast(d, 'site', params.site, q.kind);
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
      query: kindQuery,
      response: forecastResponse,
      handler: async ({ params, query: q }) => {
        await groupOr404(d.registry, params.group);
        return latestForecast(d, 'group', params.group, q.kind);
      },
    }),
  ];
}

/**
 * GET /sites/:site/forecast and /groups/:group/forecast: the latest stored forecast;
 * GET …/forecast/scores: how the issued forecasts did against the actuals and persistence;
 * GET /sites/:site/forecast/intraday: the latest forecast updated with the last two hours.
 */
export function forecastRoutes(d: Deps): AnyRouteDef[] {
  return [...scoreRoutes(d), intradayRoute(d), ...latestRoutes(d)];
}
