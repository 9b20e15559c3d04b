import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startMosquitto } from './mosquitto.ts';

describe('test harness: mosquitto', () => {
  it('starts a real broker on a free loopback port that accepts an MQTT CONNECT', async () => {
    const broker = await startMosquitto();
    try {
      // Minimal MQTT 3.1.1 CONNECT; the broker answers CONNACK (0x20) with return code 0.
      const connack = await new Promise<Buffer>((resolve, reject) => {
        const s = connect(broker.port, '127.0.0.1', () => {
          const id = Buffer.from('t1');
          const body = Buffer.concat([
            Buffer.from([0, 4]),
            Buffer.from('MQTT'),
            Buffer.from([4, 2, 0, 30, 0, id.length]),
            id,
          ]);
          s.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
        });
        s.once('data', (d) => {
          s.destroy();
          resolve(d);
        });
        s.once('error', reject);
      });
      assert.equal(connack[0], 0x20);
      assert.equal(connack[3], 0);
    } finally {
      await broker.stop();
    }
  });
});
