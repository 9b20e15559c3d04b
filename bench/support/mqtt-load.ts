/**
 * Load generator for bench/cloud-ingest.bench.ts, run as its own process so its CPU is not charged to
 * the broker under test. Simulated gateways are raw MQTT 3.1.1 sockets (mqtt-packet), a few KB each,
 * so 10,000 of them fit in one process. Config comes as a JSON file named by GRIDLAYER_LOAD_FILE; results go to stdout as
 * JSON lines.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { siteTopic } from '../../protocols/mqtt/topics.ts';

interface LoadConfig {
  host: string;
  port: number;
  sites: { site: string; password?: string }[];
  mode: 'throughput' | 'fanin';
  durationMs: number;
  /** throughput: QoS-1 publishes in flight per gateway. */
  window: number;
  /** fanin: one message per gateway every intervalMs. */
  intervalMs: number;
  rampPerSec: number;
  devicesPerMsg: number;
}

const cfg = JSON.parse(readFileSync(process.env.GRIDLAYER_LOAD_FILE as string, 'utf8')) as LoadConfig;
const emit = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

let acks = 0;
let sent = 0;
let connected = 0;
let failures = 0;
let running = true;
const POINTS = { w: 3500, var: -120, v: 231.4, a: 15.2, hz: 50.01, pf: 0.99 };

function payload(site: string, seq: number): string {
  const ts = Date.now();
  const samples = [];
  for (let d = 0; d < cfg.devicesPerMsg; d++) samples.push({ ts, device: `dev${d}`, values: POINTS });
  return JSON.stringify({ v: 1, site, seq, samples });
}

function gateway(site: string, password: string | undefined, onReady: () => void) {
  const sock: Socket = connect({ host: cfg.host, port: cfg.port, noDelay: true });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const topic = siteTopic(site, 'telemetry');
  let seq = 0;
  let mid = 0;
  let inflight = 0;
  const publish = () => {
    mid = (mid % 65535) + 1;
    inflight++;
    sent++;
    sock.write(
      mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload: payload(site, seq++),
        qos: 1,
        messageId: mid,
        retain: false,
        dup: false,
      }),
    );
  };
  const pump = () => {
    while (running && inflight < cfg.window) publish();
  };
  parser.on('packet', (p) => {
    if (p.cmd === 'connack') {
      if (p.returnCode !== 0) {
        failures++;
        sock.destroy();
        return;
      }
      connected++;
      onReady();
      if (cfg.mode === 'throughput') pump();
      else {
        // Spread the gateways' 5-second ticks evenly.
        setTimeout(() => {
          if (!running) return;
          publish();
          const t = setInterval(() => (running ? publish() : clearInterval(t)), cfg.intervalMs);
        }, Math.random() * cfg.intervalMs);
      }
    } else if (p.cmd === 'puback') {
      acks++;
      inflight--;
      if (cfg.mode === 'throughput') pump();
    }
  });
  sock.on('data', (d) => parser.parse(d));
  sock.on('error', () => undefined);
  sock.on('connect', () => {
    sock.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: site,
        keepalive: 120,
        username: password ? site : undefined,
        password: password ? Buffer.from(password) : undefined,
      }),
    );
  });
  return sock;
}

const sockets: Socket[] = [];
let ready = 0;
await new Promise<void>((resolve) => {
  let i = 0;
  const perTick = Math.max(1, Math.round(cfg.rampPerSec / 20));
  const tick = setInterval(() => {
    for (let k = 0; k < perTick && i < cfg.sites.length; k++, i++) {
      const s = cfg.sites[i];
      sockets.push(gateway(s.site, s.password, () => ++ready === cfg.sites.length && resolve()));
    }
    if (i >= cfg.sites.length) clearInterval(tick);
  }, 50);
  // Do not wait forever on refused logins.
  setTimeout(resolve, 60_000 + (cfg.sites.length / cfg.rampPerSec) * 1000);
});
emit({ event: 'connected', connected, failures });
const a0 = acks;
const t0 = Date.now();
await new Promise((r) => setTimeout(r, cfg.durationMs));
const elapsed = (Date.now() - t0) / 1000;
emit({
  event: 'done',
  acksPerSec: (acks - a0) / elapsed,
  acks: acks - a0,
  sent,
  connected,
  failures,
  elapsed,
});
running = false;
for (const s of sockets) s.destroy();
process.exit(0);
