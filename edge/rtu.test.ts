import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { SimSite } from '../sim-devices/site.ts';
import { ptyPair, serveRtu, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

describe('edge agent over Modbus RTU (socat pty pair)', function () {
  this.timeout(90_000);
  let dir: string;
  let pty: Awaited<ReturnType<typeof ptyPair>>;
  let slave: { close(): Promise<void> };
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;

  before(async () => {
    dir = tempDir();
    pty = await ptyPair(dir);
    site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 4 });
    // Physics only: the devices are served over the serial line below, not over TCP.
    const timer = setInterval(() => site.step(), 100);
    timer.unref();
    slave = await serveRtu(site.units, pty.b, 38400);
    broker = new TestBroker();
    await broker.start();
    agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: [
          {
            id: 'bus',
            protocol: 'modbus-rtu',
            serial: { path: pty.a, baud: 38400 },
            units: [1, 2, 3],
            pollMs: 1000,
            timeoutMs: 500,
          },
        ],
        control: { cycleMs: 500 },
      }),
    });
    await agent.start();
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    await slave?.close();
    await pty?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('identifies every unit on the bus and publishes their telemetry', async () => {
    const caps = await waitFor(
      '3 devices',
      () => broker.of('capabilities').find((m) => m.json.devices.length === 3),
      40_000,
    );
    const kinds = Object.fromEntries(
      caps.json.devices.map((d: { id: string; kind: string; protocol: string }) => [
        d.id,
        `${d.kind}/${d.protocol}`,
      ]),
    );
    assert.deepEqual(kinds, {
      'bus-1': 'inverter/sunspec-rtu',
      'bus-2': 'battery/sunspec-rtu',
      'bus-3': 'meter/sunspec-rtu',
    });
    const s = await waitFor('meter sample', () =>
      broker
        .of('telemetry')
        .flatMap((m) => m.json.samples)
        .find((x: { device: string }) => x.device === 'bus-3'),
    );
    assert.ok(Number.isFinite(s.values.w));
  });

  it('writes a battery setpoint over the bus and acknowledges the read-back', async () => {
    await waitFor(
      'battery opened',
      () => agent.controller.snapshot(Date.now()).batteries.length === 1,
      30_000,
    );
    const now = Date.now();
    await broker.publish(siteTopic('site-t1', 'commands'), {
      v: 1,
      id: 'cmd-rtu-00001',
      site: 'site-t1',
      device: 'bus-2',
      issuedAt: now,
      expiresAt: now + 60_000,
      type: 'battery_power',
      w: -1500,
    });
    const ack = await waitFor(
      'ack',
      () => broker.of('acks').find((m) => m.json.commandId === 'cmd-rtu-00001'),
      20_000,
    );
    assert.equal(ack.json.status, 'applied');
    assert.equal(ack.json.applied.w, -1500);
    await waitFor('battery charging', () => site.battery.acW === -1500, 10_000);
  });
});
