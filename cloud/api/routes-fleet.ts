import type { Response } from 'express';
import { z } from 'zod';
import type { FleetLive } from '../events/fleet-live.ts';
import type { EventHub, LiveEvent } from '../events/hub.ts';
import {
  FLEET_SORTS,
  FLEET_STATUSES,
  type FleetScope,
  type Registry,
  siteAlarms,
} from '../storage/registry/registry.ts';
import type { Principal } from './auth.ts';
import { type AnyRouteDef, route } from './route.ts';

export interface FleetSettings {
  staleSeconds: number;
  refusedAlarmSeconds: number;
}
export interface EventSettings {
  heartbeatSeconds: number;
  maxBufferedBytes: number;
}

const ALARM_KINDS = ['offline', 'stale', 'fallback', 'command_refused'] as const;
const alarmSchema = z.object({
  kind: z.enum(ALARM_KINDS),
  since: z.number(),
  detail: z.string(),
});
const powerSchema = z
  .object({
    /** Sum of the inverters' active power, W (generation +). */
    pv_w: z.number().nullable(),
    /** Sum of the batteries' active power, W (discharge +, charge −). */
    battery_w: z.number().nullable(),
    /** Mean state of charge of the batteries, %. */
    soc_pct: z.number().nullable(),
    /** Meter at the point of common coupling, W (export +, import −). */
    grid_w: z.number().nullable(),
  })
  .nullable();
const summarySchema = z.object({
  total: z.number(),
  online: z.number(),
  offline: z.number(),
  stale: z.number(),
  fallback: z.number(),
  /** Sites with at least one alarm (offline, stale, fallback or a recently refused command). */
  alarms: z.number(),
});
const siteItem = z.object({
  id: z.string(),
  name: z.string().nullable(),
  status: z.enum(FLEET_STATUSES),
  mode: z.string().nullable(),
  lastSeen: z.number().nullable(),
  alarms: z.array(alarmSchema),
  /** From the latest telemetry this cloud node ingested since it started (null: none yet). */
  power: powerSchema,
});

const bool = z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true');

/** The caller's sites as the SQL scope: all, or a scoped user's (its site and group scopes). */
async function scopeOf(p: Principal, staleSeconds: number, now: number): Promise<FleetScope> {
  const all = (await p.sites()) === 'all';
  return { ...(all ? {} : { user: p.user.id }), staleBefore: now - staleSeconds * 1000 };
}

/**
 * The live event streams (SSE), one per connection: scoped to the caller's sites and groups, a
 * heartbeat comment every heartbeatSeconds, dropped when it falls maxBufferedBytes behind, ended at
 * the session's expiry, at sign-out and when the cloud stops.
 */
export class EventStreams {
  private streams = new Set<{ res: Response; session?: string; close: () => void }>();

  constructor(
    private hub: EventHub,
    private o: EventSettings,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  async open(principal: Principal, res: Response): Promise<void> {
    const sites = await principal.sites();
    const groups = principal.groups();
    const inScope = (e: LiveEvent) =>
      (e.site === undefined || sites === 'all' || sites.has(e.site)) &&
      (e.group === undefined || groups === 'all' || groups.has(e.group));
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    let closed = false;
    const write = (chunk: string) => {
      if (closed) return;
      // Bytes the socket has not taken yet: a client this far behind is dropped, not buffered forever.
      if (res.writableLength > this.o.maxBufferedBytes) {
        close();
        res.destroy();
        return;
      }
      res.write(chunk);
    };
    const unsubscribe = this.hub.subscribe((e) => {
      if (!inScope(e)) return;
      e.frame ??= `event: ${e.name}\ndata: ${JSON.stringify(e.data)}\n\n`;
      write(e.frame);
    });
    const heartbeat = setInterval(
      () => write(`: heartbeat ${Date.now()}\n\n`),
      this.o.heartbeatSeconds * 1000,
    );
    heartbeat.unref();
    const expiry = principal.session
      ? setTimeout(() => stream.close(), Math.max(0, principal.session.expiresAt - Date.now()))
      : undefined;
    expiry?.unref();
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(heartbeat);
      if (expiry) clearTimeout(expiry);
      this.streams.delete(stream);
    };
    const stream = {
      res,
      session: principal.session?.idHash,
      close: () => {
        close();
        res.end();
      },
    };
    this.streams.add(stream);
    res.on('close', close);
    write('retry: 3000\n: connected\n\n');
  }

