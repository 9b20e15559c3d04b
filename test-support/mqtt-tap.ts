/**
 * A transparent TCP relay between gateways and their MQTT broker that decodes (mqtt-packet) both
 * directions without changing a byte: the fault-injection suite's ground truth. It records every
 * telemetry batch the broker acknowledged (PUBLISH from the gateway answered by a PUBACK on the same
 * connection), every command the broker delivered and every ack a gateway published. The truth thus
 * comes from the wire, neither from the cloud's store being checked nor from the edge's own bookkeeping.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { parseSiteTopic } from '../protocols/mqtt/topics.ts';

export interface WireSample {
  ts: number;
  device: string;
  values: Record<string, number>;
  quality?: Record<string, string>;
}

export interface AckedBatch {
  site: string;
  seq: number;
  samples: WireSample[];
  /** When the broker's PUBACK passed the relay. */
  ackedAtMs: number;
}

export interface SeenMessage {
  site: string;
  atMs: number;
  json: any;
}

export class MqttTap {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** `${site}:${seq}` → the first acknowledged copy. */
  readonly acked = new Map<string, AckedBatch>();
  /** Telemetry batches gateways published (every copy, acknowledged or not). */
  readonly published: SeenMessage[] = [];
  /** Telemetry PUBACKs by the broker (every copy). */
  telemetryPubacks = 0;
  /** Command acks gateways published (every copy). */
  readonly gatewayAcks: SeenMessage[] = [];
  /** Commands the broker delivered to gateways (every copy). */
  readonly commandDeliveries: SeenMessage[] = [];
  /** Bytes the decoder could not parse: must stay empty, or the counts above are not the truth. */
  readonly decodeErrors: string[] = [];
  port = 0;

  constructor(
    private readonly upstream: { host: string; port: number },
    private readonly now = Date.now,
  ) {}

  async start(port = 0): Promise<number> {
    const srv = createServer((down) => this.relay(down));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (srv.address() as AddressInfo).port;
    return this.port;
  }

  /** Cuts every relayed connection (both sides see the link drop), keeps listening. */
  cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.cutAll();
    const srv = this.server;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  private relay(down: Socket): void {
    const up = connect({ host: this.upstream.host, port: this.upstream.port });
    down.setNoDelay(true);
    up.setNoDelay(true);
    this.sockets.add(down);
    this.sockets.add(up);
    const end = () => {
      down.destroy();
      up.destroy();
      this.sockets.delete(down);
      this.sockets.delete(up);
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);

    // Per connection: packet id → the gateway's telemetry PUBLISH still waiting for its PUBACK.
    const waiting = new Map<number, { site: string; json: any }>();
    let protocolVersion = 4;
    let site = '';
    const fromGateway = mqttPacket.parser({ protocolVersion });
    let fromBroker = mqttPacket.parser({ protocolVersion });
    fromGateway.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') {
        protocolVersion = p.protocolVersion ?? 4;
        fromBroker = mqttPacket.parser({ protocolVersion });
        fromBroker.on('packet', onBrokerPacket);
        fromBroker.on('error', (e: Error) => this.decodeErrors.push(`broker→gateway: ${e.message}`));
        return;
      }
      if (p.cmd !== 'publish') return;
      const t = parseSiteTopic(p.topic);
      if (!t) return;
      site = t.siteId;
      const json = parseJson(p.payload);
      if (t.kind === 'telemetry') {
        if (json) this.published.push({ site: t.siteId, atMs: this.now(), json });
        if (p.qos > 0 && p.messageId !== undefined && json)
          waiting.set(p.messageId, { site: t.siteId, json });
      } else if (t.kind === 'acks' && json) {
        this.gatewayAcks.push({ site: t.siteId, atMs: this.now(), json });
      }
    });
    fromGateway.on('error', (e: Error) => this.decodeErrors.push(`gateway→broker: ${e.message}`));
    const onBrokerPacket = (p: Packet) => {
      if (p.cmd === 'puback' && p.messageId !== undefined) {
        const w = waiting.get(p.messageId);
        if (!w) return; // an ack or status publish
        waiting.delete(p.messageId);
        this.telemetryPubacks++;
        const key = `${w.site}:${w.json.seq}`;
        if (!this.acked.has(key))
          this.acked.set(key, {
            site: w.site,
            seq: w.json.seq,
            samples: w.json.samples,
            ackedAtMs: this.now(),
          });
      } else if (p.cmd === 'publish') {
        const t = parseSiteTopic(p.topic);
        const json = parseJson(p.payload);
        if (t?.kind === 'commands' && json)
          this.commandDeliveries.push({ site: t.siteId || site, atMs: this.now(), json });
      }
    };
    fromBroker.on('packet', onBrokerPacket);
    fromBroker.on('error', (e: Error) => this.decodeErrors.push(`broker→gateway: ${e.message}`));

    down.on('data', (d: Buffer) => {
      up.write(d);
      fromGateway.parse(d);
    });
    up.on('data', (d: Buffer) => {
      down.write(d);
      fromBroker.parse(d);
    });
  }
}

function parseJson(payload: string | Buffer): any {
  try {
    return JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
}
