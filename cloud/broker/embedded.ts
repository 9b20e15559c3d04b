import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { CloudConfig } from '../config.ts';
import { type BrokerHookDeps, brokerHooks } from './hooks.ts';
import { startListeners } from './listeners.ts';
import { LoginThrottle } from './login-throttle.ts';
import { guardPacketSizes } from './packet-guard.ts';
import { sqlitePersistence } from './session-store.ts';

export { SESSION_KEY_SEPARATOR } from './hooks.ts';

type EmbeddedConfig = Extract<CloudConfig['broker'], { mode: 'embedded' }>;

export interface EmbeddedBrokerDeps extends BrokerHookDeps {
  config: EmbeddedConfig;
  /** PEM of the cloud's gateway CA (client certificates on the TLS listener). */
  gatewayCaPem?: string;
}

/** Bound of each step of close(): stop listening, end the sessions, close the session store. */
export const BROKER_CLOSE_STEP_MS = 2000;

export interface EmbeddedBroker {
  ports: { tcp?: number; tls?: number; ws?: number };
  /** Publishes to a topic (QoS 1); resolves once the broker has taken it. */
  publish(topic: string, payload: string): Promise<void>;
  /** Stops accepting connections (clients stay connected). */
  stopListening(): Promise<void>;
  /** Ends every client connection and closes the session store, within 3 × BROKER_CLOSE_STEP_MS. */
  close(): Promise<void>;
  /** Ends every live session of a site (its credential was rotated or revoked); returns how many. */
  disconnectSite(site: string): number;
  readonly connectedClients: number;
}

