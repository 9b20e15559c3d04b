import assert from 'node:assert/strict';
import { ModbusClient } from '../../protocols/modbus/client.ts';
import { SimSite } from '../../sim-devices/site.ts';
import { SunSpecDriver } from './sunspec.ts';
import { SetpointExpiredError } from './types.ts';

/**
 * A command that expires while its write waits (a frozen or slow device) must not reach the device
 * late: the driver asks `stillWanted` right before each register write. The device's own register
 * state (the simulator's model, not the driver's cache) is the witness.
 */
describe('SunSpec driver: no write after the command expired', function () {
  this.timeout(30_000);
  let site: SimSite;
  let io: ModbusClient;
  let battery: SunSpecDriver;

  before(async () => {
    site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 5 });
    await site.start();
    io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port: site.port }, timeoutMs: 500 });
    await io.connect();
    battery = new SunSpecDriver({ id: 'bat1', unit: 2, io, protocol: 'sunspec-tcp' });
    await battery.open();
  });
  after(async () => {
    await io.close();
    await site.stop();
  });

  const wset = () => site.battery.model(704).get('WSet');

  it('writes while the command is wanted', async () => {
    const got = await battery.apply({ type: 'battery_power', w: 1500 }, { stillWanted: () => true });
    assert.equal(got.w, 1500);
    assert.equal(wset(), 1500);
  });

  it('stops before the next register write once the command has expired, and says so', async () => {
    let asked = 0;
    // Wanted at the first check, expired from the second on (as if a read before the write had stalled).
    const stillWanted = () => ++asked === 1;
    await assert.rejects(
      battery.apply({ type: 'battery_power', w: 2500 }, { stillWanted }),
      (err: unknown) => err instanceof SetpointExpiredError && /expired/.test(err.message),
    );
    assert.ok(asked >= 2, `checked before the write too (asked ${asked}×)`);
    assert.equal(wset(), 1500, 'the device still holds the earlier setpoint: nothing written late');
  });

  it('without a check (no command behind it) writes as before', async () => {
    const got = await battery.apply({ type: 'battery_power', w: -800 });
    assert.equal(got.w, -800);
    assert.equal(wset(), -800);
  });
});
