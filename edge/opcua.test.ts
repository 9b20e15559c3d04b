import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { BESS_NODES, OpcuaBattery } from '../sim-devices/opcua-battery.ts';
import { TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { freePort } from '../test-support/ports.ts';
import { EdgeAgent } from './agent.ts';

const device = (endpoint: string, pkiDir: string, security: Record<string, unknown>) => ({
  id: 'ess1',
  protocol: 'opcua',
  kind: 'battery',
  endpoint,
  pkiDir,
  samplingMs: 200,
  pollMs: 500,
  timeoutMs: 2000,
  revertS: 30,
  revertNode: BESS_NODES.revertS,
  points: { soc_pct: BESS_NODES.soc, w: BESS_NODES.p, var: BESS_NODES.q, state: BESS_NODES.status },
  setpoints: { battery_power: BESS_NODES.pSet },
  nameplate: {
    w_charge_max: BESS_NODES.chargeMax,
    w_discharge_max: BESS_NODES.dischargeMax,
    wh_capacity: BESS_NODES.capacity,
  },
  identity: { manufacturer: BESS_NODES.manufacturer, model: BESS_NODES.model, serial: BESS_NODES.serial },
  ...security,
});

for (const security of [
  { securityPolicy: 'None', securityMode: 'None' },
  { securityPolicy: 'Basic256Sha256', securityMode: 'SignAndEncrypt' },
]) {
  describe(`edge agent against the OPC UA simulated BESS (${security.securityPolicy})`, function () {
    this.timeout(120_000);
    let dir: string;
    let bess: OpcuaBattery;
    let broker: TestBroker;
    let agent: EdgeAgent;

    before(async () => {
      dir = tempDir();
      bess = new OpcuaBattery({ port: await freePort(), pkiDir: dir, initialSocPct: 70 });
      await bess.start();
      broker = new TestBroker();
      await broker.start();
      agent = new EdgeAgent({
        config: testConfig({
          url: broker.url,
          dir,
          devices: [device(bess.endpoint, join(dir, 'client'), security)],
          control: { cycleMs: 500, defaultMode: 'idle' },
        }),
      });
      await agent.start();
    });
    after(async () => {
      await agent?.stop();
      await broker?.stop();
      await bess?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const samples = () =>
      broker
        .of('telemetry')
        .flatMap((m) => m.json.samples)
        .filter((s: { device: string }) => s.device === 'ess1');

    it('reads nameplate and identity, and publishes subscribed values', async () => {
      const caps = await waitFor(
        'capabilities',
        () => broker.of('capabilities').find((m) => m.json.devices.length === 1),
        60_000,
      );
      const d = caps.json.devices[0];
      assert.equal(d.protocol, 'opcua');
      assert.equal(d.model, 'SIM-BESS-OPCUA');
      assert.equal(d.nameplate.w_charge_max, 20000);
      assert.deepEqual(d.controls, ['battery_power']);
      const s = await waitFor(
        'soc',
        () => samples().find((x: { values: { soc_pct?: number } }) => x.values.soc_pct !== undefined),
        30_000,
      );
      assert.ok(Math.abs(s.values.soc_pct - 70) < 1);
      assert.equal(bess.revertS, 30, 'the agent set the device revert timeout');
    });

    it('writes a battery setpoint over OPC UA, reads it back and acknowledges it', async () => {
      const now = Date.now();
      await broker.publish(siteTopic('site-t1', 'commands'), {
        v: 1,
        id: `cmd-ua-${security.securityPolicy}`,
        site: 'site-t1',
        device: 'ess1',
        issuedAt: now,
        expiresAt: now + 60_000,
        type: 'battery_power',
        w: 7000,
      });
      const ack = await waitFor(
        'ack',
        () => broker.of('acks').find((m) => m.json.commandId === `cmd-ua-${security.securityPolicy}`),
        20_000,
      );
      assert.equal(ack.json.status, 'applied');
      assert.equal(ack.json.applied.w, 7000);
      await waitFor(
        'P follows',
        () => samples().find((x: { values: { w?: number } }) => x.values.w === 7000),
        20_000,
      );
    });
  });
}

describe('OPC UA driver reconnect', function () {
  this.timeout(120_000);
  it('flags values stale while the server is down and resumes when it is back', async () => {
    const dir = tempDir();
    const port = await freePort();
    let bess = new OpcuaBattery({ port, pkiDir: dir });
    await bess.start();
    const broker = new TestBroker();
    await broker.start();
    const agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: [device(bess.endpoint, join(dir, 'client'), {})],
        control: { enabled: false },
      }),
    });
    const samples = () =>
      broker
        .of('telemetry')
        .flatMap((m) => m.json.samples)
        .filter((s: { device: string }) => s.device === 'ess1');
    try {
      await agent.start();
      await waitFor('first values', () => samples().find((s: { quality?: unknown }) => !s.quality), 30_000);
      await bess.stop();
      await waitFor(
        'stale flags',
        () => samples().find((s: { quality?: Record<string, string> }) => s.quality?.soc_pct === 'stale'),
        30_000,
      );
      const n = samples().length;
      bess = new OpcuaBattery({ port, pkiDir: dir, initialSocPct: 42 });
      await bess.start();
      await waitFor(
        'fresh values from the new server',
        () =>
          samples()
            .slice(n)
            .find(
              (s: { quality?: unknown; values: { soc_pct?: number } }) =>
                !s.quality && s.values.soc_pct === 42,
            ),
        90_000,
      );
    } finally {
      await agent.stop();
      await broker.stop();
      await bess.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
