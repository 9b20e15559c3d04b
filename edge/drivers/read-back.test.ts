import assert from 'node:assert/strict';
import { ModbusClient } from '../../protocols/modbus/client.ts';
import { SimSite } from '../../sim-devices/site.ts';
import { SunSpecDriver } from './sunspec.ts';

/**
 * `holds`: after a restart mid-write, the controller asks the device whether a command's value reached
 * it. The simulator's registers are set device-side (not through the driver), so what is read back is
 * the device's state, not something the driver remembers.
 */
describe('SunSpec driver: read-back of an immediate setpoint without writing', function () {
  this.timeout(30_000);
  let site: SimSite;
  let io: ModbusClient;
  let pv: SunSpecDriver;

  before(async () => {
    site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 6 });
    await site.start();
    io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port: site.port }, timeoutMs: 500 });
    await io.connect();
    pv = new SunSpecDriver({ id: 'pv1', unit: 1, io, protocol: 'sunspec-tcp' });
    await pv.open();
  });
  after(async () => {
    await io.close();
    await site.stop();
  });

  it('tells a var value in the VarSet register (enabled or not) from any other, and writes nothing', async () => {
    const m = site.pv.model(704);
    m.set('VarSet', 618);
    m.set('VarSetEna', 0); // killed between the value and the enable: the value still reached it
    assert.equal(await pv.holds({ type: 'reactive_power', var: 618 }), true);
    assert.equal(await pv.holds({ type: 'reactive_power', var: 619 }), false);
    assert.equal(await pv.holds({ type: 'reactive_power', var: -618 }), false);
    assert.equal(m.get('VarSetEna'), 0, 'reading back enabled nothing');
    assert.equal(m.get('VarSet'), 618);
  });

  it('reads connect and volt-var state', async () => {
    site.pv.model(123).set('Conn', 1);
    assert.equal(await pv.holds({ type: 'connect', connected: true }), true);
    assert.equal(await pv.holds({ type: 'connect', connected: false }), false);
    site.pv.model(705).set('Ena', 0);
    assert.equal(await pv.holds({ type: 'volt_var', enabled: false }), true);
    assert.equal(await pv.holds({ type: 'volt_var', enabled: true }), false);
  });

  it('refuses to guess for power setpoints, which the control cycle reshapes', async () => {
    await assert.rejects(pv.holds({ type: 'battery_power', w: 100 }), /no read-back of battery_power/);
  });
});
