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

  it('drops a write that waited in the line queue past its command expiry (a stalled device)', async () => {
    const before = wset();
    // The battery stops answering: a read goes out and will wait for its 500 ms timeout, and the
    // setpoint's write queues behind it. The battery answers again before the write's turn comes.
    site.battery.online = false;
    const stalled = io.readHolding(2, 40000, 2).catch((err: Error) => err);
    const deadline = Date.now() + 200;
    setTimeout(() => {
      site.battery.online = true;
    }, 300);
    await assert.rejects(
      battery.apply({ type: 'battery_power', w: 2222 }, { stillWanted: () => Date.now() < deadline }),
      SetpointExpiredError,
    );
    assert.match(String(await stalled), /no response within 500 ms/);
    assert.equal(site.battery.online, true);
    assert.equal(wset(), before, 'the device was free again, yet the expired write never reached it');
  });

  it('keeps each apply its own check when two run on one device at once', async () => {
    const pv = new SunSpecDriver({ id: 'pv1', unit: 1, io, protocol: 'sunspec-tcp' });
    await pv.open();
    const varSet = () => site.pv.model(704).get('VarSet');
    const before = varSet();
    // The PV stalls; a var command (expiring in 200 ms) queues behind the stalled read, and the control
    // cycle's curtailment (no command check) starts on the same device meanwhile.
    site.pv.online = false;
    const stalled = io.readHolding(1, 40000, 2).catch((err: Error) => err);
    const deadline = Date.now() + 200;
    setTimeout(() => {
      site.pv.online = true;
    }, 300);
    const reactive = pv.apply(
      { type: 'reactive_power', var: 1234 },
      { stillWanted: () => Date.now() < deadline },
    );
    const curtail = pv.apply({ type: 'active_power_limit', w: 3000 });
    const [r, c] = await Promise.allSettled([reactive, curtail]);
    assert.match(String(await stalled), /no response within 500 ms/);
    assert.equal(r.status, 'rejected');
    assert.ok((r as PromiseRejectedResult).reason instanceof SetpointExpiredError);
    assert.equal(c.status, 'fulfilled', 'the unchecked curtailment is written');
    assert.equal(varSet(), before, 'the expired var setpoint never reached the device');
  });

  it('without a check (no command behind it) writes as before', async () => {
    const got = await battery.apply({ type: 'battery_power', w: -800 });
    assert.equal(got.w, -800);
    assert.equal(wset(), -800);
  });
});
