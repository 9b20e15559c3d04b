import { z } from 'zod';
import { type CommandPipeline, commandRequestSchema } from '../commands/pipeline.ts';
import { COMMAND_STATUSES, type Registry } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';
import { commandId, limit, siteParams } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';

const commandRecordSchema = z.object({
  id: z.string(),
  siteId: z.string(),
  deviceId: z.string().nullable(),
  type: z.string(),
  command: z.record(z.string(), z.unknown()),
  issuedAt: z.number(),
  expiresAt: z.number(),
  issuedBy: z.string(),
  status: z.enum(COMMAND_STATUSES),
  statusAt: z.number(),
  applied: z.record(z.string(), z.union([z.number(), z.boolean()])).nullable(),
  reason: z.string().nullable(),
});

/** Commands to sites: sent through the pipeline (which records them), then followed by id. */
export function commandRoutes(d: { registry: Registry; commands: CommandPipeline }): AnyRouteDef[] {
  const { registry } = d;
  return [
    route({
      method: 'post',
      path: '/sites/:site/commands',
      summary: 'Send a command to a site (or one of its devices); follow it with GET /commands/{id}',
      tag: 'commands',
      permission: 'command:send',
      scope: { site: 'site' },
      params: siteParams,
      body: commandRequestSchema,
      status: 202,
      response: commandRecordSchema,
      handler: async ({ params, body, principal }) => d.commands.send(params.site, body, principal.actor),
      // Refused commands are audited too: who tried to send what where, and why it was refused.
      auditRefusals: {
        action: 'command.rejected',
        target: (req) => String(req.params.site),
        on: ['invalid', 'scope', 'domain'],
        detail: ({ stage, reason, body }) => (stage === 'invalid' ? { reason } : { reason, request: body }),
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/commands',
      summary: 'Recent commands of a site, newest first',
      tag: 'commands',
      permission: 'site:read',
      scope: { site: 'site' },
      params: siteParams,
      query: z.object({ limit }),
      response: z.array(commandRecordSchema),
      handler: async ({ params, query }) => registry.listCommands(params.site, query.limit),
    }),
    route({
      method: 'get',
      path: '/commands/:id',
      summary: 'One command; with waitMs, long-polls until it is acknowledged, refused, expired or failed',
      tag: 'commands',
      permission: 'site:read',
      params: z.object({ id: commandId }),
      query: z.object({ waitMs: z.coerce.number().int().min(0).max(60_000).default(0) }),
      response: commandRecordSchema,
      handler: async ({ params, query, principal }) => {
        // Out of scope answers 404 like an unknown id: the id space is not an oracle.
        const c = await registry.getCommand(params.id);
        if (!c || !(await principal.canSite(c.siteId)))
          throw new DomainError('not_found', `unknown command ${params.id}`);
        return d.commands.waitFor(params.id, query.waitMs);
      },
    }),
  ];
}
