import { z } from 'zod';
import type { Registry } from '../storage/registry/registry.ts';
import { limit, timeText } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

/** The audit log: who changed what, and who was refused what. */
export function auditRoutes({ registry }: { registry: Registry }): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/audit',
      summary: 'Audit log (oldest first)',
      tag: 'audit',
      permission: 'audit:read',
      query: z.object({
        since: timeText.optional(),
        target: z.string().max(64).optional(),
        action: z.string().max(64).optional(),
        limit,
      }),
      response: z.array(
        z.object({
          id: z.string(),
          ts: z.number(),
          actor: z.string(),
          action: z.string(),
          target: z.string().nullable(),
          detail: z.unknown(),
        }),
      ),
      handler: async ({ query }) => registry.listAudit(query),
    }),
  ];
}
