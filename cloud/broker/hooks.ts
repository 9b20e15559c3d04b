/**
 * The embedded broker's aedes hooks: gateway login (username = site id, password = the site's secret,
 * throttled per address), the topic ACL from acl.ts on publish, subscribe and every delivery, and
 * ingestion inside authorizePublish so a QoS-1 PUBACK goes out only once the message is stored.
 */

import { TLSSocket } from 'node:tls';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import type { TopicKind } from '../../protocols/mqtt/topics.ts';
import type { Metrics } from '../metrics.ts';
import { isGatewayUsername, maySubscribe, uplinkOf } from './acl.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { sqlitePersistence } from './session-store.ts';

/** Separates the authenticated site from the client's own id in the broker's session key. */
export const SESSION_KEY_SEPARATOR = '|';

export interface BrokerHookDeps {
  /** Checks a gateway's password for its site. */
  verifyGateway: (site: string, password: string) => Promise<boolean>;
  /**
   * Whether a certificate (serial, as TLS reports it) is one the cloud issued to the site's gateway and
   * has not revoked. Without it, certificates are not a way to log in.
   */
  verifyGatewayCertificate?: (site: string, serial: string) => Promise<boolean>;
  /** Ingests one uplink message; the broker acknowledges (PUBACK) only after it resolves. */
  onUplink: (site: string, kind: TopicKind, payload: Buffer) => Promise<unknown>;
  /**
   * onUplink without a promise per message (the hot path): `done` once stored, with an error when
   * not. When given, the broker uses it instead of onUplink.
   */
  onUplinkNow?: (site: string, kind: TopicKind, payload: Buffer, done: (err?: Error) => void) => void;
  metrics: Metrics;
  log: Logger;
}

export interface BrokerHookContext {
  deps: BrokerHookDeps;
  /** The site each authenticated client logged in as; filled by authenticate. */
  siteOf: WeakMap<Client, string>;
  throttle: LoginThrottle;
  persistence: ReturnType<typeof sqlitePersistence>;
  /** The TLS listener's requireClientCertificate: a TLS login without a valid certificate is refused. */
  requireClientCertificate?: boolean;
}

export type BrokerHooks = Required<
  Pick<
    AedesOptions,
    'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'
  >
>;

function authError(message: string, returnCode: AuthenticateError['returnCode'] = 4): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode; // 4: bad username or password, 5: not authorized
  return err;
}

export function addressOf(client: Client): string {
  const c = client as unknown as {
    conn?: { remoteAddress?: string };
    req?: { socket?: { remoteAddress?: string } };
  };
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress ?? 'unknown';
}

/** What a TLS connection's client certificate says: none, one TLS did not accept (and why), or a site. */
type ClientCertificate =
  | { kind: 'none' }
  | { kind: 'bad'; why: string }
  | { kind: 'site'; site: string; serial: string };

function clientCertificateOf(client: Client): ClientCertificate {
  const conn = (client as unknown as { conn?: unknown }).conn;
  if (!(conn instanceof TLSSocket)) return { kind: 'none' };
  const peer = conn.getPeerCertificate();
  if (!peer?.raw) return { kind: 'none' };
  if (!conn.authorized) return { kind: 'bad', why: String(conn.authorizationError ?? 'not trusted') };
  const cn = Array.isArray(peer.subject?.CN) ? peer.subject.CN[0] : peer.subject?.CN;
  if (!cn || !isGatewayUsername(cn)) return { kind: 'bad', why: 'its CN is not a site id' };
  return { kind: 'site', site: cn, serial: peer.serialNumber.toUpperCase() };
}

function isTls(client: Client): boolean {
  return (client as unknown as { conn?: unknown }).conn instanceof TLSSocket;
}

export function brokerHooks(ctx: BrokerHookContext): BrokerHooks {
  const { deps, siteOf, throttle, persistence } = ctx;
  const { metrics, log } = deps;
  // Per client, the last topic it was allowed to publish to and what it is: a gateway publishes to the
  // same few topics, so the ACL check is a string compare after the first message (the site a client
  // logged in as never changes on a connection).
  const allowed = new WeakMap<Client, { topic: string; kind: TopicKind }>();
  const ingested = (site: string, done: (err?: Error | null) => void) => (err?: Error) => {
    if (!err) return done(null);
    log.warn({ err: err.message, site }, 'ingest unavailable; message not acknowledged');
    done(err);
  };
  return {
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
      const address = addressOf(client);
      const cert = clientCertificateOf(client);
      const site = cert.kind === 'site' ? cert.site : username;
      const refuse = (why: string, code: AuthenticateError['returnCode'] = 4) => {
        metrics.aclDenied.inc({ op: 'connect' });
        throttle.failed(address);
        done(authError(why, code), false);
      };
      if (throttle.blocked(address, typeof site === 'string' ? site : undefined)) {
        metrics.aclDenied.inc({ op: 'connect' });
        return done(authError('too many failed logins from this address; try later', 5), false);
      }
      // A certificate presented is the identity, or the login fails: never a fall-back to the password.
      if (cert.kind === 'bad') return refuse(`client certificate not accepted: ${cert.why}`);
      if (cert.kind === 'site') {
        if (username !== undefined && username !== cert.site)
          return refuse(`username ${username} differs from the certificate's site ${cert.site}`, 5);
        if (!deps.verifyGatewayCertificate) return refuse('client certificates are not accepted here');
      } else if (ctx.requireClientCertificate && isTls(client))
        return refuse('a client certificate from the gateway CA is required on this listener', 5);
      if (!isGatewayUsername(site) || (cert.kind !== 'site' && !password))
        return refuse('username must be a site id, password required');
      const check =
        cert.kind === 'site'
          ? (deps.verifyGatewayCertificate as (site: string, serial: string) => Promise<boolean>)(
              site,
              cert.serial,
            )
          : deps.verifyGateway(site, (password as Buffer).toString());
      check.then(
        (ok) => {
          if (!ok)
            return cert.kind === 'site'
              ? refuse('client certificate revoked, replaced or unknown: enrol again')
              : refuse('bad credentials');
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
      let kind: TopicKind | undefined;
      const last = allowed.get(client);
      if (last && last.topic === packet.topic) kind = last.kind;
      else if (site) {
        kind = uplinkOf(site, packet.topic)?.kind;
        if (kind) allowed.set(client, { topic: packet.topic, kind });
      }
      if (!kind) {
        metrics.aclDenied.inc({ op: 'publish' });
        log.warn({ site, topic: packet.topic }, 'publish outside the gateway ACL refused');
        // MQTT 3.1.1 has no negative PUBACK: aedes disconnects the client.
        return done(new Error('publish not authorized'));
      }
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      // Uplink messages are consumed here; nobody subscribes to them through the broker.
      if (deps.onUplinkNow)
        return deps.onUplinkNow(site as string, kind, payload, ingested(site as string, done));
      deps.onUplink(site as string, kind, payload).then(() => done(null), ingested(site as string, done));
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
  };
}
