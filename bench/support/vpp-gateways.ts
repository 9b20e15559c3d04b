/**
 * Lightweight simulated gateways for bench/vpp.bench.ts, in their own process: raw MQTT 3.1.1
 * sockets (mqtt-packet) speaking the edge protocol. Each publishes capabilities (PV inverter,
 * battery, meter), telemetry every `periodMs` (random phase), and answers commands like the edge:
 * a battery_power setpoint holds until its expiry, is acknowledged with the applied value, and the
 * new output is reported at once. Config: JSON file named by GRIDLAYER_VPPGW_FILE. Output: JSON lines
 * ({event:'connected'}, {event:'cmd', site, at, id}) on stdout. Sessions are persistent (clean: false)
 * like the edge's, so the broker's session store is on the command path.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { siteTopic } from '../../protocols/mqtt/topics.ts';

interface Config {
  host: string;
  port: number;
  password: string;
  sites: string[];
  periodMs: number;
  rampPerSec: number;
}
const cfg = JSON.parse(readFileSync(process.env.GRIDLAYER_VPPGW_FILE as string, 'utf8')) as Config;
const emit = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const LOAD = 1000;
const PV = 2000;
const MAX = 5000;

/** One gateway connection; `onReady` once it is registered. A dropped one reconnects (below). */
function gateway(site: string, onReady: () => void) {
  const sock = connect({ host: cfg.host, port: cfg.port, noDelay: true });
  let timer: NodeJS.Timeout | undefined;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let mid = 0;
  let seq = 0;
  let bat: { w: number; expiresAt: number } | undefined;
  const pub = (kind: 'telemetry' | 'capabilities' | 'acks', body: unknown) => {
    mid = (mid % 65535) + 1;
    sock.write(
      mqttPacket.generate({
        cmd: 'publish',
        topic: siteTopic(site, kind),
        payload: JSON.stringify(body),
        qos: 1,
        messageId: mid,
        retain: false,
        dup: false,
      }),
    );
  };
  const telemetry = () => {
    const now = Date.now();
    if (bat && bat.expiresAt <= now) bat = undefined;
    const b = bat?.w ?? 0;
    pub('telemetry', {
      v: 1,
      site,
      seq: ++seq,
      samples: [
        { ts: now, device: 'pv1', values: { w: PV } },
        { ts: now, device: 'bat1', values: { w: b, soc_pct: 50 } },
        { ts: now, device: 'm1', values: { w: PV + b - LOAD } },
      ],
    });
  };
  parser.on('packet', (p) => {
    if (p.cmd === 'connack') {
      connacks++;
      if (p.returnCode !== 0) return sock.destroy();
      sock.write(
        mqttPacket.generate({
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [{ topic: siteTopic(site, 'commands'), qos: 1 }],
        }),
      );
      pub('capabilities', {
        v: 1,
        site,
        ts: Date.now(),
        devices: [
          {
            id: 'pv1',
            kind: 'inverter',
            protocol: 'sunspec-tcp',
            nameplate: { w_max: 5000 },
            controls: ['active_power_limit'],
          },
          {
            id: 'bat1',
            kind: 'battery',
            protocol: 'sunspec-tcp',
            nameplate: { w_charge_max: MAX, w_discharge_max: MAX, wh_capacity: 10_000 },
            controls: ['battery_power'],
          },
          { id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] },
        ],
      });
      onReady();
      timer = setTimeout(() => {
        telemetry();
        timer = setInterval(telemetry, cfg.periodMs);
      }, Math.random() * cfg.periodMs);
    } else if (p.cmd === 'publish') {
      const at = Date.now();
      if (p.qos > 0) sock.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId as number }));
      const c = JSON.parse(p.payload.toString()) as {
        id: string;
        type: string;
        w: number;
        expiresAt: number;
      };
      emit({ event: 'cmd', site, at, type: c.type, id: c.id });
      if (c.type === 'battery_power') {
        const w = Math.max(-MAX, Math.min(MAX, c.w));
        bat = { w, expiresAt: c.expiresAt };
        pub('acks', { v: 1, site, commandId: c.id, ts: Date.now(), status: 'applied', applied: { w } });
        telemetry();
      } else
        pub('acks', { v: 1, site, commandId: c.id, ts: Date.now(), status: 'applied', applied: { w: c.w } });
    }
  });
  sock.on('data', (d) => parser.parse(d));
  sock.on('error', () => undefined);
  sock.on('close', () => {
    closed++;
    clearTimeout(timer);
    clearInterval(timer);
    // Like the edge: a connection that drops (or never got its CONNACK) is retried after 1–3 s.
    if (!stopping) setTimeout(() => gateway(site, onReady), 1000 + Math.random() * 2000);
  });
  sock.on('connect', () =>
    sock.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        // Persistent session, like the edge's uplink: the broker's session store is on the path.
        clean: false,
        clientId: site,
        keepalive: 120,
        username: site,
        password: Buffer.from(cfg.password),
      }),
    ),
  );
}

/** A gateway counts as ready once, however often it reconnects. */
function gatewayOnce(site: string, onReady: () => void) {
  let done = false;
  gateway(site, () => {
    if (done) return;
    done = true;
    onReady();
  });
}

let stopping = false;
let ready = 0;
let i = 0;
const perTick = Math.max(1, Math.round(cfg.rampPerSec / 20));
const ramp = setInterval(() => {
  for (let k = 0; k < perTick && i < cfg.sites.length; k++, i++)
    gatewayOnce(cfg.sites[i], () => {
      if (++ready === cfg.sites.length) emit({ event: 'connected', n: ready });
    });
  if (i >= cfg.sites.length) clearInterval(ramp);
}, 50);
// How far the fleet got (the bench shows it while waiting for the connections).
let connacks = 0;
let closed = 0;
const progress = setInterval(() => emit({ event: 'progress', connacks, ready, closed }), 5000);
progress.unref();
process.on('SIGTERM', () => {
  stopping = true;
  process.exit(0);
});
