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

export interface EmbeddedBroker {
  ports: { tcp?: number; tls?: number; ws?: number };
  /** Publishes to a topic (QoS 1); resolves once the broker has taken it. */
  publish(topic: string, payload: string): Promise<void>;
  /** Stops accepting connections (clients stay connected). */
  stopListening(): Promise<void>;
  close(): Promise<void>;
  readonly connectedClients: number;
}

function authError(message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = 4; // bad username or password
  return err;
}

/**
 * aedes broker embedded in the cloud process: TCP, TLS and WebSocket listeners, gateway login with
 * username = site id and password = the site's secret, the topic ACL from acl.ts, and ingestion done
 * inside authorizePublish so a QoS-1 PUBACK goes out only once the message is stored.
 */
export async function startEmbeddedBroker(deps: EmbeddedBrokerDeps): Promise<EmbeddedBroker> {
  const { config, metrics, log } = deps;
  const siteOf = new WeakMap<Client, string>();

  const aedes = await Aedes.createBroker({
    // Generous: many gateways connect at once after a cloud restart.
    connectTimeout: 30_000,
    authenticate(client, username, password, done) {
      const site = username;
      if (!isGatewayUsername(site) || !password) {
        metrics.aclDenied.inc({ op: 'connect' });
        return done(authError('username must be a site id, password required'), false);
      }
      // A client id already held by another site's session would be taken over: refuse instead.
      const holder = (aedes as unknown as { clients: Record<string, Client> }).clients[client.id];
      if (holder && holder !== client && siteOf.get(holder) !== site) {
        metrics.aclDenied.inc({ op: 'connect' });
        return done(authError('client id in use by another site'), false);
      }
      deps.verifyGateway(site, password.toString()).then(
        (ok) => {
          if (!ok) {
            metrics.aclDenied.inc({ op: 'connect' });
            log.warn({ site, clientId: client.id }, 'gateway login refused');
            return done(authError('bad credentials'), false);
          }
          siteOf.set(client, site);
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
        return done(null, null); // SUBACK with failure code 0x80, connection stays
      }
      done(null, sub);
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

  // Nagle's algorithm adds tens of ms to small MQTT packets: off on every socket.
  const handle = (socket: Socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
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
        aedes.handle(createWebSocketStream(ws), req);
      });
      servers.push(http);
      ports.ws = await listen(http, config.ws.host, config.ws.port);
    }
  } catch (err) {
    for (const s of servers) s.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    throw err;
  }

  const stopListening = () =>
    Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r())))).then(
      () => undefined,
    );
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
    async close() {
      const closing = stopListening();
      await new Promise<void>((r) => aedes.close(() => r()));
      await closing;
    },
    get connectedClients() {
      return aedes.connectedClients;
    },
  };
}
