import pino, { type Logger } from 'pino';
import type { WholesaleGateway } from '../protocols/market/wholesale.ts';
import type { TopicKind } from '../protocols/mqtt/topics.ts';
import { LifecycleList, named } from '../runtime/lifecycle.ts';
import { startApi } from './api/server.ts';
import { GatewayCa } from './auth/gateway-ca.ts';
import { hashSecret, parseApiToken, secretMatches } from './auth/secrets.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from './broker/embedded.ts';
import { connectExternalBroker, type ExternalBus } from './broker/external.ts';
import { CommandPipeline } from './commands/pipeline.ts';
import type { CloudConfig } from './config.ts';
import { FleetLive } from './events/fleet-live.ts';
import { EventHub } from './events/hub.ts';
import { ForecastService } from './forecast-service/service.ts';
import { GridService } from './grid/service.ts';
import { Ingest } from './ingest/ingest.ts';
import {
  MarketService,
  type MeteredScheduler,
  type RealTimeScheduler,
  startDemoClearing,
  startMeteredScheduler,
  startRealTimeScheduler,
} from './market/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { openPostgres, openSqlite, type SqlDb } from './storage/registry/db.ts';
import { Registry } from './storage/registry/registry.ts';
import { InfluxTimeSeries } from './storage/timeseries/influx.ts';
import { SqliteTimeSeries } from './storage/timeseries/sqlite.ts';
import type { TimeSeriesStore } from './storage/timeseries/types.ts';
import { forecastProviderFrom, networkCheckFromGrid } from './vpp/cloud-hooks.ts';
import { VppService } from './vpp/service.ts';

export interface CloudService {
  apiUrl: string;
  apiPort: number;
  broker: { tcp?: number; tls?: number; ws?: number };
  registry: Registry;
  store: TimeSeriesStore;
  metrics: Metrics;
  ingest: Ingest;
  commands: CommandPipeline;
  /** The DSO market service (absent when market.enabled is false). */
  market: MarketService | undefined;
  /** Settles completed hours automatically (absent when off or the model has no metered settlement). */
  meteredSettlement: MeteredScheduler | undefined;
  /** Clears each real-time interval on its clock (absent when market.realtime.auto is off or the model is not nodal). */
  realtime: RealTimeScheduler | undefined;
  /** Scheduled load/PV forecasts per site and group. */
  forecasts: ForecastService;
  /** Feeder model, site placement and the feasibility check to run before dispatch. */
  grid: GridService;
  vpp: VppService;
  /** Live fleet state and the event hub behind GET /api/v1/events. */
  live: { hub: EventHub; fleet: FleetLive };
  log: Logger;
  /** Graceful stop: no new connections, buffered writes flushed, then everything closed. */
  stop(): Promise<void>;
}

async function openStore(c: CloudConfig['storage']['timeseries']): Promise<TimeSeriesStore> {
  if (c.backend === 'sqlite') return new SqliteTimeSeries({ path: c.path, synchronous: c.synchronous });
  const { backend: _b, ...opts } = c;
  return InfluxTimeSeries.open(opts);
}

function openRegistryDb(c: CloudConfig['storage']['registry']): SqlDb {
  return c.backend === 'sqlite' ? openSqlite(c.path) : openPostgres(c.connectionString);
}

/** Creates the first operator from the bootstrap token when the registry has no user yet. */
async function bootstrap(registry: Registry, token: string | undefined, log: Logger) {
  if (!token || (await registry.countUsers()) > 0) return;
  const t = parseApiToken(token);
  if (!t)
    throw new Error('auth.bootstrapToken must look like glt_<8-32 alphanumerics>_<secret of 20+ chars>');
  const user = await registry.createUser({
    id: 'admin',
    name: 'bootstrap operator',
    role: 'operator',
    scopes: [{ kind: 'all', target: '*' }],
  });
  await registry.createToken({
    id: t.id,
    userId: user.id,
    secretHash: hashSecret(t.secret),
    label: 'bootstrap',
    // Never expires: it is the break-glass credential `npm start` prints; revoke it once personal tokens exist.
    expiresAt: null,
    createdBy: 'system',
  });
  await registry.audit('system', 'user.bootstrap', user.id);
  log.info({ user: user.id }, 'bootstrap operator created');
}

