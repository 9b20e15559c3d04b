import { z } from 'zod';
import { aggregate } from '../storage/timeseries/aggregate.ts';
import { QUARANTINE_REASONS, type TimeSeriesStore } from '../storage/timeseries/types.ts';
import {
  aggregateQuery,
  bucketSeconds,
  bucketWindow,
  id,
  list,
  point,
  siteParams,
  timeText,
} from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

const latestSchema = z.array(
  z.object({
    device: z.string(),
    point: z.string(),
    ts: z.number(),
    value: z.number(),
    quality: z.string().optional(),
  }),
);
const bucketSchema = z.array(
  z.object({
    site: z.string(),
    device: z.string(),
    point: z.string(),
    t: z.number(),
    mean: z.number(),
    min: z.number(),
    max: z.number(),
    count: z.number(),
  }),
);
/** Sum over series of their bucket means (sites and groups). */
export const aggregateSchema = z.array(
  z.object({ t: z.number(), sum: z.number(), min: z.number(), max: z.number(), series: z.number() }),
);
const historyQuery = z.object({
  from: timeText,
  to: timeText.optional(),
  bucket: bucketSeconds(60),
  points: list(point).optional(),
  devices: list(id).optional(),
});

const quarantineQuery = z.object({
  reason: z.enum(QUARANTINE_REASONS).optional(),
  from: timeText.optional(),
  to: timeText.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});
const quarantineSchema = z.object({
  /** All matching rows (items is at most `limit` of them). */
  count: z.number(),
  items: z.array(
    z.object({
      key: z.string(),
      site: z.string(),
      device: z.string().optional(),
      point: z.string().optional(),
      ts: z.number().optional(),
      raw: z.string(),
      reason: z.enum(QUARANTINE_REASONS),
      detail: z.string(),
      schema: z.number().optional(),
      seq: z.number().optional(),
      receivedMs: z.number(),
    }),
  ),
});

/** Telemetry of one site: latest values, quarantined samples, downsampled history, site totals. */
export function telemetryRoutes({ store }: { store: TimeSeriesStore }): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/sites/:site/telemetry/latest',
      summary: 'Latest value of every point of every device of a site',
      tag: 'telemetry',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      response: latestSchema,
      handler: async ({ params }) => store.latest(params.site),
    }),
    route({
      method: 'get',
      path: '/sites/:site/telemetry/quarantine',
      summary:
        'Telemetry the gateway sent that was acknowledged but not stored (unknown point, from the future, implausible, unreadable), as received, with the reason; newest first',
      tag: 'telemetry',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: quarantineQuery,
      response: quarantineSchema,
      handler: async ({ params, query }) => {
        const q = { site: params.site, reason: query.reason, from: query.from, to: query.to };
        return {
          count: await store.quarantineCount(q),
          items: await store.quarantined({ ...q, limit: query.limit }),
        };
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/telemetry/history',
      summary: 'History downsampled to mean/min/max/count per bucket',
      tag: 'telemetry',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: historyQuery,
      response: bucketSchema,
      handler: async ({ params, query }) =>
        store.range({
          sites: [params.site],
          devices: query.devices,
          points: query.points,
          ...bucketWindow(query),
        }),
    }),
    route({
      method: 'get',
      path: '/sites/:site/telemetry/aggregate',
      summary: 'Site total of one point per bucket (sum of device means)',
      tag: 'telemetry',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: aggregateQuery,
      response: aggregateSchema,
      handler: async ({ params, query }) =>
        aggregate(store, {
          sites: [params.site],
          devices: query.devices,
          point: query.point,
          ...bucketWindow(query),
        }),
    }),
  ];
}
