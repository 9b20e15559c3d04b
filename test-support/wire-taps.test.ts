import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { ModbusClient } from '../protocols/modbus/client.ts';
import { locatePoint } from '../protocols/sunspec/codec.ts';
import { discoverUnit, readModelRegisters } from '../protocols/sunspec/discovery.ts';
import { SimSite } from '../sim-devices/site.ts';
import { ModbusTap } from './modbus-tap.ts';
import { startMosquitto } from './mosquitto.ts';
import { MqttTap } from './mqtt-tap.ts';

const run = promisify(execFile);

describe('wire relays (the fault-injection ground truth)', function () {
  this.timeout(30_000);

  it('MQTT: records a QoS 1 telemetry batch once the broker acknowledged it, and nothing the broker did not', async () => {
    const broker = await startMosquitto();
    const tap = new MqttTap({ host: '127.0.0.1', port: broker.port });
    await tap.start();
    try {
      const batch = {
        v: 1,
        site: 'site-t',
        seq: 7,
        samples: [{ ts: 1000, device: 'pv', values: { w: 1234 } }],
      };
      const pub = (topic: string, msg: unknown) =>
        run('/usr/bin/mosquitto_pub', [
          '-h',
          '127.0.0.1',
          '-p',
          String(tap.port),
          '-q',
          '1',
          '-t',
          topic,
          '-m',
          JSON.stringify(msg),
        ]);
      await pub('gridlayer/v1/sites/site-t/telemetry', batch);
      await pub('gridlayer/v1/sites/site-t/acks', { commandId: 'c1', status: 'applied', ts: 5 });
      assert.deepEqual([...tap.acked.keys()], ['site-t:7']);
      assert.deepEqual(tap.acked.get('site-t:7')?.samples, batch.samples);
      assert.equal(tap.published.length, 1);
      assert.deepEqual(
        tap.gatewayAcks.map((a) => a.json.commandId),
        ['c1'],
      );

      // A frozen broker takes the bytes but never answers: published, not acknowledged.
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${tap.port}`, { protocolVersion: 4 });
      broker.process.child.kill('SIGSTOP');
      const frozen = client.publishAsync(
        'gridlayer/v1/sites/site-t/telemetry',
        JSON.stringify({ ...batch, seq: 8 }),
        {
          qos: 1,
        },
      );
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(tap.published.length, 2);
      assert.equal(tap.acked.has('site-t:8'), false);
      broker.process.child.kill('SIGCONT');
      await frozen;
      await client.endAsync();
      assert.equal(tap.acked.has('site-t:8'), true);
      assert.deepEqual(tap.decodeErrors, []);
    } finally {
      broker.process.child.kill('SIGCONT');
      await tap.stop();
      await broker.stop();
    }
  });

  it('Modbus: records a register write with the time the device confirmed it', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 1 });
    await site.start();
    const tap = new ModbusTap({ host: '127.0.0.1', port: site.port });
    await tap.start();
    const io = new ModbusClient({
      transport: { kind: 'tcp', host: '127.0.0.1', port: tap.port },
      timeoutMs: 2000,
    });
    try {
      const loc = (await discoverUnit(io, 1)).models.find((m) => m.id === 704);
      assert.ok(loc?.def);
      const at = loc.address + locatePoint(loc.def, await readModelRegisters(io, 1, loc), 'VarSet').offset;
      await io.writeHolding(1, at, [0xffff, 0xfc18]); // int32 -1000
      const w = tap.int32Writes(1, at);
      assert.deepEqual(
        w.map((x) => x.value),
        [-1000],
      );
      assert.ok(w[0].confirmedAtMs !== undefined && w[0].confirmedAtMs >= w[0].sentAtMs);
      assert.deepEqual(tap.int32Writes(2, at), []);
    } finally {
      await io.close();
      await tap.stop();
      await site.stop();
    }
  });
});
