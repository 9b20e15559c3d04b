import assert from 'node:assert/strict';
import { ModbusClient, type ModbusError } from '../protocols/modbus/client.ts';
import { discoverUnit, type ModelLocation, readModel } from '../protocols/sunspec/discovery.ts';
import { writePoint } from '../protocols/sunspec/write.ts';
import { SimSite } from './site.ts';

const NOON_AMSTERDAM = Date.UTC(2026, 5, 21, 11, 40);
const MIDNIGHT_AMSTERDAM = Date.UTC(2026, 5, 21, 23, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function models(io: ModbusClient, unit: number): Promise<Map<number, ModelLocation>> {
  const d = await discoverUnit(io, unit);
  return new Map(d.models.map((m) => [m.id, m]));
}
async function values(io: ModbusClient, unit: number, loc: ModelLocation) {
  const r = await readModel(io, unit, loc);
  assert.ok(r.decoded, r.error);
  return r.decoded.values;
}

describe('simulated SunSpec site (real Modbus TCP)', () => {
  let site: SimSite;
  let io: ModbusClient;
  let inv: Map<number, ModelLocation>;
  let bat: Map<number, ModelLocation>;
  let mtr: Map<number, ModelLocation>;

  beforeEach(async () => {
    site = new SimSite({ startMs: NOON_AMSTERDAM, speed: 60, seed: 3, tickMs: 20 });
    await site.start();
    io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port: site.port }, timeoutMs: 300 });
    [inv, bat, mtr] = [await models(io, 1), await models(io, 2), await models(io, 3)];
  });
  afterEach(async () => {
    await io.close();
    await site.stop();
  });

  it('serves three SunSpec devices as units 1-3 with the models a real site has', () => {
    assert.deepEqual([...inv.keys()], [1, 103, 120, 121, 123, 701, 702, 704, 705]);
    assert.deepEqual([...bat.keys()], [1, 701, 702, 704, 713, 802, 124]);
    assert.deepEqual([...mtr.keys()], [1, 203]);
  });

  it('keeps the legacy and 1547 views consistent and the meter balanced (import positive)', async () => {
    site.step();
    const [v103, v701, v203] = [
      await values(io, 1, inv.get(103)!),
      await values(io, 1, inv.get(701)!),
      await values(io, 3, mtr.get(203)!),
    ];
    assert.ok((v103.W as number) > 3000, `noon PV should produce, got ${v103.W}`);
    // Reads are separate transactions while physics run: compare against the devices' own state.
    assert.equal(Math.abs((v103.W as number) - (v701.W as number)) <= 0.05 * (v103.W as number), true);
    const expected = site.loadW - site.pv.acW - site.battery.acW;
    assert.ok(
      Math.abs((v203.W as number) - expected) <= 0.1 * Math.abs(expected) + 200,
      `meter ${v203.W} vs ${expected}`,
    );
    assert.ok((v203.W as number) < 0, 'a sunny noon exports');
  });

  it('curtails PV through 123 WMaxLimPct and reverts after the device-side timeout', async () => {
    await writePoint(io, 1, inv.get(123)!, 'WMaxLimPct_RvrtTms', 30);
    assert.equal(await writePoint(io, 1, inv.get(123)!, 'WMaxLimPct', 20), 20);
    await writePoint(io, 1, inv.get(123)!, 'WMaxLim_Ena', 1);
    await sleep(100);
    const limited = await values(io, 1, inv.get(103)!);
    assert.ok((limited.W as number) <= 0.2 * site.pv.ratedW + 1, `limited to ${limited.W}`);
    assert.equal((await values(io, 1, inv.get(704)!)).WMaxLimPctEna, 1, '1547 view mirrors the limit');
    // 30 s of device time at speed 60 is 0.5 s real.
    await sleep(900);
    const reverted = await values(io, 1, inv.get(103)!);
    assert.equal((await values(io, 1, inv.get(123)!)).WMaxLim_Ena, 0);
    assert.ok((reverted.W as number) > 0.2 * site.pv.ratedW + 1, `reverted to ${reverted.W}`);
  });

  it('curtails PV through 704 with its own revert value', async () => {
    await writePoint(io, 1, inv.get(704)!, 'WMaxLimPctRvrtTms', 30);
    await writePoint(io, 1, inv.get(704)!, 'WMaxLimPctRvrt', 50);
    await writePoint(io, 1, inv.get(704)!, 'WMaxLimPct', 10);
    await writePoint(io, 1, inv.get(704)!, 'WMaxLimPctEna', 1);
    await sleep(100);
    assert.ok(((await values(io, 1, inv.get(701)!)).W as number) <= 0.1 * site.pv.ratedW + 1);
    assert.equal((await values(io, 1, inv.get(701)!)).ThrotPct, 10);
    assert.equal((await values(io, 1, inv.get(123)!)).WMaxLimPct, 10, 'legacy view mirrors the limit');
    await sleep(900);
    assert.equal((await values(io, 1, inv.get(704)!)).WMaxLimPct, 50, 'reverted to WMaxLimPctRvrt');
  });

  it('answers exception 2 for read-only writes and 3 for out-of-range values, writing nothing', async () => {
    const w103 = inv.get(103)!;
    await assert.rejects(io.writeHolding(1, w103.address + 14, [0]), (e: ModbusError) => e.code === 2);
    const ctl = inv.get(123)!;
    // WMaxLimPct is at offset 5 with scale factor -1: 1500 = 150 %.
    await assert.rejects(io.writeHolding(1, ctl.address + 5, [1500]), (e: ModbusError) => e.code === 3);
    assert.equal((await values(io, 1, ctl)).WMaxLimPct, 100);
    await assert.rejects(io.writeHolding(1, 39000, [1]), (e: ModbusError) => e.code === 2);
  });

  it('moves battery state of charge with power, within ratings', async () => {
    const ctl = bat.get(704)!;
    const soc0 = (await values(io, 2, bat.get(802)!)).SoC as number;
    await writePoint(io, 2, ctl, 'WSetMod', 1);
    await writePoint(io, 2, ctl, 'WSet', 4000);
    await writePoint(io, 2, ctl, 'WSetEna', 1);
    await sleep(600);
    const v701 = await values(io, 2, bat.get(701)!);
    assert.equal(v701.W, 4000, 'discharging at the setpoint');
    const soc1 = (await values(io, 2, bat.get(802)!)).SoC as number;
    assert.ok(soc1 < soc0, `SoC ${soc0} → ${soc1} should fall while discharging`);

    await assert.rejects(writePoint(io, 2, ctl, 'WSet', -9000), /exception 3/);
    await writePoint(io, 2, ctl, 'WSet', -5000);
    await sleep(600);
    const soc2 = (await values(io, 2, bat.get(802)!)).SoC as number;
    assert.ok(soc2 > soc1, `SoC ${soc1} → ${soc2} should rise while charging`);
  });

  it('never lets SoC leave its bounds', () => {
    const s = new SimSite({ startMs: MIDNIGHT_AMSTERDAM, battery: { initialSocPct: 8, socMinPct: 5 } });
    s.battery.model(704).setMany({ WSetEna: 1, WSetMod: 1, WSet: 5000 });
    let t = MIDNIGHT_AMSTERDAM;
    for (let i = 0; i < 120; i++) {
      t += 60_000;
      s.battery.tick(t, 60);
    }
    assert.ok(s.battery.socPct >= 5 - 1e-9, `SoC ${s.battery.socPct}`);
    assert.equal(s.battery.acW, 0);
    s.battery.model(704).set('WSet', -5000);
    for (let i = 0; i < 600; i++) {
      t += 60_000;
      s.battery.tick(t, 60);
    }
    assert.ok(s.battery.socPct <= 100 + 1e-9);
    assert.equal(s.battery.acW, 0);
  });

  it('produces no PV at night', () => {
    const s = new SimSite({ startMs: MIDNIGHT_AMSTERDAM });
    assert.equal(s.pv.acW, 0);
    assert.ok(s.loadW > 0);
  });

  it('a device that is unplugged times out while the others keep answering', async () => {
    site.battery.online = false;
    await assert.rejects(
      readModel(io, 2, bat.get(802)!).then((r) => {
        if (r.error) throw new Error(r.error);
      }),
      /no response within 300 ms/,
    );
    assert.ok((await values(io, 3, mtr.get(203)!)).W !== undefined);
    site.battery.online = true;
    assert.ok((await values(io, 2, bat.get(802)!)).SoC !== undefined);
  });
});
