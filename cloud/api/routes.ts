import type { FailureThrottle } from '../auth/failure-throttle.ts';
import type { GatewayCa } from '../auth/gateway-ca.ts';
import type { CommandPipeline } from '../commands/pipeline.ts';
import type { FleetLive } from '../events/fleet-live.ts';
import type { EventHub } from '../events/hub.ts';
import type { ForecastService } from '../forecast-service/service.ts';
import type { GridService } from '../grid/service.ts';
import type { MarketService } from '../market/index.ts';
import type { Metrics } from '../metrics.ts';
import type { Registry } from '../storage/registry/registry.ts';
import type { TimeSeriesStore } from '../storage/timeseries/types.ts';
import type { VppService } from '../vpp/service.ts';
import type { AnyRouteDef } from './route.ts';
import { auditRoutes } from './routes-audit.ts';
import { type SessionDeps, sessionRoutes } from './routes-auth.ts';
import { commandRoutes } from './routes-commands.ts';
import { deviceRoutes } from './routes-devices.ts';
import { dispatchRoutes } from './routes-dispatches.ts';
import { type EnrolmentSettings, enrolmentRoutes } from './routes-enrolment.ts';
import { type EventStreams, type FleetDeps, fleetRoutes } from './routes-fleet.ts';
import { forecastRoutes } from './routes-forecast.ts';
import { groupRoutes } from './routes-groups.ts';
import { marketRoutes } from './routes-market.ts';
import { marketFormRoutes } from './routes-market-forms.ts';
import { networkRoutes } from './routes-network.ts';
import { opsRoutes } from './routes-ops.ts';
import { siteRoutes } from './routes-sites.ts';
import { tariffRoutes } from './routes-tariffs.ts';
import { telemetryRoutes } from './routes-telemetry.ts';
import { meRoutes, userRoutes } from './routes-users.ts';
import { vppRoutes } from './routes-vpp.ts';

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
  /** Enrolment codes: lifetimes and what an enrolled gateway is told (the `enrolment:` config). */
  enrolment: EnrolmentSettings & { throttle: { maxFailures: number; windowSeconds: number } };
  /** Signs enrolled gateways' certificate requests (absent: gateways get a password only). */
  gatewayCa?: GatewayCa;
  market?: MarketService;
  forecasts?: ForecastService;
  grid?: GridService;
  vpp?: VppService;
  /** Live state and events of the fleet (the operator app's fleet view and GET /events). */
  live?: { hub: EventHub; fleet: FleetLive };
}

/** What the API adds at start: the throttle it shares with sign-in, the live streams, the api.* config. */
export interface ApiRuntime {
  sessions: SessionDeps;
  fleet: FleetDeps['fleet'];
  streams?: EventStreams;
  /** Refused enrolment codes per source address (429 past the limit). */
  enrolThrottle: FailureThrottle;
}

/** Every route of /api/v1, one router per resource (in this order in the OpenAPI document). */
export function apiRoutes(d: ApiDeps, rt: ApiRuntime): AnyRouteDef[] {
  return [
    ...opsRoutes(d),
    ...sessionRoutes(rt.sessions),
    ...meRoutes(d.market),
    ...fleetRoutes({
      registry: d.registry,
      fleet: rt.fleet,
      ...(d.live && rt.streams ? { live: { fleet: d.live.fleet, streams: rt.streams } } : {}),
    }),
    ...siteRoutes(d),
    ...enrolmentRoutes({ ...d, enrolThrottle: rt.enrolThrottle }),
    ...deviceRoutes(d),
    ...telemetryRoutes(d),
    ...groupRoutes(d),
    ...commandRoutes(d),
    ...auditRoutes(d),
    ...userRoutes({ ...d, sessionEnded: rt.sessions.sessionEnded }),
    ...marketRoutes(d.market),
    ...marketFormRoutes(d.market),
    ...forecastRoutes(d),
    ...networkRoutes(d),
    ...vppRoutes(d),
    ...dispatchRoutes(d),
    ...tariffRoutes(d),
  ];
}
