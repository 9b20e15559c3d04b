/**
 * MQTT uplink (mqtt.js): QoS 1, persistent session (clean: false), retained online/offline status with
 * a last will, capabilities republished on every connect (a broker restart must not leave the cloud
 * blind), and telemetry pumped in order out of the store-and-forward buffer — a batch leaves the
 * buffer only when the broker acknowledged it.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  type Ack,
  type Capabilities,
  negotiatedVersion,
  parsePayload,
  SCHEMA_VERSION,
  type Status,
  SUPPORTED_SCHEMA_VERSIONS,
  schemaAnnouncementSchema,
} from '../protocols/mqtt/payloads.ts';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import type { RawBatch, TelemetryBuffer } from './buffer.ts';

export interface UplinkOptions {
  url: string;
  site: string;
  clientId?: string;
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
  keepaliveS?: number;
  reconnectMs?: number;
  agentVersion: string;
  buffer: TelemetryBuffer;
  capabilities(): Capabilities;
  mode(): Status['mode'];
  /** Remote setpoints the controller dropped early, reported in the online status (control/ledger.ts). */
  lapsed?(): NonNullable<Status['lapsed']>;
  log: Logger;
  /** Batches in flight at once (ordering is kept: the broker delivers a session's QoS 1 in order). */
  window?: number;
}

/** Acknowledged batches are removed from the buffer at most this late, or once this many wait. */
const ACK_FLUSH_MS = 250;
const ACK_FLUSH_COUNT = 64;

export interface UplinkEvents {
  connect: [];
  close: [];
  command: [payload: Buffer];
  published: [seq: number];
}

export class Uplink extends EventEmitter<UplinkEvents> {
  private client?: MqttClient;
  private readonly inflight = new Map<number, number>(); // seq → sent at (ms)
  private lastSent = 0;
  private pumping = false;
  private acked: number[] = [];
  private ackTimer?: NodeJS.Timeout;
  private siteJson?: string;
  private watchdog?: NodeJS.Timeout;
  connected = false;
  lastConnectedMs?: number;
  lastDisconnectMs?: number;
  connects = 0;
  /** Connection attempts that failed since the last successful connect, and why the last one did. */
  failures = 0;
  lastError?: string;
  /** Payload versions the cloud said it reads (its retained/online-time announcement); absent: not yet. */
  cloudSpeaks?: number[];

  constructor(private readonly opts: UplinkOptions) {
    super();
  }

  private topic(kind: Parameters<typeof siteTopic>[1]) {
    return siteTopic(this.opts.site, kind);
  }

  private status(state: 'online' | 'offline'): Status {
    const s: Status = {
      v: SCHEMA_VERSION,
      site: this.opts.site,
      state,
      ts: Date.now(),
      agentVersion: this.opts.agentVersion,
      mode: this.opts.mode(),
    };
    const lapsed = state === 'online' ? this.opts.lapsed?.() : undefined;
    return lapsed?.length ? { ...s, lapsed } : s;
  }