export { STOP_BOUND_MS, STOP_STEP_MS } from '../runtime/lifecycle.ts';

export interface StartCloudOptions {
  logger?: Logger;
  /** The wholesale counterpart of the market (the CLI injects the simulated ISO); absent: no ISO. */
  iso?: WholesaleGateway;
}

type Publish = (topic: string, payload: string) => Promise<void>;
type Broker =
  | { embedded: EmbeddedBroker; external?: undefined }
  | { embedded?: undefined; external: ExternalBus };

/** Storage, the registry (migrated, bootstrapped), ingest, the broker and the command pipeline. */
async function startCore(parts: LifecycleList, config: CloudConfig, log: Logger, metrics: Metrics) {
  const store = await parts.open(
    'timeseries store',
    () => openStore(config.storage.timeseries),
    (s) => s.close(),
  );
  const db = await parts.open(
    'registry',
    () => openRegistryDb(config.storage.registry),
    (d) => d.close(),
  );
  const registry = new Registry(db);
  const applied = await registry.init();
  if (applied.length) log.info({ migrations: applied }, 'registry migrated');
  await bootstrap(registry, config.auth.bootstrapToken, log);

  let publish: Publish = async () => {
    throw new Error('broker not started');
  };
  // Live state of the fleet and the operator app's events: fed by ingest, commands and dispatch.
  const hub = new EventHub();
  const fleet = new FleetLive({ registry, hub, log }, { staleMs: config.api.fleet.staleSeconds * 1000 });
  await parts.start(named('fleet live state', fleet));
  const commands = new CommandPipeline({
    registry,
    publish: (t, p) => publish(t, p),
    metrics,
    log,
    ...config.commands,
    onStatusChange: (c) => {
      hub.publish({
        name: 'command',
        site: c.site,
        data: { id: c.id, site: c.site, status: c.status, ...(c.reason ? { reason: c.reason } : {}) },
      });
      if (c.status === 'refused')
        hub.publish({
          name: 'alarm',
          site: c.site,
          data: {
            site: c.site,
            kind: 'command_refused',
            active: true,
            command: c.id,
            reason: c.reason ?? null,
          },
        });
      if (c.status === 'acknowledged') fleet.onCommandAcknowledged(c.site);
    },
  });
  const ingest = new Ingest(
    {
      store,
      registry,
      metrics,
      log,
      onAck: (site, ack) => commands.onAck(site, ack),
      onStatus: (site, status) => {
        fleet.onStatus(site, status);
        return commands.onStatus(site, status);
      },
      onTelemetry: (site, batch) => fleet.onTelemetry(site, batch),
      onCapabilities: (site) => fleet.onCapabilities(site),
      publish: (t, p) => publish(t, p),
    },
    config.ingest,
  );
  // Ingest takes messages from the moment it exists; it is flushed in the drain phase, while the MQTT
  // connections are still up, so what was stored is also acknowledged. Nothing is left to stop then.
  await parts.start({ name: 'ingest', start() {}, drain: () => ingest.close(), stop() {} });

  // Gateway password hashes, cached: 10,000 gateways reconnecting must not mean 10,000 queries each time.
  const credCache = new Map<string, string | null>();
  const verifyGateway = async (site: string, password: string) => {
    let hash = credCache.get(site);
    if (hash === undefined) {
      hash = (await registry.siteCredentialHash(site)) ?? null;
      credCache.set(site, hash);
    }
    return hash !== null && secretMatches(password, hash);
  };
  // The certificates each site's gateway may log in with, cached the same way (dropped on a change).
  const certCache = new Map<string, Set<string>>();
  const verifyGatewayCertificate = async (site: string, serial: string) => {
    let serials = certCache.get(site);
    if (!serials) {
      serials = new Set(await registry.activeGatewayCertificates(site));
      certCache.set(site, serials);
    }
    return serials.has(serial);
  };
  const gatewayCa = await GatewayCa.open(config.enrolment.gatewayCa);
  const onUplink = (site: string, kind: TopicKind, payload: Buffer) => ingest.handle(site, kind, payload);
  const broker = await parts.open<Broker>(
    'broker',
    async () =>
      config.broker.mode === 'embedded'
        ? {
            embedded: await startEmbeddedBroker({
              config: config.broker,
              verifyGateway,
              verifyGatewayCertificate,
              gatewayCaPem: gatewayCa.certPem,
              onUplink,
              onUplinkNow: (site, kind, payload, done) => ingest.handleNow(site, kind, payload, done),
              metrics,
              log,
            }),
          }
        : {
            // Handled in order, acknowledged to the broker once stored (see external.ts).
            external: await connectExternalBroker(
              config.broker,
              (site, kind, payload, stored) => ingest.handle(site, kind, payload, false, stored),
              log,
            ),
          },
    // Stop: end every MQTT connection (embedded: then the session store) / leave the external broker.
    (b) => (b.embedded ?? b.external).close(),
    // Drain: stop accepting connections; the connected gateways stay until the ingest is flushed.
    (b) => b.embedded?.stopListening(),
  );
  publish = (broker.embedded ?? broker.external).publish;
  await parts.start(named('commands', commands));
  return {
    store,
    db,
    registry,
    ingest,
    commands,
    broker,
    credCache,
    certCache,
    gatewayCa,
    live: { hub, fleet },
  };
}