/** Resolves `p`, or after `ms` logs that the step timed out and resolves anyway. */
function bounded(p: Promise<unknown>, ms: number, step: string, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => undefined,
      (err) => log.warn({ err: (err as Error).message, step }, 'broker stop step failed'),
    ),
    new Promise<void>((r) => {
      timer = setTimeout(() => {
        log.warn({ step, ms }, 'broker stop step timed out; continuing');
        r();
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * aedes broker embedded in the cloud process: TCP, TLS and WebSocket listeners, gateway login with
 * username = site id and password = the site's secret, the topic ACL from acl.ts, and ingestion done
 * inside authorizePublish so a QoS-1 PUBACK goes out only once the message is stored.
 */
export async function startEmbeddedBroker(deps: EmbeddedBrokerDeps): Promise<EmbeddedBroker> {
  const { config, metrics, log } = deps;
  const siteOf = new WeakMap<Client, string>();
  const throttle = new LoginThrottle({
    maxFailures: config.loginThrottle.maxFailures,
    windowMs: config.loginThrottle.windowSeconds * 1000,
    log,
  });
  const persistence = sqlitePersistence(config.sessionsPath);

  const aedes = await Aedes.createBroker({
    persistence,
    // Generous: many gateways connect at once after a cloud restart.
    connectTimeout: 30_000,
    // Messages routed at once (aedes default 100). Only the cloud's own publishes are routed (uplinks
    // end at authorizePublish), and a dispatch step publishes one command per device at once: with
    // 100, a 10,000-site step went out in waves of 100, each waiting for its socket writes and
    // session-store commits (one loop step took over 100 s).
    concurrency: 20_000,
    ...brokerHooks({
      deps,
      siteOf,
      throttle,
      persistence,
      requireClientCertificate: config.tls?.requireClientCertificate ?? false,
    }),
  });

  // A gateway's uplink message ends in authorizePublish (ingested, then PUBACKed): the ACL lets no one
  // subscribe to uplink topics, so aedes's routing after the PUBACK (subscription lookup, offline
  // queue, emit) would find nobody, at a cost per message. Other publishes are routed as usual.
  const route = aedes.publish.bind(aedes) as (p: unknown, c: unknown, d?: (e?: Error) => void) => void;
  (aedes as unknown as { publish: typeof route }).publish = (packet, client, done) => {
    if (client && typeof client === 'object' && siteOf.has(client as Client))
      return (done as (e?: Error) => void)();
    route(packet, client, done);
  };

  aedes.on('client', () => metrics.clients.inc());
  aedes.on('clientDisconnect', () => metrics.clients.dec());
  aedes.on('clientError', (client, err) =>
    log.debug({ clientId: client.id, err: err.message }, 'client error'),
  );
  aedes.on('connectionError', (client, err) =>
    log.debug({ clientId: client?.id, err: err.message }, 'connection error'),
  );

  // Every connection's packets are size-checked from its first byte (see packet-guard.ts).
  const guard = (stream: Parameters<typeof guardPacketSizes>[0], address: string) => {
    const client = (stream as unknown as { client?: Client }).client;
    guardPacketSizes(stream, {
      maxPacketBytes: config.maxPacketBytes,
      isAuthenticated: () => !!client && siteOf.has(client),
      onRefused: (why) => {
        metrics.aclDenied.inc({ op: 'connect' });
        if (!client || !siteOf.has(client)) throttle.oversizedPacket(address);
        else log.warn({ site: siteOf.get(client), why }, 'connection closed: packet over the size limit');
      },
    });
  };
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  // Nagle's algorithm adds tens of ms to small MQTT packets: off on every socket.
  const handle = (socket: Socket) => {
    socket.setNoDelay(true);
    track(socket);
    aedes.handle(socket);
    guard(socket, socket.remoteAddress ?? 'unknown');
  };
  const onWebSocket = (stream: Duplex, req: IncomingMessage) => {
    req.socket.setNoDelay(true);
    track(req.socket);
    aedes.handle(stream, req);
    guard(stream, req.socket.remoteAddress ?? 'unknown');
  };
  let listeners: Awaited<ReturnType<typeof startListeners>>;
  try {
    listeners = await startListeners(config, { onSocket: handle, onWebSocket }, log, deps.gatewayCaPem);
  } catch (err) {
    await new Promise<void>((r) => aedes.close(() => r()));
    throttle.close();
    await persistence.destroy();
    throw err;
  }
  const { servers, ports } = listeners;

  // server.close() stops accepting at once; its callback waits for every open connection to end, which
  // a connected gateway never does by itself: close() ends them.
  let allClosed: Promise<void> | undefined;
  const stopListening = async () => {
    allClosed ??= Promise.all(
      servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))),
    ).then(() => undefined);
  };
  let closing: Promise<void> | undefined;
  return {
    ports,
    publish: (topic, payload) =>
      new Promise<void>((resolve, reject) =>
        aedes.publish(
          { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
          (err) => (err ? reject(err) : resolve()),
        ),
      ),
    stopListening,
    close: () =>
      (closing ??= (async () => {
        await stopListening();
        // aedes ends each client (a QoS 1 message not yet acknowledged stays queued in its session).
        await bounded(
          new Promise<void>((r) => aedes.close(() => r())),
          BROKER_CLOSE_STEP_MS,
          'end clients',
          log,
        );
        // A peer that stopped answering (SIGSTOP, dead link) keeps its socket: destroy what is left.
        for (const s of sockets) s.destroy();
        await bounded(allClosed ?? Promise.resolve(), BROKER_CLOSE_STEP_MS, 'close listeners', log);
        throttle.close();
        await bounded(persistence.destroy(), BROKER_CLOSE_STEP_MS, 'close session store', log);
      })()),
    disconnectSite(site) {
      let n = 0;
      for (const c of Object.values((aedes as unknown as { clients: Record<string, Client> }).clients)) {
        if (siteOf.get(c) !== site) continue;
        c.close();
        n++;
      }
      if (n) log.info({ site, sessions: n }, 'gateway credential changed: live sessions ended');
      return n;
    },
    get connectedClients() {
      return aedes.connectedClients;
    },
  };
}
