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
 * (clean: false, QoS 1) makes the broker keep uplink messages while the cloud is down. Messages are
 * acknowledged to the broker once queued for storage (mqtt.js handles one message at a time, so waiting
 * for the disk per message would serialize ingest); graceful shutdown flushes the queue.
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
  client.handleMessage = (packet, done) => {
    const t = parseSiteTopic(packet.topic);
    if (!t) return done();
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    onUplink(t.siteId, t.kind, payload).then(
      () => done(),
      (err) => {
        // Not acknowledged: the broker redelivers after we reconnect.
        log.warn({ err: (err as Error).message }, 'ingest unavailable; leaving message unacknowledged');
        client.end(true);
      },
    );
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
