import { z } from 'zod';
import { CANONICAL_POINT_NAMES } from '../../protocols/canonical/points.ts';
import { SITE_ID_PATTERN } from '../../protocols/mqtt/topics.ts';
import { ROLES } from '../auth/roles.ts';
import { formatApiToken, hashSecret, newId, newSecret } from '../auth/secrets.ts';
import { CommandError, type CommandPipeline, commandRequestSchema } from '../commands/pipeline.ts';
import type { ForecastService } from '../forecast-service/service.ts';
import type { GridService } from '../grid/service.ts';
import type { MarketService } from '../market/index.ts';
import type { Metrics } from '../metrics.ts';
import { COMMAND_STATUSES, type Registry, UnknownSitesError } from '../storage/registry/registry.ts';
import { aggregate } from '../storage/timeseries/aggregate.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import { QUARANTINE_REASONS } from '../storage/timeseries/types.ts';
import type { VppService } from '../vpp/service.ts';
import type { Principal } from './auth.ts';
import { type AnyRouteDef, HttpError, route } from './route.ts';

export interface ApiDeps {
  registry: Registry;
  store: TimeSeriesStore;
  commands: CommandPipeline;
  metrics: Metrics;
  health: () => Promise<{ ok: boolean; checks: Record<string, boolean> }>;
  /** Token lifetimes and the failed-auth throttle (the `auth:` config). */
  auth: {
    tokenDefaultTtlSeconds: number;
    tokenMaxTtlSeconds: number;
    throttle: { maxFailures: number; windowSeconds: number };
  };
  /** Called after a gateway credential changes (the broker caches them). */
  credentialsChanged: (site: string) => void;
  market?: MarketService;
  forecasts?: ForecastService;
  grid?: GridService;
  vpp?: VppService;
}

const siteId = z.string().regex(SITE_ID_PATTERN);
const id = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);
/** Epoch ms or ISO 8601. */
const time = z
  .string()
  .refine((s) => /^\d+$/.test(s) || !Number.isNaN(Date.parse(s)), 'epoch ms or ISO 8601 time')
  .transform((s) => (/^\d+$/.test(s) ? Number(s) : Date.parse(s)));
const point = z.enum(CANONICAL_POINT_NAMES as [string, ...string[]]);
const list = (item: z.ZodType<string, string>) =>
  z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(item));

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
const groupSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.string(),
  description: z.string().nullable(),
  createdAt: z.number(),
  sites: z.array(z.string()),
});
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
const aggregateSchema = z.array(
  z.object({ t: z.number(), sum: z.number(), min: z.number(), max: z.number(), series: z.number() }),
);
const scopeSchema = z.object({ kind: z.enum(['all', 'site', 'group']), target: z.string().default('*') });
const userSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  createdAt: z.number(),
  scopes: z.array(scopeSchema),
});

const tokenSchema = z.object({
  id: z.string(),
  userId: z.string(),
  label: z.string().nullable(),
  createdAt: z.number(),
  createdBy: z.string().nullable(),
  /** null: never expires (the bootstrap token). */
  expiresAt: z.number().nullable(),
  lastUsed: z.number().nullable(),
  revokedAt: z.number().nullable(),
});

