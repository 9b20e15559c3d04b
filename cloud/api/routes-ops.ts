import { z } from 'zod';
import type { Metrics } from '../metrics.ts';
import { type AnyRouteDef, route } from './route.ts';

/** Operations: health for load balancers, Prometheus metrics. (/openapi.json is served by server.ts.) */
export function opsRoutes(d: {
  metrics: Metrics;
  health: () => Promise<{ ok: boolean; checks: Record<string, boolean> }>;
}): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/health',
      summary: 'Service health (storage, broker)',
      tag: 'operations',
      permission: null,
      response: z.object({ status: z.enum(['ok', 'degraded']), checks: z.record(z.string(), z.boolean()) }),
      handler: async ({ res }) => {
        const h = await d.health();
        res.status(h.ok ? 200 : 503).json({ status: h.ok ? 'ok' : 'degraded', checks: h.checks });
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format); operators and the monitor role',
      tag: 'operations',
      permission: 'metrics:read',
      handler: async ({ res }) => {
        res.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
      },
    }),
  ];
}
