/**
 * A fake gateway for VPP tests: a real mqtt.js client logged in as its site, with a one-line site
 * physics (meter = pv + battery − load). It publishes capabilities, then telemetry every `periodMs`,
 * and answers commands like the edge: battery_power / active_power_limit setpoints until they expire
 * (then back to default), acknowledged with what was applied. `behaviour` makes it misbehave:
 * `ignore` acknowledges but leaves its output unchanged; `refuse` refuses every command.
 */
import type { MqttClient } from 'mqtt';
import { type Command, commandSchema } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { connectGateway } from './test-cloud.ts';

export interface FakeSiteSpec {
  site: string;
  loadW: number;
  pvAvailableW: number;
  /** Battery power in default mode (device convention: + discharge). */
  batteryDefaultW: number;
  socPct: number;
  pvMaxW?: number;
  batteryMaxW?: number;
  whCapacity?: number;
  limits?: { import_w_max?: number; export_w_max?: number };
  behaviour?: 'normal' | 'ignore' | 'refuse';
}

export class FakeGateway {
  client!: MqttClient;
  readonly commands: Command[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private battery?: { w: number; expiresAt: number };
  private pvLimit?: { w: number; expiresAt: number };
  /** Set to true to stop publishing telemetry (the device "drops out"). */
  silent = false;

  constructor(readonly spec: FakeSiteSpec) {}

  static async start(url: string, password: string, spec: FakeSiteSpec, periodMs = 100) {
    const g = new FakeGateway(spec);
    g.client = await connectGateway(url, spec.site, password);
    await g.client.subscribeAsync(siteTopic(spec.site, 'commands'), { qos: 1 });
    g.client.on('message', (_t, payload) => g.onCommand(payload.toString()));
    await g.client.publishAsync(siteTopic(spec.site, 'capabilities'), g.capabilities(), { qos: 1 });
    await g.publish();
    g.timer = setInterval(() => void g.publish().catch(() => undefined), periodMs);
    return g;
  }

  private capabilities() {
    const s = this.spec;
    return JSON.stringify({
      v: 1,
      site: s.site,
      ts: Date.now(),
      limits: s.limits,
      devices: [
        {
          id: 'pv1',
          kind: 'inverter',
          protocol: 'sunspec-tcp',
          nameplate: { w_max: s.pvMaxW ?? 5000 },
          controls: ['active_power_limit'],
        },
        {
          id: 'bat1',
          kind: 'battery',
          protocol: 'sunspec-tcp',
          nameplate: {
            w_charge_max: s.batteryMaxW ?? 5000,
            w_discharge_max: s.batteryMaxW ?? 5000,
            wh_capacity: s.whCapacity ?? 10_000,
          },
          controls: ['battery_power'],
        },
        { id: 'm1', kind: 'meter', protocol: 'sunspec-tcp', nameplate: {}, controls: [] },
      ],
    });
  }

  /** What the devices deliver now (device convention) and the meter (export +). */
  values(now = Date.now()) {
    const s = this.spec;
    if (this.battery && this.battery.expiresAt <= now) this.battery = undefined;
    if (this.pvLimit && this.pvLimit.expiresAt <= now) this.pvLimit = undefined;
    const bat = this.battery?.w ?? s.batteryDefaultW;
    const pv = Math.min(s.pvAvailableW, this.pvLimit?.w ?? Number.POSITIVE_INFINITY);
    return { pv, bat, meter: pv + bat - s.loadW, remote: !!(this.battery || this.pvLimit) };
  }

  async publish() {
    if (this.silent) return;
    const now = Date.now();
    const v = this.values(now);
    await this.client.publishAsync(
      siteTopic(this.spec.site, 'telemetry'),
      JSON.stringify({
        v: 1,
        site: this.spec.site,
        seq: ++this.seq,
        samples: [
          { ts: now, device: 'pv1', values: { w: v.pv } },
          { ts: now, device: 'bat1', values: { w: v.bat, soc_pct: this.spec.socPct } },
          { ts: now, device: 'm1', values: { w: v.meter } },
        ],
      }),
      { qos: 1 },
    );
  }

  private onCommand(text: string) {
    const c = commandSchema.parse(JSON.parse(text));
    this.commands.push(c);
    const ack = (status: 'applied' | 'refused', extra: object = {}) =>
      this.client.publish(
        siteTopic(this.spec.site, 'acks'),
        JSON.stringify({ v: 1, site: this.spec.site, commandId: c.id, ts: Date.now(), status, ...extra }),
        { qos: 1 },
      );
    const b = this.spec.behaviour ?? 'normal';
    if (b === 'refuse') return ack('refused', { reason: 'device in local mode' });
    if (c.type !== 'battery_power' && c.type !== 'active_power_limit')
      return ack('refused', { reason: 'unsupported' });
    const max = c.type === 'battery_power' ? (this.spec.batteryMaxW ?? 5000) : (this.spec.pvMaxW ?? 5000);
    const w = Math.max(c.type === 'battery_power' ? -max : 0, Math.min(max, c.w));
    if (b === 'normal') {
      if (c.type === 'battery_power') this.battery = { w, expiresAt: c.expiresAt };
      else this.pvLimit = { w, expiresAt: c.expiresAt };
    }
    ack('applied', { applied: { w } });
    void this.publish().catch(() => undefined);
  }

  async stop() {
    clearInterval(this.timer);
    await this.client.endAsync(true);
  }
}