const historyQuery = z.object({
  from: time,
  to: time.optional(),
  /** Bucket width in seconds. */
  bucket: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400 * 31)
    .default(60),
  points: list(point).optional(),
  devices: list(id).optional(),
});
const aggregateQuery = z.object({
  point: point.default('w'),
  from: time,
  to: time.optional(),
  bucket: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400 * 31)
    .default(300),
  devices: list(id).optional(),
});
/** Guards the stores against a query that would return millions of buckets. */
const MAX_BUCKETS = 100_000;
const quarantineQuery = z.object({
  reason: z.enum(QUARANTINE_REASONS).optional(),
  from: time.optional(),
  to: time.optional(),
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

function window(q: { from: number; to?: number; bucket: number }) {
  const to = q.to ?? Date.now();
  if (to <= q.from) throw new HttpError(400, 'to must be after from');
  if ((to - q.from) / (q.bucket * 1000) > MAX_BUCKETS)
    throw new HttpError(400, `too many buckets: widen bucket or shorten the range (max ${MAX_BUCKETS})`);
  return { from: q.from, to, bucketMs: q.bucket * 1000 };
}

/** 400 naming the ids that are not registered sites: a group never creates phantom sites. */
export async function requireKnownSites(registry: Registry, sites: string[]) {
  const unknown = await registry.unknownSites(sites);
  if (unknown.length) throw new HttpError(400, new UnknownSitesError(unknown).message);
}

async function requireSite(p: Principal, site: string) {
  if (!(await p.canSite(site))) throw new HttpError(403, `not authorized for site ${site}`);
}
function requireGroup(p: Principal, group: string) {
  const g = p.groups();
  if (g !== 'all' && !g.has(group)) throw new HttpError(403, `not authorized for group ${group}`);
}

export function buildRoutes(d: ApiDeps): AnyRouteDef[] {
  const { registry, store } = d;
  const siteParams = z.object({ site: siteId });
  const getSiteOr404 = async (site: string) => {
    const s = await registry.getSite(site);
    if (!s) throw new HttpError(404, `unknown site ${site}`);
    return s;
  };
  const issueGatewayCredential = async (site: string, actor: string) => {
    const secret = newSecret();
    await registry.setSiteCredential(site, hashSecret(secret));
    d.credentialsChanged(site);
    await registry.audit(actor, 'site.credentials', site);
    return { username: site, password: secret };
  };

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
    route({
      method: 'get',
      path: '/me',
      summary: 'The caller: user, role and scopes',
      tag: 'auth',
      permission: 'site:read',
      response: userSchema,
      handler: async ({ principal }) => principal.user,
    }),

    // --- sites ---
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
      body: z.object({ id: siteId, name: z.string().max(200).optional() }),
      status: 201,
      response: z.object({
        site: siteSchema,
        gateway: z.object({ username: z.string(), password: z.string() }),
      }),
      handler: async ({ body, principal }) => {
        if (principal.user.role !== 'operator' && !(await principal.canSite(body.id)))
          throw new HttpError(403, `not authorized for site ${body.id}`);
        if (await registry.getSite(body.id)) throw new HttpError(409, `site ${body.id} exists`);
        const site = await registry.createSite(body.id, { name: body.name });
        await registry.audit(principal.actor, 'site.create', body.id, { name: body.name });
        return { site, gateway: await issueGatewayCredential(body.id, principal.actor) };
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site',
      summary: 'One site',
      tag: 'sites',
      permission: 'site:read',
      params: siteParams,
      response: siteSchema,
      handler: async ({ params, principal }) => {
        await requireSite(principal, params.site);
        return getSiteOr404(params.site);
      },
    }),
    route({
      method: 'patch',
      path: '/sites/:site',
      summary: 'Edit what the edge cannot know: name, feeder, node, contract',
      tag: 'sites',
      permission: 'site:write',
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
      handler: async ({ params, body, principal }) => {
        await requireSite(principal, params.site);
        await getSiteOr404(params.site);
        const s = await registry.patchSite(params.site, body);
        await registry.audit(principal.actor, 'site.update', params.site, body);
        return s;
      },
    }),
    route({
      method: 'post',
      path: '/sites/:site/credentials',
      summary: 'Issue (rotate) the gateway credentials of a site; the password is shown once',
      tag: 'sites',
      permission: 'site:credentials',
      params: siteParams,
      status: 201,
      response: z.object({ username: z.string(), password: z.string() }),
      handler: async ({ params, principal }) => {
        await requireSite(principal, params.site);
        await getSiteOr404(params.site);
        return issueGatewayCredential(params.site, principal.actor);
      },
    }),

    // --- devices ---
    route({
      method: 'get',
      path: '/sites/:site/devices',
      summary: 'Devices of a site (self-registered from capabilities)',
      tag: 'devices',
      permission: 'site:read',
      params: siteParams,
      response: z.array(deviceSchema),
      handler: async ({ params, principal }) => {
        await requireSite(principal, params.site);
        await getSiteOr404(params.site);
        return registry.listDevices(params.site);
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/devices/:device',
      summary: 'One device',
      tag: 'devices',
      permission: 'site:read',
      params: z.object({ site: siteId, device: id }),
      response: deviceSchema,
      handler: async ({ params, principal }) => {
        await requireSite(principal, params.site);
        const dev = await registry.getDevice(params.site, params.device);
        if (!dev) throw new HttpError(404, `unknown device ${params.device}`);
        return dev;
      },
    }),
    route({
      method: 'patch',
      path: '/sites/:site/devices/:device',
      summary: 'Assign a device to a network node',
      tag: 'devices',
      permission: 'site:write',
      params: z.object({ site: siteId, device: id }),
      body: z.object({ node: z.string().max(100).nullable() }).strict(),
      response: deviceSchema,
      handler: async ({ params, body, principal }) => {
        await requireSite(principal, params.site);
        if (!(await registry.getDevice(params.site, params.device)))
          throw new HttpError(404, `unknown device ${params.device}`);
        const dev = await registry.patchDevice(params.site, params.device, body);
        await registry.audit(principal.actor, 'device.update', params.site, {
          device: params.device,
          ...body,
        });
        return dev;
      },
    }),

    // --- telemetry ---
    route({
      method: 'get',
      path: '/sites/:site/telemetry/latest',
      summary: 'Latest value of every point of every device of a site',
      tag: 'telemetry',
      permission: 'site:read',
      params: siteParams,
      response: latestSchema,
      handler: async ({ params, principal }) => {
        await requireSite(principal, params.site);
        return store.latest(params.site);
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/telemetry/quarantine',
      summary:
        'Telemetry the gateway sent that was acknowledged but not stored (unknown point, from the future, implausible, unreadable), as received, with the reason; newest first',
      tag: 'telemetry',
      permission: 'site:read',
      params: siteParams,
      query: quarantineQuery,
      response: quarantineSchema,
      handler: async ({ params, query, principal }) => {
        await requireSite(principal, params.site);
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
      params: siteParams,
      query: historyQuery,
      response: bucketSchema,
      handler: async ({ params, query, principal }) => {
        await requireSite(principal, params.site);
        return store.range({
          sites: [params.site],
          devices: query.devices,
          points: query.points,
          ...window(query),
        });
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/telemetry/aggregate',
      summary: 'Site total of one point per bucket (sum of device means)',
      tag: 'telemetry',
      permission: 'site:read',
      params: siteParams,
      query: aggregateQuery,
      response: aggregateSchema,
      handler: async ({ params, query, principal }) => {
        await requireSite(principal, params.site);
        return aggregate(store, {
          sites: [params.site],
          devices: query.devices,
          point: query.point,
          ...window(query),
        });
      },
    }),

    // --- groups ---
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
        kind: z.enum(['vpp', 'feeder', 'portfolio', 'other']),
        description: z.string().max(1000).optional(),
        sites: z.array(siteId).max(100_000).optional(),
      }),
      status: 201,
      response: groupSchema,
      handler: async ({ body, principal }) => {
        if (await registry.getGroup(body.id)) throw new HttpError(409, `group ${body.id} exists`);
        const { sites, ...g } = body;
        // Checked before the group exists, so a refused request leaves nothing behind.
        if (sites) await requireKnownSites(registry, sites);
        await registry.createGroup(g);
        if (sites) await registry.setGroupSites(body.id, sites);
        await registry.audit(principal.actor, 'group.create', body.id, body);
        return registry.getGroup(body.id);
      },
    }),
    route({
      method: 'get',
      path: '/groups/:group',
      summary: 'One group with its sites',
      tag: 'groups',
      permission: 'site:read',
      params: z.object({ group: id }),
      response: groupSchema,
      handler: async ({ params, principal }) => {
        requireGroup(principal, params.group);
        const g = await registry.getGroup(params.group);
        if (!g) throw new HttpError(404, `unknown group ${params.group}`);
        return g;
      },
    }),
    route({
      method: 'patch',
      path: '/groups/:group',
      summary: 'Edit a group',
      tag: 'groups',
      permission: 'group:write',
      params: z.object({ group: id }),
      body: z
        .object({
          name: z.string().min(1).max(200),
          kind: z.enum(['vpp', 'feeder', 'portfolio', 'other']),
          description: z.string().max(1000).nullable(),
        })
        .partial()
        .strict(),
      response: groupSchema,
      handler: async ({ params, body, principal }) => {
        if (!(await registry.getGroup(params.group)))
          throw new HttpError(404, `unknown group ${params.group}`);
        const g = await registry.patchGroup(params.group, body);
        await registry.audit(principal.actor, 'group.update', params.group, body);
        return g;
      },
    }),
    route({
      method: 'put',
      path: '/groups/:group/sites',
      summary: 'Replace the membership of a group',
      tag: 'groups',
      permission: 'group:write',
      params: z.object({ group: id }),
      body: z.object({ sites: z.array(siteId).max(100_000) }),
      response: groupSchema,
      handler: async ({ params, body, principal }) => {
        if (!(await registry.getGroup(params.group)))
          throw new HttpError(404, `unknown group ${params.group}`);
        await requireKnownSites(registry, body.sites);
        const g = await registry.setGroupSites(params.group, body.sites);
        await registry.audit(principal.actor, 'group.members', params.group, body);
        return g;
      },
    }),
    route({
      method: 'get',
      path: '/groups/:group/aggregate',
      summary: 'Group total of one point per bucket (sum over its sites of device means)',
      tag: 'groups',
      permission: 'site:read',
      params: z.object({ group: id }),
      query: aggregateQuery,
      response: aggregateSchema,
      handler: async ({ params, query, principal }) => {
        requireGroup(principal, params.group);
        const g = await registry.getGroup(params.group);
        if (!g) throw new HttpError(404, `unknown group ${params.group}`);
        return aggregate(store, {
          sites: g.sites,
          devices: query.devices,
          point: query.point,
          ...window(query),
        });
      },
    }),

    // --- commands ---
    route({
      method: 'post',
      path: '/sites/:site/commands',
      summary: 'Send a command to a site (or one of its devices); follow it with GET /commands/{id}',
      tag: 'commands',
      permission: 'command:send',
      params: siteParams,
      body: commandRequestSchema,
      status: 202,
      response: commandRecordSchema,
      onInvalid: async (principal, req, reason) => {
        await registry.audit(principal.actor, 'command.rejected', String(req.params.site), { reason });
      },
      handler: async ({ params, body, principal }) => {
        // Refused commands are audited too: who tried to send what where, and why it was refused.
        const refuse = async (status: number, reason: string) => {
          await registry.audit(principal.actor, 'command.rejected', params.site, { reason, request: body });
          return new HttpError(status, reason);
        };
        try {
          await requireSite(principal, params.site);
        } catch (err) {
          if (err instanceof HttpError) throw await refuse(err.status, err.message);
          throw err;
        }
        try {
          return await d.commands.send(params.site, body, principal.actor);
        } catch (err) {
          if (err instanceof CommandError) throw await refuse(err.status, err.message);
          throw err;
        }
      },
    }),
    route({
      method: 'get',
      path: '/sites/:site/commands',
      summary: 'Recent commands of a site, newest first',
      tag: 'commands',
      permission: 'site:read',
      params: siteParams,
      query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      response: z.array(commandRecordSchema),
      handler: async ({ params, query, principal }) => {
        await requireSite(principal, params.site);
        return registry.listCommands(params.site, query.limit);
      },
    }),
    route({
      method: 'get',
      path: '/commands/:id',
      summary: 'One command; with waitMs, long-polls until it is acknowledged, refused, expired or failed',
      tag: 'commands',
      permission: 'site:read',
      params: z.object({ id: z.string().max(64) }),
      query: z.object({ waitMs: z.coerce.number().int().min(0).max(60_000).default(0) }),
      response: commandRecordSchema,
      handler: async ({ params, query, principal }) => {
        const c = await registry.getCommand(params.id);
        if (!c || !(await principal.canSite(c.siteId)))
          throw new HttpError(404, `unknown command ${params.id}`);
        return d.commands.waitFor(params.id, query.waitMs);
      },
    }),

    // --- audit, users, tokens ---
    route({
      method: 'get',
      path: '/audit',
      summary: 'Audit log (oldest first)',
      tag: 'audit',
      permission: 'audit:read',
      query: z.object({
        since: time.optional(),
        target: z.string().max(64).optional(),
        action: z.string().max(64).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
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
    route({
      method: 'get',
      path: '/users',
      summary: 'Users',
      tag: 'auth',
      permission: 'user:admin',
      response: z.array(userSchema),
      handler: async () => registry.listUsers(),
    }),
    route({
      method: 'post',
      path: '/users',
      summary: 'Create a user with a role and scopes (all, site:<id>, group:<id>)',
      tag: 'auth',
      permission: 'user:admin',
      body: z.object({
        name: z.string().min(1).max(200),
        role: z.enum(ROLES),
        scopes: z.array(scopeSchema).default([]),
      }),
      status: 201,
      response: userSchema,
      handler: async ({ body, principal }) => {
        const u = await registry.createUser(body);
        await registry.audit(principal.actor, 'user.create', u.id, body);
        return u;
      },
    }),
    route({
      method: 'post',
      path: '/users/:user/tokens',
      summary:
        'Issue an API token for a user (the token is shown once; stored hashed); it expires after ttlSeconds',
      tag: 'auth',
      permission: 'user:admin',
      params: z.object({ user: id }),
      body: z
        .object({
          label: z.string().max(200).optional(),
          /** Lifetime; default auth.tokenDefaultTtlSeconds, at most auth.tokenMaxTtlSeconds. */
          ttlSeconds: z.number().int().min(60).optional(),
        })
        .strict(),
      status: 201,
      response: tokenSchema.extend({ token: z.string() }),
      handler: async ({ params, body, principal }) => {
        if (!(await registry.getUser(params.user))) throw new HttpError(404, `unknown user ${params.user}`);
        const ttl = body.ttlSeconds ?? d.auth.tokenDefaultTtlSeconds;
        if (ttl > d.auth.tokenMaxTtlSeconds)
          throw new HttpError(
            400,
            `invalid body: ttlSeconds: ${ttl} exceeds the maximum ${d.auth.tokenMaxTtlSeconds} (auth.tokenMaxTtlSeconds)`,
          );
        const tokenId = newId();
        const secret = newSecret();
        const now = Date.now();
        const t = await registry.createToken({
          id: tokenId,
          userId: params.user,
          secretHash: hashSecret(secret),
          label: body.label,
          createdAt: now,
          expiresAt: now + ttl * 1000,
          createdBy: principal.actor,
        });
        await registry.audit(principal.actor, 'token.create', params.user, {
          tokenId,
          label: body.label,
          expiresAt: t.expiresAt,
        });
        return { ...t, token: formatApiToken(tokenId, secret) };
      },
    }),
    route({
      method: 'get',
      path: '/tokens',
      summary: 'API tokens (never their secrets): issuer, expiry, last use (written at most once a minute)',
      tag: 'auth',
      permission: 'user:admin',
      query: z
        .object({
          user: id.optional(),
          /** Also list revoked tokens. */
          revoked: z.enum(['true', 'false']).default('false'),
        })
        .strict(),
      response: z.array(tokenSchema),
      handler: async ({ query }) =>
        registry.listTokens({ userId: query.user, includeRevoked: query.revoked === 'true' }),
    }),
    route({
      method: 'delete',
      path: '/tokens/:id',
      summary: 'Revoke an API token (refused from the next request on)',
      tag: 'auth',
      permission: 'user:admin',
      params: z.object({ id }),
      handler: async ({ params, principal }) => {
        if (!(await registry.revokeToken(params.id)))
          throw new HttpError(404, `unknown or revoked token ${params.id}`);
        await registry.audit(principal.actor, 'token.revoke', params.id);
        return undefined;
      },
    }),
  ];
}
