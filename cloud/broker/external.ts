import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { allSitesFilter, parseSiteTopic, type TopicKind, UPLINK_KINDS } from '../../protocols/mqtt/topics.ts';
import type { CloudConfig } from '../config.ts';

type ExternalConfig = Extract<CloudConfig['broker'], { mode: 'external' }>;

/** Reconnect spacing after a lost connection; after ingest failures it doubles up to the maximum. */
const RECONNECT_MS = 2000;
const MAX_BACKOFF_MS = 30_000;

export interface ExternalBus {
  publish(topic: string, payload: string): Promise<void>;
  close(): Promise<void>;
  readonly connected: boolean;
}

/**
 * Ingests one uplink message. Resolves once it is handled in order (queued for storage; the caller
 * reads the next message then); `stored` is handed the promise that the message is durably stored.
 */
export type ExternalUplink = (
  site: string,
  kind: TopicKind,
  payload: Buffer,
  stored: (written: Promise<unknown>) => void,
) => Promise<unknown>;

/**
 * The cloud as a client of an external broker (e.g. Mosquitto at scale). A persistent session
 * (clean: false, QoS 1) makes the broker keep uplink messages while the cloud is down.
 *
 * A message is acknowledged (PUBACK) to the broker only once it is stored, as on the embedded broker:
 * acknowledged means Mosquitto forgets it, so a kill -9 between acknowledgement and commit would lose
 * it. mqtt.js reads the next packet only after the PUBACK of the previous one is handed to
 * `_sendPacket`, so waiting for the disk inside handleMessage would serialize ingest to one message per
 * commit. Instead the message is handled (queued) in order, the parser goes on, and the PUBACK itself
 * is held until the write commits, released in arrival order (MQTT 3.1.1 4.6). The broker's in-flight
 * window (Mosquitto `max_inflight_messages`, default 20) bounds how many wait at once.
 */
export async function connectExternalBroker(
  config: ExternalConfig,
  onUplink: ExternalUplink,
  log: Logger,
): Promise<ExternalBus> {
  const client: MqttClient = mqtt.connect(config.url, {
    clientId: config.clientId,
    username: config.username,
    password: config.password,
    ca: config.ca ? readFileSync(config.ca) : undefined,
    clean: false,
    reconnectPeriod: RECONNECT_MS,
    connectTimeout: 10_000,
    protocolVersion: 4,
  });
  // messageId → the promise that the message is stored and the connection it came on, until its PUBACK.
  const stored = new Map<number, { written: Promise<unknown>; on: number }>();
  let connection = 0;
  let acks: Promise<unknown> = Promise.resolve();
  let closing = false;
  let failures = 0;
  const failed = (err: unknown, on: number) => {
    // One failure ends a connection once; the other messages in flight on it fail with it.
    if (on !== connection || closing) return;
    // Not acknowledged: the broker keeps it in our persistent session and redelivers it when we are
    // back. The connection is dropped (no later PUBACK of it goes out, order is kept) and mqtt.js
    // reconnects after a growing back-off: a registry that was briefly unavailable must not stop
    // ingest for good, and one that stays down must not be hammered.
    failures++;
    const backoffMs = Math.min(MAX_BACKOFF_MS, RECONNECT_MS * 2 ** Math.min(failures - 1, 4));
    client.options.reconnectPeriod = backoffMs;
    log.warn(
      { err: (err as Error).message, reconnectInMs: backoffMs },
      'ingest unavailable; message left unacknowledged, reconnecting to the broker',
    );
    connection++;
    client.stream?.destroy();
  };
  client.handleMessage = (packet, done) => {
    const t = parseSiteTopic(packet.topic);
    if (!t) return done();
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let written: Promise<unknown> | undefined;
    const on = connection;
    onUplink(t.siteId, t.kind, payload, (w) => {
      written = w;
    }).then(
      () => {
        if (packet.qos === 1 && packet.messageId !== undefined)
          stored.set(packet.messageId, { written: written ?? Promise.resolve(), on });
        done();
      },
      (err) => failed(err, on),
    );
  };
  // mqtt.js's internal send (pinned by package-lock; external-ack.test.ts fails if it changes).
  const c = client as unknown as {
    _sendPacket: (
      packet: { cmd: string; messageId?: number },
      cb?: (err?: Error) => void,
      ...rest: unknown[]
    ) => void;
  };
  const send = c._sendPacket.bind(client);
  c._sendPacket = (packet, cb, ...rest) => {
    const held = packet.cmd === 'puback' && packet.messageId !== undefined && stored.get(packet.messageId);
    if (!held) return send(packet, cb, ...rest);
    stored.delete(packet.messageId as number);
    const { written, on } = held;
    cb?.(); // the parser reads the next message now; the PUBACK waits for the disk
    acks = acks.then(
      () =>
        written.then(
          () => {
            // A PUBACK of an earlier connection is not sent: the broker redelivers, dedupe drops the copy.
            if (on === connection && client.connected) {
              send(packet);
              if (failures) {
                failures = 0;
                client.options.reconnectPeriod = RECONNECT_MS;
              }
            }
          },
          (err) => failed(err, on),
        ),
      () => undefined,
    );
  };
  client.on('connect', () => {
    connection++;
    stored.clear();
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
    close: () => {
      closing = true;
      return client.endAsync();
    },
    get connected() {
      return client.connected;
    },
  };
}