  start(): void {
    const o = this.opts;
    const options: IClientOptions = {
      clientId: o.clientId ?? `gridlayer-edge-${o.site}`,
      clean: false,
      keepalive: o.keepaliveS ?? 30,
      reconnectPeriod: o.reconnectMs ?? 2000,
      connectTimeout: 10_000,
      protocolVersion: 4,
      username: o.username,
      password: o.password,
      will: {
        topic: this.topic('status'),
        payload: Buffer.from(JSON.stringify(this.status('offline'))),
        qos: 1,
        retain: true,
      },
      // A refused login (bad password, cloud busy) is retried like a lost link: the operator may fix
      // the credentials on the cloud side, and a cloud restarting answers "server unavailable".
      reconnectOnConnackError: true,
      ...(o.ca && { ca: readPem('uplink.ca', o.ca) }),
      ...(o.cert && { cert: readPem('uplink.cert', o.cert) }),
      ...(o.key && { key: readPem('uplink.key', o.key) }),
      ...(o.servername && { servername: o.servername }),
      rejectUnauthorized: o.rejectUnauthorized !== false,
    };
    if (o.rejectUnauthorized === false)
      o.log.warn('uplink.rejectUnauthorized is false: the broker certificate is NOT verified');
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.on('connect', (connack) => {
      // Small frames, latency matters more than throughput: no Nagle.
      (client.stream as { setNoDelay?: (b: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.connected = true;
      this.connects++;
      this.failures = 0;
      this.lastError = undefined;
      this.lastConnectedMs = Date.now();
      o.log.info({ sessionPresent: connack.sessionPresent, backlog: o.buffer.size }, 'uplink connected');
      this.publishCapabilities();
      // "online" only once subscribed: the cloud answers it by re-sending the commands still open for
      // this site, which must not reach a broker session without the subscription (after a restart).
      // The schema topic: the cloud answers "online" with the payload versions it reads. Subscribed
      // apart from commands: an older cloud (or Mosquitto ACL) refuses it, which must not look like a
      // failed command subscription; the edge then keeps writing its own version.
      client.subscribe(this.topic('schema'), { qos: 1 }, (err) => {
        if (err) o.log.info({ err: err.message }, 'the cloud does not announce payload versions');
      });
      client.subscribe(this.topic('commands'), { qos: 1 }, (err) => {
        if (err) o.log.error({ err: err.message }, 'subscribe to commands failed');
        this.publishStatus();
      });
      this.emit('connect');
      this.pump();
    });
    client.on('close', () => {
      if (this.connected) {
        this.lastDisconnectMs = Date.now();
        o.log.warn({ backlog: o.buffer.size }, 'uplink lost');
        this.emit('close');
      }
      this.connected = false;
    });
    // One warning per outage (and per change of cause, and every 20th retry); the rest is debug noise.
    let quiet = false;
    client.on('error', (err) => {
      this.failures++;
      const changed = err.message !== this.lastError;
      this.lastError = err.message;
      const hint = uplinkHint(err);
      o.log[!quiet || changed || this.failures % 20 === 0 ? 'warn' : 'debug'](
        { err: err.message, failures: this.failures, ...(hint && { hint }) },
        'uplink error',
      );
      quiet = true;
    });
    client.on('connect', () => {
      quiet = false;
    });
    client.on('message', (topic, payload) => {
      if (topic === this.topic('schema')) this.onSchema(payload);
      else this.emit('command', payload);
    });
    // mqtt.js resends unacknowledged QoS 1 packets after a reconnect; if one is lost anyway
    // (broker restarted without its session) resend it from the buffer: duplicates, never loss.
    this.watchdog = setInterval(() => this.checkStale(), 5000);
    this.watchdog.unref();
  }

  private checkStale(): void {
    if (!this.connected) return;
    const now = Date.now();
    let stale = false;
    for (const sent of this.inflight.values()) if (now - sent > 30_000) stale = true;
    if (stale) {
      this.opts.log.warn(
        { inflight: this.inflight.size },
        'unacknowledged batches: resending from the buffer',
      );
      this.inflight.clear();
      this.lastSent = 0;
      this.pump();
    }
  }

  private onSchema(payload: Buffer): void {
    const r = parsePayload(schemaAnnouncementSchema, payload);
    if (!r.ok) {
      this.opts.log.warn({ err: r.error }, 'schema announcement not understood');
      return;
    }
    this.cloudSpeaks = r.value.speaks;
    const v = negotiatedVersion(r.value.speaks);
    if (!r.value.speaks.includes(v))
      this.opts.log.warn(
        { cloud: r.value.speaks, edge: SUPPORTED_SCHEMA_VERSIONS },
        'the cloud reads none of our payload versions: telemetry it does not know is quarantined there',
      );
    else this.opts.log.debug({ cloud: r.value.speaks, using: v }, 'payload version agreed');
  }

  /** The payload version telemetry is written in: the highest both sides read. */
  get schemaVersion(): number {
    return negotiatedVersion(this.cloudSpeaks);
  }

  publishStatus(): void {
    if (!this.client?.connected) return;
    this.client.publish(this.topic('status'), JSON.stringify(this.status('online')), {
      qos: 1,
      retain: true,
    });
  }

  publishCapabilities(): void {
    if (!this.client?.connected) return;
    this.client.publish(this.topic('capabilities'), JSON.stringify(this.opts.capabilities()), {
      qos: 1,
      retain: true,
    });
  }

  /**
   * Acks are small and rare; mqtt.js queues them while offline (in memory only: the command ledger
   * keeps each answer until `onDelivered`, the broker's PUBACK, and the agent sends it again on connect).
   */
  publishAck(ack: Ack, onDelivered?: () => void): void {
    this.client?.publish(this.topic('acks'), JSON.stringify(ack), { qos: 1 }, (err) => {
      if (!err) onDelivered?.();
    });
  }

  /** Publishes buffered batches in order while connected, keeping `window` in flight. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const window = this.opts.window ?? 8;
      while (this.connected && this.client?.connected && this.inflight.size < window) {
        const batches = this.opts.buffer.peekRaw(window - this.inflight.size, this.lastSent);
        if (batches.length === 0) break;
        for (const b of batches) this.send(this.client, b);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Publishes a batch just appended to the buffer without reading it back, when it is the very next
   * one after the last sent and the window has room; otherwise pumps from the buffer as usual (order
   * is kept either way: seqs are consecutive row ids).
   */
  offer(b: RawBatch): void {
    const window = this.opts.window ?? 8;
    const client = this.client;
    if (
      this.pumping ||
      !this.connected ||
      !client?.connected ||
      this.inflight.size >= window ||
      b.seq !== this.lastSent + 1
    ) {
      this.pump();
      return;
    }
    this.send(client, b);
  }

  private send(client: MqttClient, b: RawBatch): void {
    this.inflight.set(b.seq, Date.now());
    this.lastSent = b.seq;
    client.publish(this.topic('telemetry'), this.telemetryPayload(b), { qos: 1 }, (err) => {
      if (!this.inflight.has(b.seq)) {
        // Reset by the watchdog, or a late ack: the buffer row may already be gone.
        if (!err) this.ackLater(b.seq, false);
        return;
      }
      this.inflight.delete(b.seq);
      if (err) {
        // Not acknowledged: rewind so it goes again, in order.
        this.lastSent = Math.min(this.lastSent, b.seq - 1);
        return;
      }
      this.ackLater(b.seq, true);
    });
  }

  /**
   * The TelemetryBatch JSON (same keys, same order as JSON.stringify of the object) with the stored
   * samples spliced in as text: the buffer holds them as JSON already.
   */
  private telemetryPayload(b: RawBatch): string {
    this.siteJson ??= JSON.stringify(this.opts.site);
    const replay = b.offline ? ',"replay":true' : '';
    return `{"v":${this.schemaVersion},"site":${this.siteJson},"seq":${b.seq}${replay},"samples":${b.samplesJson}}`;
  }

  /**
   * A PUBACKed batch is removed from the buffer with the others acknowledged within ACK_FLUSH_MS, in one
   * transaction: one commit per acknowledged message was most of what report by exception added to the
   * agent's CPU. A crash before that commit resends those batches on restart: duplicates (the cloud
   * drops them by seq), never a loss. The window slot is free at once; the pump goes on if anything waits.
   */
  private ackLater(seq: number, emit: boolean): void {
    this.acked.push(seq);
    if (emit) this.emit('published', seq);
    if (this.acked.length >= ACK_FLUSH_COUNT) this.flushAcks();
    else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => this.flushAcks(), ACK_FLUSH_MS);
      this.ackTimer.unref();
    }
    if (this.backlog > this.inflight.size) setImmediate(() => this.pump());
  }

  /** Batches in the buffer the broker has not acknowledged yet (in flight or not sent). */
  get backlog(): number {
    return this.opts.buffer.size - this.acked.length;
  }

  /** Removes the acknowledged batches from the buffer now (the agent calls it before closing the buffer). */
  flushAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const acked = this.acked;
    if (acked.length === 0) return;
    this.acked = [];
    this.opts.buffer.ackMany(acked);
  }