  /** Ends the streams of one session (signed out, password changed). */
  endSession(idHash: string): void {
    for (const s of [...this.streams]) if (s.session === idHash) s.close();
  }

  closeAll(): void {
    for (const s of [...this.streams]) s.close();
  }
}

export interface FleetDeps {
  registry: Registry;
  fleet: FleetSettings;
  live?: { fleet: FleetLive; streams: EventStreams };
}

/** The operator app's fleet view: counts, the paged site list, alarms and the live event stream. */
export function fleetRoutes(d: FleetDeps): AnyRouteDef[] {
  const { registry } = d;
  const refusedSince = (now: number) => now - d.fleet.refusedAlarmSeconds * 1000;
  return [
    route({
      method: 'get',
      path: '/fleet/summary',
      summary:
        "Counts of the caller's sites by status (online, offline, stale, fallback) and how many have alarms",
      tag: 'fleet',
      permission: 'site:read',
      response: summarySchema,
      handler: async ({ principal }) => {
        const now = Date.now();
        return registry.fleetSummary({
          ...(await scopeOf(principal, d.fleet.staleSeconds, now)),
          refusedSince: refusedSince(now),
        });
      },
    }),
    route({
      method: 'get',
      path: '/fleet/sites',
      summary:
        "One page of the caller's sites: search q (id or name, case-insensitive), status and alarm filters, sort; paged in SQL",
      tag: 'fleet',
      permission: 'site:read',
      query: z
        .object({
          offset: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          q: z.string().max(100).optional(),
          status: z.enum(FLEET_STATUSES).optional(),
          /** 1: only sites with an alarm. */
          alarm: bool.optional(),
          sort: z.enum(FLEET_SORTS).default('id'),
          dir: z.enum(['asc', 'desc']).default('asc'),
        })
        .strict(),
      response: z.object({ total: z.number(), offset: z.number(), items: z.array(siteItem) }),
      handler: async ({ principal, query }) => {
        const now = Date.now();
        const page = await registry.fleetPage({
          ...(await scopeOf(principal, d.fleet.staleSeconds, now)),
          refusedSince: refusedSince(now),
          ...(query.q ? { q: query.q } : {}),
          ...(query.status ? { status: query.status } : {}),
          ...(query.alarm ? { alarm: true } : {}),
          sort: query.sort,
          desc: query.dir === 'desc',
          offset: query.offset,
          limit: query.limit,
        });
        return {
          total: page.total,
          offset: query.offset,
          items: page.rows.map((r) => ({
            id: r.id,
            name: r.name,
            status: r.status,
            mode: r.mode,
            lastSeen: r.lastSeen,
            alarms: siteAlarms(r),
            power: d.live?.fleet.power(r.id) ?? null,
          })),
        };
      },
    }),
    route({
      method: 'get',
      path: '/alarms',
      summary:
        "Active alarms of the caller's sites, newest first: offline, stale, fallback (remote setpoints lapsed), commands refused recently",
      tag: 'fleet',
      permission: 'site:read',
      query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict(),
      response: z.array(alarmSchema.extend({ site: z.string() })),
      handler: async ({ principal, query }) => {
        const now = Date.now();
        return registry.fleetAlarms({
          ...(await scopeOf(principal, d.fleet.staleSeconds, now)),
          refusedSince: refusedSince(now),
          limit: query.limit,
        });
      },
    }),
    route({
      method: 'get',
      path: '/events',
      summary:
        "Live updates as Server-Sent Events (text/event-stream), scoped to the caller's sites: site {id,status,mode,lastSeen,power} (at most one per site per second), command {id,site,status,reason}, dispatch {id,group,status,delivered,target}, alarm {site,kind,active}; a heartbeat comment every api.events.heartbeatSeconds",
      tag: 'fleet',
      permission: 'site:read',
      produces: 'text/event-stream',
      handler: async ({ principal, res }) => {
        if (!d.live) throw new Error('live events are not wired');
        await d.live.streams.open(principal, res);
        return undefined;
      },
    }),
  ];
}