/** Grid, market, metered settlement, forecasts and VPP, on top of the core. */
async function startServices(
  parts: LifecycleList,
  config: CloudConfig,
  opts: StartCloudOptions,
  log: Logger,
  core: Awaited<ReturnType<typeof startCore>>,
) {
  const { registry, store, commands } = core;
  // Grid and market are state over the registry, with no timers or connections of their own: opened, not started.
  const grid = await GridService.open({ registry, store, settings: config.network });
  if (config.ingest.flushIdleMs !== undefined)
    log.warn('config ingest.flushIdleMs is deprecated and ignored: commits start when the writer is idle');
  // One feeder for the whole cloud: network.feeder; market.networkFile is the deprecated second one.
  if (config.market.networkFile)
    log.warn('config market.networkFile is deprecated: name the feeder once, as network.feeder');
  const market = config.market.enabled
    ? await MarketService.open({
        registry,
        settings: config.market,
        ...(opts.iso ? { iso: opts.iso } : {}),
        send: (site, req, actor) => commands.send(site, req, actor),
        timeseries: store,
        ...(config.market.networkFile ? {} : { network: grid.network }),
        maxTtlSeconds: config.commands.maxTtlSeconds,
        // What a run cleared is read through the market API (its own scoping); the event only says one happened.
        onRun: (run) =>
          core.live.hub.publish({
            name: 'market',
            data: {
              kind: 'run',
              id: run.id,
              market: run.market,
              intervalStart: run.intervalStart,
              intervalEnd: run.intervalEnd,
              runAt: run.runAt,
            },
          }),
      })
    : undefined;
  // Every control path (market awards, VPP dispatch, direct commands) checks the market's rules.
  commands.useRules(market?.controlRules);
  const meteredSettlement = await parts.open(
    'metered settlement',
    () => market && startMeteredScheduler(market, log),
    (s) => s?.stop(),
  );
  // Demo timing only (market.demo, what `gridlayer start` sets): the cloud clears as the DMO.
  if (market?.settings.demo?.autoClear)
    await parts.open(
      'demo clearing',
      () => startDemoClearing(market, log),
      (d) => d?.stop(),
    );
  const forecasts = new ForecastService({ registry, store, settings: config.forecast, log });
  await parts.start(named('forecasts', forecasts));
  // The real-time market on its clock (market.realtime.auto): forecasts blended with live telemetry.
  const realtime = await parts.open(
    'rt scheduler',
    () =>
      market &&
      startRealTimeScheduler(
        market,
        {
          device: (site, device) => core.live.fleet.device(site, device),
          site: (site) => core.live.fleet.power(site),
          forecast: async (site, kind, at) => {
            const { forecast: f } = await forecasts.latest('site', site, kind);
            const k = f ? Math.floor((at - f.start) / f.stepMs) : -1;
            return f && k >= 0 && k < f.p50.length ? f.p50[k] : undefined;
          },
        },
        log,
      ),
    (s) => s?.stop(),
  );
  const vpp = new VppService(
    {
      registry,
      store,
      commands,
      log,
      network: networkCheckFromGrid(grid),
      forecast: forecastProviderFrom(forecasts),
      onChange: (d) => {
        const last = d.intervals.at(-1);
        core.live.hub.publish({
          name: 'dispatch',
          group: d.group,
          data: {
            id: d.id,
            group: d.group,
            status: d.status,
            target: d.targetMeterW,
            measured: d.progress.measuredW,
            shortfall: d.progress.shortfallW,
            ...(last && {
              delivered: { start: last.start, targetW: last.targetW, deliveredW: last.deliveredW },
            }),
          },
        });
      },
    },
    config.vpp,
  );
  await parts.start(named('vpp', vpp));
  return { grid, market, meteredSettlement, realtime, forecasts, vpp };
}

