import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { MAX_PAYLOAD_BYTES } from '../../protocols/mqtt/payloads.ts';
import type { TopicKind } from '../../protocols/mqtt/topics.ts';
import type { CloudConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { isGatewayUsername, maySubscribe, uplinkOf } from './acl.ts';
import { LoginThrottle } from './login-throttle.ts';
import { guardPacketSizes } from './packet-guard.ts';
import { sqlitePersistence } from './session-store.ts';

type EmbeddedConfig = Extract<CloudConfig['broker'], { mode: 'embedded' }>;

export interface EmbeddedBrokerDeps {
  config: EmbeddedConfig;
  /** Checks a gateway's password for its site. */
  verifyGateway: (site: string, password: string) => Promise<boolean>;
  /** Ingests one uplink message; the broker acknowledges (PUBACK) only after it resolves. */
  onUplink: (site: string, kind: TopicKind, payload: Buffer) => Promise<unknown>;
  metrics: Metrics;
  log: Logger;
}

/** Separates the authenticated site from the client's own id in the broker's session key. */
export const SESSION_KEY_SEPARATOR = '|';

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
  readonly connectedClients: number;
}

function authError(message: string, returnCode: AuthenticateError['returnCode'] = 4): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode; // 4: bad username or password, 5: not authorized
  return err;
}

function addressOf(client: Client): string {
  const c = client as unknown as {
    conn?: { remoteAddress?: string };
    req?: { socket?: { remoteAddress?: string } };
  };
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress ?? 'unknown';
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
    preConnect(client, packet, done) {
      // aedes speaks MQTT 3.1.1 (and 3.1) only and answers a v5 CONNECT with return code 1
      // (unacceptable protocol version); say so in the log, as the client only sees the code.
      if (packet.protocolVersion === 5)
        log.warn(
          { address: addressOf(client), clientId: packet.clientId, username: packet.username },
          'MQTT 5 CONNECT refused: the embedded broker speaks MQTT 3.1.1 only (configure the client for v3.1.1)',
        );
      done(null, true);
    },
    authenticate(client, username, password, done) {
      const site = username;
      const address = addressOf(client);
      if (throttle.blocked(address, typeof site === 'string' ? site : undefined)) {
        metrics.aclDenied.inc({ op: 'connect' });
        return done(authError('too many failed logins from this address; try later', 5), false);
      }
      if (!isGatewayUsername(site) || !password) {
        metrics.aclDenied.inc({ op: 'connect' });
        throttle.failed(address);
        return done(authError('username must be a site id, password required'), false);
      }
      deps.verifyGateway(site, password.toString()).then(
        (ok) => {
          if (!ok) {
            metrics.aclDenied.inc({ op: 'connect' });
            throttle.failed(address);
            return done(authError('bad credentials'), false);
          }
          // The session belongs to the authenticated site: its key is "<site>|<client id>", so a gateway
          // naming another site's client id gets a session of its own, never that site's stored
          // subscriptions or queued commands, and never closes that site's connection (takeover only
          // happens between logins of the same site).
          client.id = `${site}${SESSION_KEY_SEPARATOR}${client.id}`;
          siteOf.set(client, site);
          throttle.succeeded(address, site);
          done(null, true);
        },
        (err) => {
          log.error({ err, site }, 'credential check failed');
          const e = new Error('server unavailable') as AuthenticateError;
          e.returnCode = 3;
          done(e, false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null); // the cloud's own publishes (commands)
      const site = siteOf.get(client);
      const t = site ? uplinkOf(site, packet.topic) : undefined;
      if (!t) {
        metrics.aclDenied.inc({ op: 'publish' });
        log.warn({ site, topic: packet.topic }, 'publish outside the gateway ACL refused');
        // MQTT 3.1.1 has no negative PUBACK: aedes disconnects the client.
        return done(new Error('publish not authorized'));
      }
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      deps.onUplink(site as string, t.kind, payload).then(
        // Uplink messages are consumed here; nobody subscribes to them through the broker.
        () => done(null),
        (err) => {
          log.warn({ err: (err as Error).message, site }, 'ingest unavailable; message not acknowledged');
          done(err as Error);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      const site = siteOf.get(client);
      if (!site || !maySubscribe(site, sub.topic)) {
        metrics.aclDenied.inc({ op: 'subscribe' });
        log.warn({ site, topic: sub.topic }, 'subscription outside the gateway ACL refused');
        // A stored session's subscription refused on restore must not keep collecting messages.
        if (!client.clean) persistence.removeSubscriptions(client, [sub.topic]).catch(() => undefined);
        return done(null, null); // SUBACK with failure code 0x80, connection stays
      }
      done(null, sub);
    },
    // Every delivery, live or from a stored session's queue, goes only to the site it is addressed to.
    authorizeForward(client, packet) {
      const site = siteOf.get(client);
      if (site && maySubscribe(site, packet.topic)) return packet;
      metrics.aclDenied.inc({ op: 'forward' });
      log.warn({ site, topic: packet.topic }, 'delivery outside the gateway ACL withheld');
      return null;
    },
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
  const servers: (Server | HttpServer)[] = [];
  const ports: EmbeddedBroker['ports'] = {};
  const listen = (srv: Server | HttpServer, host: string, port: number) =>
    new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => {
        srv.off('error', reject);
        resolve((srv.address() as AddressInfo).port);
      });
    });

  try {
    if (config.tcp) {
      const srv = createNetServer(handle);
      servers.push(srv);
      ports.tcp = await listen(srv, config.tcp.host, config.tcp.port);
    }
    if (config.tls) {
      const srv = createTlsServer(
        {
          cert: readFileSync(config.tls.cert),
          key: readFileSync(config.tls.key),
          ca: config.tls.ca ? readFileSync(config.tls.ca) : undefined,
          minVersion: 'TLSv1.2',
        },
        handle,
      );
      srv.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
      servers.push(srv);
      ports.tls = await listen(srv, config.tls.host, config.tls.port);
    }
    if (config.ws) {
      const http = createHttpServer((_req, res) => {
        res.writeHead(426).end('MQTT over WebSocket only');
      });
      const wss = new WebSocketServer({ server: http, maxPayload: MAX_PAYLOAD_BYTES + 4096 });
      wss.on('connection', (ws, req) => {
        req.socket.setNoDelay(true);
        track(req.socket);
        const stream = createWebSocketStream(ws);
        aedes.handle(stream, req);
        guard(stream, req.socket.remoteAddress ?? 'unknown');
      });
      servers.push(http);
      ports.ws = await listen(http, config.ws.host, config.ws.port);
    }
  } catch (err) {
    for (const s of servers) s.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    throttle.close();
    await persistence.destroy();
    throw err;
  }

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
    get connectedClients() {
      return aedes.connectedClients;
    },
  };
}
