import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { capabilitiesSchema, statusSchema, telemetryBatchSchema } from '../protocols/mqtt/payloads.ts';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { SimSite } from '../sim-devices/site.ts';
import { simDevices, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

const NOON = Date.UTC(2026, 5, 21, 11);

describe('edge agent against the simulated site (Modbus TCP) and aedes', function () {
  this.timeout(60_000);
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;
  let dir: string;

  before(async () => {
    site = new SimSite({ startMs: NOON, seed: 3, loadScaleW: 1500 });
    await site.start();
    broker = new TestBroker();
    await broker.start();
    dir = tempDir();
    agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: simDevices(site.port),
        limits: { export_w_max: 4000, import_w_max: 9000 },
        control: { cycleMs: 300, uplinkLossS: 2 },
      }),
    });
    await agent.start();
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    await site?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const latestSample = (device: string) => {
    for (let i = broker.messages.length - 1; i >= 0; i--) {
      const m = broker.messages[i];
      if (!m.topic.endsWith('/telemetry')) continue;
      const s = [...m.json.samples]
        .reverse()
        .find((x: { device: string; quality?: unknown }) => x.device === device && !x.quality);
      if (s) return s;
    }
    return undefined;
  };

  it('publishes retained online status and capabilities identifying each device', async () => {
    const status = await waitFor('status', () => broker.of('status').find((m) => m.json.state === 'online'));
    assert.equal(status.retain, true);
    assert.equal(statusSchema.safeParse(status.json).success, true);
    const caps = await waitFor('capabilities with 3 devices', () =>
      broker.of('capabilities').find((m) => m.json.devices.length === 3),
    );
    assert.equal(capabilitiesSchema.safeParse(caps.json).success, true);
    const byId = Object.fromEntries(caps.json.devices.map((d: { id: string }) => [d.id, d]));
    assert.equal(byId.pv1.kind, 'inverter');
    assert.equal(byId.bat1.kind, 'battery');
    assert.equal(byId.meter1.kind, 'meter');
    assert.equal(byId.pv1.manufacturer, 'gridlayer');
    assert.equal(byId.pv1.nameplate.w_max, 8000);
    assert.equal(byId.bat1.nameplate.w_charge_max, 5000);
    assert.ok(byId.pv1.controls.includes('active_power_limit'));
    assert.ok(byId.bat1.controls.includes('battery_power'));
    assert.deepEqual(byId.meter1.controls, []);
    assert.deepEqual(caps.json.limits, { export_w_max: 4000, import_w_max: 9000 });
  });

  it('publishes valid telemetry in canonical units and signs, with increasing seq', async () => {
    const meter = await waitFor('meter sample', () => latestSample('meter1'));
    // SunSpec meter: + import; canonical: + export.
    assert.ok(
      Math.abs(meter.values.w - -site.meter.importW) < 2500,
      `meter ${meter.values.w} vs sim import ${site.meter.importW}`,
    );
    assert.ok(meter.values.hz > 49 && meter.values.hz < 51);
    const pv = await waitFor('pv sample', () => latestSample('pv1'));
    assert.ok(pv.values.w > 0, 'PV generates at noon');
    assert.ok(pv.values.v > 200 && pv.values.v < 260);
    const bat = await waitFor('battery sample', () => latestSample('bat1'));
    assert.ok(bat.values.soc_pct > 0 && bat.values.soc_pct <= 100);
    assert.equal(bat.values.wh_capacity, 10000);
    const seqs = broker.of('telemetry').map((m) => m.json.seq);
    for (const m of broker.of('telemetry'))
      assert.equal(telemetryBatchSchema.safeParse(m.json).success, true);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
    );
  });

  it('applies a battery command clamped to nameplate and the export limit, and acknowledges what was applied', async () => {
    const now = Date.now();
    await broker.publish(siteTopic('site-t1', 'commands'), {
      v: 1,
      id: 'cmd-charge-0001',
      site: 'site-t1',
      device: 'bat1',
      issuedAt: now,
      expiresAt: now + 60_000,
      type: 'battery_power',
      w: -3000,
    });
    const ack = await waitFor('ack', () =>
      broker.of('acks').find((m) => m.json.commandId === 'cmd-charge-0001'),
    );
    assert.equal(ack.json.status, 'applied');
    assert.equal(ack.json.applied.w, -3000);
    await waitFor('battery charging', () => site.battery.acW === -3000);

    // 20 kW discharge: nameplate clips to 5000 W, the 4 kW export limit clips further.
    await broker.publish(siteTopic('site-t1', 'commands'), {
      v: 1,
      id: 'cmd-disch-0002',
      site: 'site-t1',
      device: 'bat1',
      issuedAt: Date.now(),
      expiresAt: Date.now() + 60_000,
      type: 'battery_power',
      w: 20000,
    });
    const ack2 = await waitFor('ack2', () =>
      broker.of('acks').find((m) => m.json.commandId === 'cmd-disch-0002'),
    );
    assert.equal(ack2.json.status, 'applied');
    assert.ok(ack2.json.applied.w <= 5000, JSON.stringify(ack2.json));
    assert.match(ack2.json.reason, /clamped 20000 W to 5000 W/);
    const m = await waitFor('mode remote in status', () =>
      broker.of('status').find((x) => x.json.mode === 'remote'),
    );
    assert.equal(m.json.state, 'online');
  });

  it('refuses expired, malformed, foreign-site and unknown-device commands with a reason', async () => {
    const t = Date.now();
    const topic = siteTopic('site-t1', 'commands');
    const base = {
      v: 1,
      site: 'site-t1',
      issuedAt: t - 120_000,
      expiresAt: t - 60_000,
      type: 'battery_power',
      w: 100,
    };
    await broker.publish(topic, { ...base, id: 'cmd-expired-01' });
    await broker.publish(topic, { ...base, id: 'cmd-malform-01', expiresAt: t + 60_000, w: 'lots' });
    await broker.publish(topic, { ...base, id: 'cmd-othersite1', site: 'site-xx', expiresAt: t + 60_000 });
    await broker.publish(topic, { ...base, id: 'cmd-nodevice01', device: 'nope', expiresAt: t + 60_000 });
    await broker.publish(topic, { ...base, id: 'cmd-meterctl01', device: 'meter1', expiresAt: t + 60_000 });
    await broker.publish(topic, '{not json');
    const ack = (id: string) => waitFor(id, () => broker.of('acks').find((m) => m.json.commandId === id));
    assert.equal((await ack('cmd-expired-01')).json.status, 'expired');
    const mal = await ack('cmd-malform-01');
    assert.equal(mal.json.status, 'refused');
    assert.match(mal.json.reason, /malformed command: w/);
    assert.match((await ack('cmd-othersite1')).json.reason, /site site-xx/);
    assert.match((await ack('cmd-nodevice01')).json.reason, /no device nope/);
    assert.match((await ack('cmd-meterctl01')).json.reason, /does not accept battery_power/);
    // The agent kept running and keeps publishing.
    const n = broker.of('telemetry').length;
    await waitFor('more telemetry', () => broker.of('telemetry').length > n);
  });

  it('falls back to the default mode when the remote setpoint expires', async () => {
    const t = Date.now();
    await broker.publish(siteTopic('site-t1', 'commands'), {
      v: 1,
      id: 'cmd-short-0003',
      site: 'site-t1',
      device: 'bat1',
      issuedAt: t,
      expiresAt: t + 1500,
      type: 'battery_power',
      w: -4000,
    });
    await waitFor('ack', () => broker.of('acks').find((m) => m.json.commandId === 'cmd-short-0003'));
    await waitFor(
      'default mode after expiry',
      () => agent.controller.mode === 'default' && Date.now() > t + 1500,
    );
    const st = await waitFor('status default', () =>
      broker
        .of('status')
        .filter((x) => x.json.mode === 'default')
        .at(-1),
    );
    assert.equal(st.json.state, 'online');
    // Self-consumption: the battery no longer follows the -4000 W command.
    await waitFor('battery away from the remote setpoint', () => site.battery.acW !== -4000);
  });

  it('serves health and Prometheus metrics', async () => {
    const h = (await (await fetch(`http://127.0.0.1:${agent.httpPort}/health`)).json()) as any;
    assert.equal(h.ok, true);
    assert.equal(h.uplink.connected, true);
    assert.equal(h.devices.pv1.ok, true);
    const text = await (await fetch(`http://127.0.0.1:${agent.httpPort}/metrics`)).text();
    assert.match(text, /gridlayer_edge_polls_total\{device="pv1",result="ok"\} \d+/);
    assert.match(text, /gridlayer_edge_buffer_batches \d+/);
  });
});
