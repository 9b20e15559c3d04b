import assert from 'node:assert/strict';
import { SunSpecDriver } from '../edge/drivers/sunspec.ts';
import { ModbusClient } from '../protocols/modbus/client.ts';
import { SimSite } from './site.ts';

/** The simulated PCC meter read through the edge's real SunSpec driver over Modbus TCP. */
describe('simulated meter through the SunSpec driver', function () {
  this.timeout(30_000);
  it('reports a unity power factor as pf = 1 (model 203 PF is in percent)', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 4 });
    await site.start();
    const io = new ModbusClient({
      transport: { kind: 'tcp', host: '127.0.0.1', port: site.port },
      timeoutMs: 500,
    });
    try {
      await io.connect();
      const meter = new SunSpecDriver({ id: 'meter', unit: 3, io, protocol: 'sunspec-tcp' });
      await meter.open();
      assert.equal(meter.kind, 'meter');
      const r = await meter.poll();
      assert.notEqual(site.meter.importW, 0, 'the site exchanges power with the grid');
      // VAR = 0 and VA = |W|: the power factor is exactly 1 (canonical pf is a fraction, -1..1).
      assert.equal(r.values.pf, 1);
      assert.equal(r.quality.pf, undefined);
    } finally {
      await io.close();
      await site.stop();
    }
  });
});
