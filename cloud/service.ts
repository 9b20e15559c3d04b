import pino, { type Logger } from 'pino';
import type { WholesaleGateway } from '../protocols/market/wholesale.ts';
import type { TopicKind } from '../protocols/mqtt/topics.ts';
import { startApi } from './api/server.ts';
import { hashSecret, parseApiToken, secretMatches } from './auth/secrets.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from './broker/embedded.ts';
import { connectExternalBroker, type ExternalBus } from './broker/external.ts';
import { CommandPipeline } from './commands/pipeline.ts';
import type { CloudConfig } from './config.ts';
import { ForecastService } from './forecast-service/service.ts';
import { GridService } from './grid/service.ts';
import { Ingest } from './ingest/ingest.ts';
import { MarketService, type MeteredScheduler, startMeteredScheduler } from './market/index.ts';
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
  /** Scheduled load/PV forecasts per site and group. */
  forecasts: ForecastService;
  /** Feeder model, site placement and the feasibility check to run before dispatch. */
  grid: GridService;
  vpp: VppService;
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

/** Bound of one stop step. */
export const STOP_STEP_MS = 5000;
/** Upper bound of stop() as a whole: a step gets at most what is left of it (and at least 100 ms). */
export const STOP_BOUND_MS = 10_000;

/** Runs one stop step: its failure is logged, and on timeout it is abandoned (logged) so the next runs. */
async function boundedStep(name: string, fn: () => unknown, deadline: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ms = Math.max(100, Math.min(STOP_STEP_MS, deadline - Date.now()));
  const timedOut = new Promise<void>((r) => {
    timer = setTimeout(() => {
      log.warn({ step: name, ms }, 'stop step timed out; continuing');
      r();
    }, ms);
  });
  const run = (async () => fn())().then(
    () => undefined,
    (err) => log.error({ err, step: name }, 'stop step failed'),
  );
  await Promise.race([run, timedOut]).finally(() => clearTimeout(timer));
}

export interface StartCloudOptions {
  logger?: Logger;
  /** The wholesale counterpart of the market (the CLI injects the simulated ISO); absent: no ISO. */
  iso?: WholesaleGateway;
}

export async function startCloud(config: CloudConfig, opts: StartCloudOptions = {}): Promise<CloudService> {
  const log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'gridlayer-cloud' } });
  const metrics = createMetrics();
  const cleanups: (() => Promise<unknown>)[] = [];
  const undo = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const store = await openStore(config.storage.timeseries);
    cleanups.push(() => store.close());
    const db = openRegistryDb(config.storage.registry);
    cleanups.push(() => db.close());
    const registry = new Registry(db);
    const applied = await registry.init();
    if (applied.length) log.info({ migrations: applied }, 'registry migrated');
    await bootstrap(registry, config.auth.bootstrapToken, log);

    let publish: (topic: string, payload: string) => Promise<void> = async () => {
      throw new Error('broker not started');
    };
    const commands = new CommandPipeline({
      registry,
      publish: (t, p) => publish(t, p),
      metrics,
      log,
      ...config.commands,
    });
    const ingest = new Ingest(
      {
        store,
        registry,
        metrics,
        log,
        onAck: (site, ack) => commands.onAck(site, ack),
        onStatus: (site, status) => commands.onStatus(site, status),
        publish: (t, p) => publish(t, p),
      },
      config.ingest,
    );

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

    let embedded: EmbeddedBroker | undefined;
    let external: ExternalBus | undefined;
    const onUplink = (site: string, kind: TopicKind, payload: Buffer) => ingest.handle(site, kind, payload);
    if (config.broker.mode === 'embedded') {
      embedded = await startEmbeddedBroker({
        config: config.broker,
        verifyGateway,
        onUplink,
        metrics,
        log,
      });
      publish = embedded.publish;
    } else {
      // Handled in order, acknowledged to the broker once stored (see external.ts).
      external = await connectExternalBroker(
        config.broker,
        (site, kind, payload, stored) => ingest.handle(site, kind, payload, false, stored),
        log,
      );
      publish = external.publish;
    }
    const brokerRef = { embedded, external };
    cleanups.push(async () => {
      await brokerRef.embedded?.close();
      await brokerRef.external?.close();
    });
    commands.start();
    cleanups.push(async () => commands.stop());
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
        })
      : undefined;
    const meteredSettlement = market && startMeteredScheduler(market, log);
    cleanups.push(async () => meteredSettlement?.stop());
    const forecasts = new ForecastService({ registry, store, settings: config.forecast, log });
    forecasts.start();
    cleanups.push(() => forecasts.stop());
    const vpp = new VppService(
      {
        registry,
        store,
        commands,
        log,
        network: networkCheckFromGrid(grid),
        forecast: forecastProviderFrom(forecasts),
      },
      config.vpp,
    );
    await vpp.start();
    cleanups.push(async () => vpp.stop());

    const api = await startApi(
      {
        registry,
        store,
        commands,
        market,
        forecasts,
        grid,
        metrics,
        vpp,
        auth: config.auth,
        credentialsChanged: (site) => credCache.delete(site),
        health: async () => {
          const checks = {
            timeseries: await store.ping(),
            registry: await db.ping(),
            broker: embedded ? true : !!external?.connected,
          };
          return { ok: Object.values(checks).every(Boolean), checks };
        },
      },
      config.api,
      log,
    );
    cleanups.push(() => api.close());
    const ports = embedded?.ports ?? {};
    log.info(
      { api: api.port, broker: ports, timeseries: store.kind, registry: db.dialect },
      'gridlayer cloud started',
    );

    let stopping: Promise<void> | undefined;
    return {
      apiUrl: `http://127.0.0.1:${api.port}/api/v1`,
      apiPort: api.port,
      broker: ports,
      registry,
      store,
      metrics,
      ingest,
      commands,
      market,
      meteredSettlement,
      forecasts,
      grid,
      vpp,
      log,
      stop: () =>
        (stopping ??= (async () => {
          log.info('stopping: closing listeners, flushing buffered writes');
          // Each step is bounded so a peer that never answers cannot hold the process: the whole stop
          // ends within STOP_BOUND_MS: 8.5 s, then at most 100 ms for each of the 11 steps (docs/cloud.md).
          const deadline = Date.now() + STOP_BOUND_MS - 1500;
          const step = (name: string, fn: () => unknown) => boundedStep(name, fn, deadline, log);
          await step('broker: stop accepting', () => embedded?.stopListening());
          // Messages already received are stored (and, in embedded mode, then acknowledged).
          await step('ingest flush', () => ingest.close());
          await step('commands', () => commands.stop());
          await step('forecasts', () => forecasts.stop());
          await step('metered settlement', () => meteredSettlement?.stop());
          await step('vpp', () => vpp.stop());
          await step('api', () => api.close());
          await step('broker: end connections', () => embedded?.close());
          await step('external broker', () => external?.close());
          await step('timeseries store', () => store.close());
          await step('registry', () => db.close());
          log.info('stopped');
        })()),
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