  /** Graceful stop: tells the cloud we are going offline on purpose, then disconnects. */
  async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    this.flushAcks();
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await new Promise<void>((resolve) => {
        client.publish(
          this.topic('status'),
          JSON.stringify(this.status('offline')),
          { qos: 1, retain: true },
          () => resolve(),
        );
        setTimeout(resolve, 1000).unref();
      });
    }
    await client.endAsync(true);
    this.connected = false;
  }
}

/** Reads a PEM file named in the config, failing with the config key rather than a bare ENOENT. */
function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** What an installer should check for the usual connection failures. */
export function uplinkHint(err: Error & { code?: unknown }): string | undefined {
  const m = err.message;
  if (/Bad username or password|Not authorized/i.test(m))
    return 'the broker refused the login: check uplink.username (the site id) and uplink.password';
  if (/Hostname\/IP does not match|altnames/i.test(m))
    return "the broker certificate does not name this host: set uplink.servername to the certificate's name";
  if (/certificate|self[- ]signed|unable to (get|verify)|TLS not authorized/i.test(m))
    return 'the broker certificate is not trusted: check uplink.ca (and uplink.servername)';
  if (/ECONNREFUSED/.test(m))
    return 'nothing listens at uplink.url: check host, port and mqtt:// vs mqtts://';
  return undefined;
}
