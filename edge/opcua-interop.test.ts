import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AttributeIds, type ClientSession, DataType, OPCUACertificateManager, OPCUAClient } from 'node-opcua';
import pino from 'pino';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { BESS_NODES, OpcuaBattery, type OpcuaBatteryOptions } from '../sim-devices/opcua-battery.ts';
import { TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { freePort } from '../test-support/ports.ts';
import { EdgeAgent } from './agent.ts';
import { deviceSchema, type OpcuaDeviceConfig } from './config.ts';
import { OpcuaDriver } from './drivers/opcua.ts';

const silent = pino({ level: 'silent' });

/** What a plain node-opcua client (not our driver) reads from a node: its DataType and value. */
async function inspect(endpoint: string, dir: string, node: string) {
  const client = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 1 },
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(dir, 'inspect-pki') }),
  });
  await client.connect(endpoint);
  let session: ClientSession | undefined;
  try {
    session = await client.createSession();
    const dv = await session.read({ nodeId: node, attributeId: AttributeIds.Value });
    return { dataType: dv.value.dataType, value: dv.value.value as number };
  } finally {
    await session?.close();
    await client.disconnect();
  }
}

async function withBess<T>(
  opts: Partial<OpcuaBatteryOptions>,
  fn: (b: OpcuaBattery, dir: string) => Promise<T>,
) {
  const dir = tempDir();
  const bess = new OpcuaBattery({ port: await freePort(), pkiDir: dir, ...opts });
  await bess.start();
  try {
    return await fn(bess, dir);
  } finally {
    await bess.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const driverConfig = (endpoint: string, dir: string, extra: Record<string, unknown> = {}) =>
  deviceSchema.parse({
    id: 'ess1',
    protocol: 'opcua',
    kind: 'battery',
    endpoint,
    pkiDir: join(dir, 'client'),
    samplingMs: 100,
    timeoutMs: 2000,
    revertS: 30,
    revertNode: BESS_NODES.revertS,
    points: { soc_pct: BESS_NODES.soc, w: BESS_NODES.p },
    setpoints: { battery_power: BESS_NODES.pSet },
    ...extra,
  }) as OpcuaDeviceConfig;

describe('OPC UA driver writes in the node DataType', function () {
  this.timeout(60_000);

  it('writes a UInt16 revert timeout and a UInt16 setpoint, and refuses a value the type cannot hold', () =>
    withBess({ setpointType: 'UInt16' }, async (bess, dir) => {
      const driver = new OpcuaDriver(driverConfig(bess.endpoint, dir), silent);
      try {
        await driver.open(); // writes revertS = 30 into the UInt16 SetpointRevertS node
        assert.equal(bess.revertS, 30);
        assert.deepEqual(await driver.apply({ type: 'battery_power', w: 3000 }), { w: 3000 });
        assert.equal(bess.pSetW, 3000);
        assert.deepEqual(await inspect(bess.endpoint, dir, BESS_NODES.pSet), {
          dataType: DataType.UInt16,
          value: 3000,
        });
        // Charging (-2000 W) cannot be expressed in a UInt16: refused before the wire, naming the range.
        await assert.rejects(
          driver.apply({ type: 'battery_power', w: -2000 }),
          /out of range for UInt16 \(0\.\.65535\)/,
        );
        assert.equal(bess.pSetW, 3000, 'nothing written');
      } finally {
        await driver.close();
      }
    }));

  it('writes an Int32 setpoint (rounded to an integer) and reads it back', () =>
    withBess({ setpointType: 'Int32' }, async (bess, dir) => {
      const driver = new OpcuaDriver(driverConfig(bess.endpoint, dir), silent);
      try {
        await driver.open();
        assert.deepEqual(await driver.apply({ type: 'battery_power', w: -4500.4 }), { w: -4500 });
        assert.equal(bess.pSetW, -4500);
        assert.equal((await inspect(bess.endpoint, dir, BESS_NODES.pSet)).dataType, DataType.Int32);
      } finally {
        await driver.close();
      }
    }));
});

describe('OPC UA battery in kW, Int32 setpoint, no nameplate nodes: through the edge agent', function () {
  this.timeout(90_000);

  it('uses the static nameplate and the kW scale: 7 kW lands on the node as Int32 7', () =>
    withBess(
      { setpointType: 'Int32', powerUnit: 'kW', nameplateNodes: false, initialSocPct: 70 },
      async (bess, dir) => {
        const broker = new TestBroker();
        await broker.start();
        const agent = new EdgeAgent({
          config: testConfig({
            url: broker.url,
            dir,
            devices: [
              {
                id: 'ess1',
                protocol: 'opcua',
                kind: 'battery',
                endpoint: bess.endpoint,
                pkiDir: join(dir, 'client'),
                samplingMs: 200,
                pollMs: 500,
                timeoutMs: 2000,
                revertS: 30,
                revertNode: BESS_NODES.revertS,
                points: { soc_pct: BESS_NODES.soc, w: BESS_NODES.p },
                setpoints: { battery_power: BESS_NODES.pSet },
                nameplate: { w_charge_max: 20000, w_discharge_max: 20000, wh_capacity: 50000 },
                scale: { w: 1000, battery_power: 1000 },
              },
            ],
            control: { cycleMs: 500, defaultMode: 'idle' },
          }),
        });
        const essSamples = (): Array<{ values: Record<string, number> }> =>
          broker
            .of('telemetry')
            .flatMap((m) => m.json.samples)
            .filter((s: { device: string }) => s.device === 'ess1');
        try {
          await agent.start();
          const caps = await waitFor(
            'capabilities',
            () => broker.of('capabilities').find((m) => m.json.devices.length === 1),
            30_000,
          );
          assert.deepEqual(caps.json.devices[0].nameplate, {
            w_charge_max: 20000,
            w_discharge_max: 20000,
            wh_capacity: 50000,
          });
          // The controller keeps the SoC reserve: it needs a SoC reading before it discharges.
          await waitFor('soc', () => essSamples().find((s) => s.values.soc_pct !== undefined), 20_000);
          const now = Date.now();
          await broker.publish(siteTopic('site-t1', 'commands'), {
            v: 1,
            id: 'cmd-kw-1',
            site: 'site-t1',
            device: 'ess1',
            issuedAt: now,
            expiresAt: now + 60_000,
            type: 'battery_power',
            w: 7000,
          });
          const ack = await waitFor(
            'ack',
            () => broker.of('acks').find((m) => m.json.commandId === 'cmd-kw-1'),
            20_000,
          );
          assert.equal(ack.json.status, 'applied', JSON.stringify(ack.json));
          assert.equal(ack.json.applied.w, 7000);
          assert.equal(bess.pSetW, 7000);
          assert.deepEqual(await inspect(bess.endpoint, dir, BESS_NODES.pSet), {
            dataType: DataType.Int32,
            value: 7,
          });
          // The P node reads 7 (kW): canonical telemetry carries 7000 W.
          await waitFor('P in W', () => essSamples().find((s) => s.values.w === 7000), 20_000);
        } finally {
          await agent.stop();
          await broker.stop();
        }
      },
    ));
});
