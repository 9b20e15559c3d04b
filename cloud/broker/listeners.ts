/**
 * The embedded broker's TCP, TLS and WebSocket listeners. Each hands its connections to the broker
 * through the callbacks; a listener that fails to bind closes the ones already open and throws.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { MAX_PAYLOAD_BYTES } from '../../protocols/mqtt/payloads.ts';
import type { CloudConfig } from '../config.ts';

type EmbeddedConfig = Extract<CloudConfig['broker'], { mode: 'embedded' }>;

export interface BrokerListeners {
  servers: (Server | HttpServer)[];
  ports: { tcp?: number; tls?: number; ws?: number };
}

export interface ListenerHandlers {
  /** A TCP or TLS connection. */
  onSocket: (socket: Socket) => void;
  /** A WebSocket connection as a stream, with its upgrade request. */
  onWebSocket: (stream: Duplex, req: IncomingMessage) => void;
}

function listen(srv: Server | HttpServer, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => {
      srv.off('error', reject);
      resolve((srv.address() as AddressInfo).port);
    });
  });
}

export async function startListeners(
  config: Pick<EmbeddedConfig, 'tcp' | 'tls' | 'ws'>,
  handlers: ListenerHandlers,
  log: Logger,
  /** PEM of the cloud's gateway CA: the TLS listener asks gateways for a certificate signed by it. */
  gatewayCaPem?: string,
): Promise<BrokerListeners> {
  const { onSocket, onWebSocket } = handlers;
  const servers: (Server | HttpServer)[] = [];
  const ports: BrokerListeners['ports'] = {};
  try {
    if (config.tcp) {
      const srv = createNetServer(onSocket);
      servers.push(srv);
      ports.tcp = await listen(srv, config.tcp.host, config.tcp.port);
    }
    if (config.tls) {
      const srv = createTlsServer(
        {
          cert: readFileSync(config.tls.cert),
          key: readFileSync(config.tls.key),
          // Client certificates are asked for, not demanded by TLS: the login hook decides, so a
          // gateway without one (password login) or with a bad one gets an MQTT answer that says why.
          ca: [
            ...(config.tls.ca ? [readFileSync(config.tls.ca, 'utf8')] : []),
            ...(gatewayCaPem ? [gatewayCaPem] : []),
          ],
          requestCert: !!(config.tls.ca || gatewayCaPem),
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
        },
        onSocket,
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
      wss.on('connection', (ws, req) => onWebSocket(createWebSocketStream(ws), req));
      servers.push(http);
      ports.ws = await listen(http, config.ws.host, config.ws.port);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  return { servers, ports };
}
