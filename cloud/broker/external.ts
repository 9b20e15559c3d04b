import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { allSitesFilter, parseSiteTopic, type TopicKind, UPLINK_KINDS } from '../../protocols/mqtt/topics.ts';
import type { CloudConfig } from '../config.ts';

type ExternalConfig = Extract<CloudConfig['broker'], { mode: 'external' }>;

export interface ExternalBus {
  publish(topic: string, payload: string): Promise<void>;
  close(): Promise<void>;
  readonly connected: boolean;
}

/**
 * The cloud as a client of an external broker (e.g. Mosquitto at scale). A persistent session
 * (clean: false, QoS 1) makes the broker keep uplink messages while the cloud is down. A message is
 * acknowledged (PUBACK) to the broker only once it is stored, so a cloud killed at any moment loses
 * nothing the broker handed it: the broker redelivers what was not acknowledged.
 *
 * mqtt.js sends a message's PUBACK from handleMessage's callback and reads the next packet only after
 * that, so waiting for the disk there would allow one commit per message. Instead handleMessage hands
 * each message to ingest and returns at once, and its PUBACK is held back (see holdPubacks) until ingest
 * has stored it: many messages share one commit, the broker's in-flight window bounds how many wait.
 */
export async function connectExternalBroker(
  config: ExternalConfig,
  onUplink: (site: string, kind: TopicKind, payload: Buffer) => Promise<unknown>,
  log: Logger,
): Promise<ExternalBus> {
  const client: MqttClient = mqtt.connect(config.url, {
    clientId: config.clientId,
    username: config.username,
    password: config.password,
    ca: config.ca ? readFileSync(config.ca) : undefined,
    clean: false,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    protocolVersion: 4,
  });
  const stored = holdPubacks(client, log);
  client.handleMessage = (packet, done) => {
    const t = parseSiteTopic(packet.topic);
    if (t) {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      stored(packet.messageId, onUplink(t.siteId, t.kind, payload));
    }
    done();
  };
  client.on('connect', () => {
    (client.stream as Socket).setNoDelay?.(true);
    log.info({ url: config.url }, 'connected to external broker');
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'external broker error'));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const filters = Object.fromEntries(UPLINK_KINDS.map((k) => [allSitesFilter(k), { qos: 1 as const }]));
  const granted = await client.subscribeAsync(filters);
  const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
  if (refused.length) throw new Error(`external broker refused subscriptions: ${refused.join(', ')}`);
  return {
    publish: async (topic, payload) => {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    close: () => client.endAsync(),
    get connected() {
      return client.connected;
    },
  };
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void) => void;

/**
 * Holds each PUBACK mqtt.js is about to send back until the message's ingest promise has resolved, and
 * sends them in the order the messages arrived (MQTT 3.1.1 4.6 asks for PUBACKs in PUBLISH order). When
 * ingest fails, the connection is dropped with that PUBACK and every later one unsent, so the broker
 * redelivers them once we reconnect. Returns the function that registers a message's ingest promise.
 *
 * This reaches into mqtt.js's `_sendPacket` (stable across mqtt.js 4 and 5): its handlers offer no hook
 * that acknowledges a QoS 1 message later without stalling the connection's packet loop.
 */
function holdPubacks(
  client: MqttClient,
  log: Logger,
): (messageId: number | undefined, ingest: Promise<unknown>) => void {
  const pending = new Map<number, Promise<unknown>>();
  const internals = client as unknown as { _sendPacket: SendPacket };
  const send = internals._sendPacket.bind(client) as SendPacket;
  let chain: Promise<unknown> = Promise.resolve();
  let failed = false;
  // A PUBACK belongs to the connection its PUBLISH came on: after a reconnect the broker redelivers.
  let connection = 0;
  internals._sendPacket = (packet, cb) => {
    const ingest =
      packet.cmd === 'puback' && packet.messageId !== undefined ? pending.get(packet.messageId) : undefined;
    if (!ingest) return send(packet, cb);
    pending.delete(packet.messageId as number);
    const on = connection;
    // The packet loop goes on now; the PUBACK itself waits for the store and for earlier PUBACKs.
    cb?.();
    chain = chain.then(() =>
      ingest.then(
        () => {
          if (!failed && on === connection) send(packet);
        },
        (err) => {
          if (failed) return;
          failed = true;
          log.warn({ err: (err as Error).message }, 'ingest unavailable; leaving messages unacknowledged');
          client.end(true, () => {
            failed = false;
            client.reconnect();
          });
        },
      ),
    );
  };
  client.on('connect', () => {
    connection++;
    pending.clear();
  });
  return (messageId, ingest) => {
    // Never leave a rejection unhandled: the chain above reports it.
    ingest.catch(() => undefined);
    if (messageId !== undefined) pending.set(messageId, ingest);
  };
}