/**
 * The composition root. Parts start in order from one LifecycleList: timeseries store, registry,
 * ingest, broker, commands, metered settlement, forecasts, rt scheduler, vpp, api. stop() — and a start that fails
 * half-way — walks the started ones in reverse (lifecycle.ts): stop accepting MQTT connections, flush
 * the ingest, stop the services (api first), end the MQTT connections, close the databases.
 */
export async function startCloud(config: CloudConfig, opts: StartCloudOptions = {}): Promise<CloudService> {
  const log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'gridlayer-cloud' } });
  const metrics = createMetrics();
  const parts = new LifecycleList(log);
  try {
    const core = await startCore(parts, config, log, metrics);
    const services = await startServices(parts, config, opts, log, core);
    const { store, db, registry, broker } = core;
    const api = await parts.open(
      'api',
      () =>
        startApi(
          {
            registry,
            store,
            commands: core.commands,
            market: services.market,
            forecasts: services.forecasts,
            grid: services.grid,
            vpp: services.vpp,
            live: core.live,
            metrics,
            auth: config.auth,
            enrolment: config.enrolment,
            gatewayCa: core.gatewayCa,
            credentialsChanged: (site) => {
              core.credCache.delete(site);
              core.certCache.delete(site);
              // A rotated or revoked credential ends the session that logged in with the old one.
              broker.embedded?.disconnectSite(site);
            },
            health: async () => {
              const checks = {
                timeseries: await store.ping(),
                registry: await db.ping(),
                broker: broker.embedded ? true : !!broker.external?.connected,
              };
              return { ok: Object.values(checks).every(Boolean), checks };
            },
          },
          config.api,
          log,
        ),
      (a) => a.close(),
    );
    const ports = broker.embedded?.ports ?? {};
    log.info(
      { api: api.port, broker: ports, timeseries: store.kind, registry: db.dialect },
      'gridlayer cloud started',
    );
    let stopping: Promise<void> | undefined;
    return {
      apiUrl: `${config.api.tls ? 'https' : 'http'}://127.0.0.1:${api.port}/api/v1`,
      apiPort: api.port,
      broker: ports,
      registry,
      store,
      metrics,
      ingest: core.ingest,
      commands: core.commands,
      live: core.live,
      ...services,
      log,
      stop: () =>
        (stopping ??= (async () => {
          log.info('stopping: closing listeners, flushing buffered writes');
          await parts.stop();
          log.info('stopped');
        })()),
    };
  } catch (err) {
    log.error({ err, started: parts.started }, 'start failed; stopping the parts already started');
    await parts.stop();
    throw err;
  }
}
