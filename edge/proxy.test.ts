import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ModbusClient } from '../protocols/modbus/client.ts';
import { ModbusRTU } from '../protocols/modbus/lib.ts';
import { encodeWrite, locatePoint } from '../protocols/sunspec/codec.ts';
import { SimSite } from '../sim-devices/site.ts';
import type { SimSunSpecDevice } from '../sim-devices/sunspec-device.ts';
import { simDevices, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

const NOON = Date.UTC(2026, 5, 21, 11);
const BASE = 40000;

/** Reads a unit's whole SunSpec map (marker, every model, end marker) as one register array. */
async function readMap(read: (addr: number, len: number) => Promise<number[]>): Promise<number[]> {
  const out = [...(await read(BASE, 2))];
  let addr = BASE + 2;
  for (;;) {
    const [id, len] = await read(addr, 2);
    out.push(id, len);
    if (id === 0xffff) return out;
    for (let off = 0; off < len; off += 125)
      out.push(...(await read(addr + 2 + off, Math.min(125, len - off))));
    addr += len + 2;
  }
}

const modelRegs = (dev: SimSunSpecDevice, modelId: number) => {
  const m = dev.model(modelId);
  return { m, regs: Array.from(dev.regs.subarray(m.address, m.address + m.length + 2)) };
};

/** Register address and words of a write to one point of a simulated device. */
function planWrite(dev: SimSunSpecDevice, modelId: number, point: string, value: number) {
  const { m, regs } = modelRegs(dev, modelId);
  const plan = encodeWrite(m.def, regs, point, value);
  return { addr: m.address + plan.offset, words: plan.registers };
}

/** Register address of one point of a simulated device. */
function addressOf(dev: SimSunSpecDevice, modelId: number, point: string): number {
  const { m, regs } = modelRegs(dev, modelId);
  return m.address + locatePoint(m.def, regs, point).offset;
}

async function proxyClient(port: number): Promise<InstanceType<typeof ModbusRTU>> {
  const c = new ModbusRTU();
  await c.connectTCP('127.0.0.1', { port });
  c.setTimeout(3000);
  return c;
}

const codeOf = (err: unknown) => (err as { modbusCode?: number }).modbusCode;

describe('edge Modbus proxy against the simulated site (real sockets)', function () {
  this.timeout(30_000);
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;
  let dir: string;
  let direct: ModbusClient;
  let client: InstanceType<typeof ModbusRTU>;

  before(async () => {
    // Physics frozen (one step at start): the device's registers change only when the test says so.
    site = new SimSite({ startMs: NOON, seed: 5, tickMs: 3_600_000 });
    await site.start();
    broker = new TestBroker();
    await broker.start();
    dir = tempDir();
    agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: simDevices(site.port),
        control: { enabled: false },
        proxy: { host: '127.0.0.1', port: 0, writable: ['pv1'] },
      }),
    });
    await agent.start();
    await waitFor('all devices polled', () =>
      agent.scheduler.states().every((s) => s.ok && s.lastOkMs !== undefined),
    );
    direct = new ModbusClient({ transport: { kind: 'tcp', host: '127.0.0.1', port: site.port } });
    client = await proxyClient(agent.proxy?.port ?? 0);
  });

  after(async () => {
    await new Promise<void>((r) => (client?.isOpen ? client.close(() => r()) : r()));
    await direct?.close();
    await agent?.stop();
    await broker?.stop();
    await site?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const viaProxy = (unit: number) => async (addr: number, len: number) => {
    client.setID(unit);
    return (await client.readHoldingRegisters(addr, len)).data;
  };

  it('listens on the loopback port it was given (0 = any free one)', () => {
    assert.ok(agent.proxy && agent.proxy.port > 0);
  });

  it('serves every unit the same register map as the device itself, marker to end marker', async () => {
    for (const unit of [1, 2, 3]) {
      const fromDevice = await readMap((a, n) => direct.readHolding(unit, a, n));
      const fromProxy = await readMap(viaProxy(unit));
      assert.ok(fromDevice.length > 100, `unit ${unit}: a whole map`);
      assert.deepEqual(fromProxy, fromDevice, `unit ${unit}`);
    }
  });

  it('is never older than one poll, also for models the agent does not poll (103, 121)', async () => {
    const m103 = site.pv.model(103);
    const m701 = site.pv.model(701);
    m103.set('W', 1234);
    m701.set('W', 1234);
    site.pv.model(121).set('WMax', 7000);
    const w = (m: typeof m103, point: string) => addressOf(site.pv, m.id, point);
    await waitFor(
      'proxy shows the new 701 W',
      async () => (await viaProxy(1)(w(m701, 'W'), 1))[0] === 1234,
      3000,
    );
    await waitFor(
      'proxy shows the new 103 W',
      async () => (await viaProxy(1)(w(m103, 'W'), 1))[0] === 1234,
      3000,
    );
    const m121 = site.pv.model(121);
    const wmax = addressOf(site.pv, 121, 'WMax');
    await waitFor('proxy shows the new 121 WMax', async () => (await viaProxy(1)(wmax, 1))[0] === 7000, 3000);
    assert.equal(m121.get('WMax'), 7000);
    assert.deepEqual(await readMap(viaProxy(1)), await readMap((a, n) => direct.readHolding(1, a, n)));
  });

  it('refuses writes to a device not listed writable with exception 1, and the device is unchanged', async () => {
    const before = site.battery.model(704).get('WSetRvrt');
    const { addr, words } = planWrite(site.battery, 704, 'WSetRvrt', 1000);
    client.setID(2);
    await assert.rejects(client.writeRegisters(addr, words), (err) => codeOf(err) === 1);
    const one = planWrite(site.meter, 1, 'DA', 7);
    client.setID(3);
    await assert.rejects(client.writeRegisters(one.addr, one.words), (err) => codeOf(err) === 1);
    assert.equal(site.battery.model(704).get('WSetRvrt'), before);
    assert.notEqual(site.meter.model(1).get('DA'), 7);
  });

  it("forwards writes to a writable device, shows the result, and passes the device's exception through", async () => {
    const ok = planWrite(site.pv, 704, 'WMaxLimPctRvrt', 90);
    client.setID(1);
    await client.writeRegisters(ok.addr, ok.words);
    assert.equal(site.pv.model(704).get('WMaxLimPctRvrt'), 90);
    assert.deepEqual(await viaProxy(1)(ok.addr, ok.words.length), ok.words);
    // 150 % is out of range: the inverter answers "illegal data value" (3), and so does the proxy.
    const bad = planWrite(site.pv, 704, 'WMaxLimPctRvrt', 150);
    await assert.rejects(client.writeRegisters(bad.addr, bad.words), (err) => codeOf(err) === 3);
    assert.equal(site.pv.model(704).get('WMaxLimPctRvrt'), 90);
    // A read-only point: "illegal data address" (2) from the device, passed through.
    await assert.rejects(
      client.writeRegisters(addressOf(site.pv, 701, 'W'), [5]),
      (err) => codeOf(err) === 2,
    );
  });

  it('answers reads outside the map with exception 2 and unknown units with 0x0B', async () => {
    await assert.rejects(viaProxy(1)(BASE + 5000, 2), (err) => codeOf(err) === 2);
    await assert.rejects(viaProxy(9)(BASE, 2), (err) => codeOf(err) === 0x0b);
  });

  it('answers 0x0B for a device that stopped answering, keeps serving the others, and recovers', async () => {
    site.pv.online = false;
    try {
      // Whether the agent has noticed yet or the proxy's own read times out: an exception, never stale data.
      await waitFor(
        'exception 0x0B for the silent PV',
        () =>
          viaProxy(1)(BASE, 2).then(
            () => false,
            (err) => codeOf(err) === 0x0b,
          ),
        5000,
      );
      await waitFor(
        'the agent marks pv1 down',
        () => agent.scheduler.states().find((s) => s.id === 'pv1' && !s.ok),
        5000,
      );
      await assert.rejects(viaProxy(1)(BASE, 2), (err) => codeOf(err) === 0x0b);
      const meter = await readMap(viaProxy(3));
      assert.deepEqual(meter, await readMap((a, n) => direct.readHolding(3, a, n)));
    } finally {
      site.pv.online = true;
    }
    await waitFor(
      'pv1 served again',
      () =>
        viaProxy(1)(BASE, 2).then(
          (v) => v[0] === 0x5375,
          () => false,
        ),
      10_000,
      100,
    );
    assert.ok(agent.proxy, 'proxy still up');
  });

  it('serves concurrent clients while the agent polls: every answer is the right unit, no poll fails', async () => {
    const errorsBefore = agent.scheduler.states().reduce((a, s) => a + s.errors, 0);
    const pollsBefore = agent.scheduler.states().reduce((a, s) => a + s.polls, 0);
    const expected = new Map<number, number[]>();
    for (const unit of [1, 2, 3]) expected.set(unit, await readMap((a, n) => direct.readHolding(unit, a, n)));
    const clients = await Promise.all([0, 1, 2, 3].map(() => proxyClient(agent.proxy?.port ?? 0)));
    try {
      const until = Date.now() + 1500;
      let reads = 0;
      await Promise.all(
        clients.map(async (c, i) => {
          for (let n = 0; Date.now() < until; n++) {
            const unit = ((i + n) % 3) + 1;
            c.setID(unit);
            const map = await readMap(async (a, len) => (await c.readHoldingRegisters(a, len)).data);
            assert.deepEqual(map, expected.get(unit), `client ${i} read ${n} of unit ${unit}`);
            reads++;
          }
        }),
      );
      assert.ok(reads >= 12, `${reads} whole-map reads`);
    } finally {
      await Promise.all(clients.map((c) => new Promise<void>((r) => c.close(() => r()))));
    }
    const st = agent.scheduler.states();
    assert.equal(
      st.reduce((a, s) => a + s.errors, 0),
      errorsBefore,
      'no poll failed meanwhile',
    );
    assert.ok(st.reduce((a, s) => a + s.polls, 0) > pollsBefore + 6, 'the agent kept polling');
    assert.ok(st.every((s) => s.ok));
  });
});
