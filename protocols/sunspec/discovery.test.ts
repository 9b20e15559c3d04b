import assert from 'node:assert/strict';
import { RawModbusDevice } from '../../sim-devices/raw-device.ts';
import { ModbusClient } from '../modbus/client.ts';
import { encodeModel } from './codec.ts';
import { discoverUnit, planReads, readModel, readModelRegisters } from './discovery.ts';
import { getModel } from './models/index.ts';
import { scanUnit } from './scan.ts';

const SUNS = [0x5375, 0x6e53];
const common = () => encodeModel(getModel(1)!, { values: { Mn: 'acme', Md: 'X1', SN: '42' } });
const inverter = () =>
  encodeModel(getModel(103)!, { values: { W: 3000, W_SF: 0, A: 13, A_SF: 0, Hz: 50, Hz_SF: 0, V_SF: 0 } });

/** Lays out SunS + blocks + optional end marker at `base`. */
function device(base: number, blocks: number[][], end = true) {
  const words = [...SUNS, ...blocks.flat(), ...(end ? [0xffff, 0] : [])];
  return RawModbusDevice.block(base, words);
}

describe('SunSpec discovery over Modbus TCP', () => {
  let dev: RawModbusDevice;
  let io: ModbusClient;

  before(async () => {
    const unknownModel = [64999, 3, 1, 2, 3];
    const garbage = inverter();
    garbage[15] = 0x7abc; // W_SF register (ID, L, A×4, A_SF, PPV×3, PhV×3, V_SF, W, W_SF) → scale factor far outside -10..10
    dev = new RawModbusDevice({
      units: new Map([
        [1, device(40000, [common(), unknownModel, inverter()])],
        [2, device(0, [common()])],
        [3, device(50000, [common(), inverter()], false)],
        [4, device(40000, [common(), [103, 60000]])],
        [5, device(40000, [common(), garbage])],
        [6, device(40000, [common(), inverter().slice(0, 30)])],
      ]),
      silent: new Set([9]),
    });
    await dev.start();
    io = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port: dev.port }, timeoutMs: 300 });
  });
  after(async () => {
    await io.close();
    await dev.stop();
  });

  it('walks the chain at 40000 and skips unknown models by length', async () => {
    const r = await discoverUnit(io, 1);
    assert.equal(r.base, 40000);
    assert.equal(r.complete, true);
    assert.deepEqual(
      r.models.map((m) => [m.id, m.address, m.length, !!m.def]),
      [
        [1, 40002, 66, true],
        [64999, 40070, 3, false],
        [103, 40075, 50, true],
      ],
    );
    assert.deepEqual(r.errors, []);
  });

  it('finds the marker at base 0 and base 50000', async () => {
    assert.equal((await discoverUnit(io, 2)).base, 0);
    assert.equal((await discoverUnit(io, 3)).base, 50000);
  });

  it('reports a missing end marker but keeps the models it read', async () => {
    const r = await discoverUnit(io, 3);
    assert.equal(r.complete, false);
    assert.deepEqual(
      r.models.map((m) => m.id),
      [1, 103],
    );
    assert.match(r.errors[0], /unit 3: model chain broken at 50122 \(no end marker\).*exception 2/);
  });

  it('refuses a model length that runs past the register map', async () => {
    const r = await discoverUnit(io, 4);
    assert.deepEqual(
      r.models.map((m) => m.id),
      [1],
    );
    assert.match(r.errors[0], /unit 4: model 103 at 40070 declares length 60000, past the end/);
  });

  it('withholds values with a garbage scale factor and says where', async () => {
    const s = await scanUnit(io, 5);
    const inv = s.models.find((m) => m.id === 103)!;
    assert.equal(inv.decoded?.values.W, undefined);
    assert.equal(inv.decoded?.values.A, 13);
    assert.ok(inv.decoded?.issues.some((i) => i.path === 'W_SF'));
  });

  it('reports a truncated model read as an error naming unit and address, and continues', async () => {
    const s = await scanUnit(io, 6);
    assert.equal(s.identity?.manufacturer, 'acme');
    const inv = s.models.find((m) => m.id === 103)!;
    assert.match(inv.error ?? '', /unit 6 read 40070\+52: Modbus exception 2/);
  });

  it('answers quickly for a unit that is not there and times out cleanly for a silent one', async () => {
    const absent = await discoverUnit(io, 7);
    assert.equal(absent.base, undefined);
    assert.match(absent.errors.join(), /no SunS marker/);
    const silent = await discoverUnit(io, 9);
    assert.match(silent.errors[0], /unit 9 read 40000\+2: no response within 300 ms/);
    // The connection still works after a timeout.
    assert.equal((await discoverUnit(io, 1)).complete, true);
  });

  it('reads a model in one transaction per value/scale-factor pair', async () => {
    const r = await discoverUnit(io, 1);
    const reading = await readModel(io, 1, r.models[2]);
    assert.equal(reading.decoded?.values.W, 3000);
    // Model 701 is 155 registers: two reads, never splitting a value from its scale factor.
    const plan = planReads(getModel(701)!, 155);
    assert.equal(plan.length, 2);
    assert.ok(plan.every(([, len]) => len <= 125));
  });

  it('re-reads a multi-read model when its scale factors changed between reads', async () => {
    // A device that rescales between our reads: W=5000 at W_SF 0 becomes W=500 at W_SF 1.
    const def = getModel(701)!;
    const before = encodeModel(def, {
      values: { W: 5000, W_SF: 0, A_SF: 0, V_SF: 0, Hz_SF: 0, PF_SF: 0, VA_SF: 0, Var_SF: 0 },
    });
    const after = encodeModel(def, {
      values: { W: 5000, W_SF: 1, A_SF: 0, V_SF: 0, Hz_SF: 0, PF_SF: 0, VA_SF: 0, Var_SF: 0 },
    });
    const map = RawModbusDevice.block(40000, [...SUNS, ...before, 0xffff, 0]);
    dev.behaviour.units.set(8, map);
    let reads = 0;
    const rescaling = {
      endpoint: io.endpoint,
      writeHolding: io.writeHolding.bind(io),
      async readHolding(unit: number, address: number, length: number) {
        const r = await io.readHolding(unit, address, length);
        if (unit === 8 && ++reads === 1) RawModbusDevice.block(40002, after, map); // rescale after the first read
        return r;
      },
    };
    const loc = (await discoverUnit(io, 8)).models[0];
    const regs = await readModelRegisters(rescaling, 8, loc);
    assert.deepEqual(regs, after, 'the inconsistent first pass was discarded');
    assert.ok(
      reads > planReads(def, loc.length + 2).length + 1,
      'read again after the scale factors changed',
    );
  });
});
