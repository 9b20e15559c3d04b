import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { siteTopic } from '../protocols/mqtt/topics.ts';
import { SimSite } from '../sim-devices/site.ts';
import { simDevices, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

const NOON = Date.UTC(2026, 5, 21, 11);
const VAR_MAX = 8000 * 0.44; // the simulated PV's reactive rating (702 VarMaxInjRtg)

/**
 * reactive_power, power_factor, volt_var and connect end to end: MQTT command → edge agent → SunSpec
 * write over Modbus TCP → simulated inverter physics → telemetry and ack.
 */
describe('reactive power and connect commands end to end (edge agent, SimSite PV over Modbus TCP)', function () {
  this.timeout(30_000);
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;
  let dir: string;
  let n = 0;

  before(async () => {
    site = new SimSite({ startMs: NOON, seed: 4, loadScaleW: 1500 });
    await site.start();
    broker = new TestBroker();
    await broker.start();
    dir = tempDir();
    agent = new EdgeAgent({
      config: testConfig({ url: broker.url, dir, devices: simDevices(site.port), control: { cycleMs: 300 } }),
    });
    await agent.start();
    await waitFor('pv1 identified', () =>
      broker.of('capabilities').find((m) => m.json.devices.some((d: { id: string }) => d.id === 'pv1')),
    );
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    await site?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends a command for pv1 and returns its ack. */
  async function command(body: Record<string, unknown>) {
    const id = `cmd-rq-${String(++n).padStart(4, '0')}`;
    const now = Date.now();
    await broker.publish(siteTopic('site-t1', 'commands'), {
      v: 1,
      id,
      site: 'site-t1',
      device: 'pv1',
      issuedAt: now,
      expiresAt: now + 60_000,
      ...body,
    });
    const ack = await waitFor(`ack of ${id}`, () => broker.of('acks').find((m) => m.json.commandId === id));
    return { ...ack.json, sentAt: now };
  }

  /** The first good pv1 sample taken after `afterMs` that satisfies `ok`. */
  function sampleAfter(afterMs: number, ok: (v: Record<string, number>) => boolean) {
    return waitFor('pv1 telemetry', () => {
      for (const m of broker.of('telemetry'))
        for (const s of m.json.samples)
          if (s.device === 'pv1' && s.ts > afterMs && !s.quality && ok(s.values)) return s.values;
      return undefined;
    });
  }

  const near = (got: number, want: number, tol: number, what: string) =>
    assert.ok(Math.abs(got - want) <= tol, `${what}: ${got}, expected ${want} ± ${tol}`);

  it('advertises the reactive controls the inverter supports', async () => {
    const caps = broker.of('capabilities').at(-1)?.json;
    const pv = caps.devices.find((d: { id: string }) => d.id === 'pv1');
    for (const c of ['reactive_power', 'power_factor', 'volt_var', 'connect'])
      assert.ok(pv.controls.includes(c), c);
  });

  it('reactive_power: writes 704 VarSet in var mode, the inverter delivers it, the ack carries it', async () => {
    const ack = await command({ type: 'reactive_power', var: 1500 });
    assert.equal(ack.status, 'applied', ack.reason);
    assert.deepEqual(ack.applied, { var: 1500 });
    assert.equal(ack.reason, undefined);
    const c = site.pv.model(704);
    assert.equal(c.get('VarSetEna'), 1);
    assert.equal(c.get('VarSetMod'), 4); // VARS: absolute var
    assert.equal(c.get('VarSet'), 1500);
    assert.ok(Number(c.get('VarSetRvrtTms')) > 0, 'revert timer armed');
    const v = await sampleAfter(ack.ts, (x) => x.var !== 0);
    near(v.var, 1500, 1, 'telemetry var');
    assert.ok(v.w > 1000, 'still generating');
    near(v.va, Math.hypot(v.w, v.var), 2, 'va');
    near(v.pf, v.w / v.va, 0.002, 'pf (over-excited: positive)');
  });

  it('reactive_power absorbing: negative var, negative power factor', async () => {
    const ack = await command({ type: 'reactive_power', var: -2000 });
    assert.equal(ack.status, 'applied');
    assert.deepEqual(ack.applied, { var: -2000 });
    const v = await sampleAfter(ack.ts, (x) => x.var < 0);
    near(v.var, -2000, 1, 'telemetry var');
    assert.ok(v.pf < 0 && v.pf > -1, `pf ${v.pf}`);
  });

  it('reactive_power beyond the rating is clamped to it, with the reason in the ack', async () => {
    const ack = await command({ type: 'reactive_power', var: 20_000 });
    assert.equal(ack.status, 'applied');
    assert.deepEqual(ack.applied, { var: VAR_MAX });
    assert.match(ack.reason, /clamped 20000 var to 3520 var/);
    assert.equal(site.pv.model(704).get('VarSet'), VAR_MAX);
    const v = await sampleAfter(ack.ts, (x) => x.var > 3000);
    near(v.var, VAR_MAX, 1, 'telemetry var');
  });

  it('power_factor while constant var is on: switches mode (704 PFWInj), the inverter runs at that PF', async () => {
    const ack = await command({ type: 'power_factor', pf: 0.95 });
    assert.equal(ack.status, 'applied', ack.reason);
    assert.deepEqual(ack.applied, { pf: 0.95, enabled: true });
    const c = site.pv.model(704);
    assert.equal(c.get('VarSetEna'), 0, 'constant var switched off');
    assert.equal(c.get('PFWInjEna'), 1);
    const g = c.decode().groups.PFWInj[0].values;
    assert.equal(g.PF, 0.95);
    assert.equal(g.Ext, 0); // over-excited
    const v = await sampleAfter(ack.ts, (x) => x.var > 0 && x.var < 3000);
    near(v.pf, 0.95, 0.002, 'telemetry pf');
    near(v.var, v.w * Math.tan(Math.acos(0.95)), 3, 'var = P·tan(acos PF)');
  });

  it('power_factor negative = under-excited (Ext 1): the inverter absorbs vars', async () => {
    const ack = await command({ type: 'power_factor', pf: -0.9 });
    assert.equal(ack.status, 'applied');
    assert.deepEqual(ack.applied, { pf: -0.9, enabled: true });
    assert.equal(site.pv.model(704).decode().groups.PFWInj[0].values.Ext, 1);
    const v = await sampleAfter(ack.ts, (x) => x.var < 0);
    near(v.pf, -0.9, 0.002, 'telemetry pf');
    near(v.var, -v.w * Math.tan(Math.acos(0.9)), 3, 'var');
  });

  it("power_factor below the device's rated minimum is clamped to it (702 PFOvrExtRtg), with a reason", async () => {
    const ack = await command({ type: 'power_factor', pf: 0.5 });
    assert.equal(ack.status, 'applied');
    assert.deepEqual(ack.applied, { pf: 0.8, enabled: true });
    assert.match(ack.reason, /power factor 0\.5 outside the device's rating: applied 0\.8/);
    const v = await sampleAfter(ack.ts, (x) => x.var > 0);
    // 0.8 asks for 0.75·P var; the reactive rating may cap it first.
    near(v.var, Math.min(0.75 * v.w, VAR_MAX), 3, 'var');
  });

  it('power_factor outside -1..1 is refused before anything is written', async () => {
    const before = site.pv.model(704).decode().groups.PFWInj[0].values.PF;
    const ack = await command({ type: 'power_factor', pf: 1.5 });
    assert.equal(ack.status, 'refused');
    assert.match(ack.reason, /malformed command.*pf/);
    assert.equal(ack.applied, undefined);
    assert.equal(site.pv.model(704).decode().groups.PFWInj[0].values.PF, before);
  });

  it('volt_var: enables the 705 curve; above the deadband the inverter absorbs vars by the curve', async () => {
    site.pv.gridV = 241.5; // ~105 % of nominal with the PV's own rise
    try {
      const ack = await command({ type: 'volt_var', enabled: true });
      assert.equal(ack.status, 'applied', ack.reason);
      assert.deepEqual(ack.applied, { enabled: true });
      assert.equal(site.pv.model(705).get('Ena'), 1);
      assert.equal(site.pv.model(704).get('PFWInjEna'), 0, 'constant PF switched off');
      const v = await sampleAfter(ack.ts, (x) => x.var < 0);
      // Curve: (102 %, 0) → (108 %, -30 % of the absorbing rating).
      const pctV = (v.v / 230) * 100;
      near(v.var, ((-30 * (pctV - 102)) / 6 / 100) * VAR_MAX, 15, `var at ${pctV.toFixed(2)} % V`);
      const off = await command({ type: 'volt_var', enabled: false });
      assert.deepEqual(off.applied, { enabled: false });
      const after = await sampleAfter(off.ts, (x) => x.var === 0);
      assert.equal(after.var, 0);
    } finally {
      site.pv.gridV = 230;
    }
  });

  it('connect false: 123 Conn = 0, the inverter stops; connect true: it generates again', async () => {
    const ack = await command({ type: 'connect', connected: false });
    assert.equal(ack.status, 'applied', ack.reason);
    assert.deepEqual(ack.applied, { connected: false });
    assert.equal(site.pv.model(123).get('Conn'), 0);
    const off = await sampleAfter(ack.ts, (x) => x.w === 0);
    assert.equal(off.var, 0);
    assert.equal(off.state, 0); // off
    const on = await command({ type: 'connect', connected: true });
    assert.deepEqual(on.applied, { connected: true });
    const v = await sampleAfter(on.ts, (x) => x.w > 1000);
    assert.ok(v.state >= 2, `state ${v.state}`);
  });
});

describe('reactive setpoints are held for the life of the command (device revert timer 1 s)', function () {
  this.timeout(30_000);
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;
  let dir: string;

  before(async () => {
    site = new SimSite({ startMs: NOON, seed: 6, loadScaleW: 1500 });
    await site.start();
    broker = new TestBroker();
    await broker.start();
    dir = tempDir();
    agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: simDevices(site.port, { revertS: 1 }),
        control: { cycleMs: 200 },
      }),
    });
    await agent.start();
    await waitFor('pv1 identified', () =>
      broker.of('capabilities').find((m) => m.json.devices.some((d: { id: string }) => d.id === 'pv1')),
    );
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    await site?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('re-writes constant var before the device reverts, and ends it when the command expires', async () => {
    const sentAt = Date.now();
    await broker.publish(siteTopic('site-t1', 'commands'), {
      v: 1,
      id: 'cmd-hold-0001',
      site: 'site-t1',
      device: 'pv1',
      issuedAt: sentAt,
      expiresAt: sentAt + 4000,
      type: 'reactive_power',
      var: 1200,
    });
    const ack = await waitFor('ack', () =>
      broker.of('acks').find((m) => m.json.commandId === 'cmd-hold-0001'),
    );
    assert.equal(ack.json.status, 'applied', ack.json.reason);
    const c = site.pv.model(704);
    assert.equal(c.get('VarSetRvrtTms'), 1);
    // Three revert periods later the inverter still delivers the setpoint: the agent kept re-arming it.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(c.get('VarSetEna'), 1, 'constant var lapsed while the command was valid');
    assert.equal(c.get('VarSet'), 1200);
    const held = broker
      .of('telemetry')
      .flatMap((m) => m.json.samples)
      .filter(
        (s: { device: string; ts: number }) =>
          s.device === 'pv1' && s.ts > sentAt + 2000 && s.ts < sentAt + 3800,
      );
    assert.ok(held.length > 0, 'pv1 telemetry while held');
    for (const s of held) assert.ok(Math.abs(s.values.var - 1200) <= 1, `var ${s.values.var} while held`);
    // After expiry the agent ends the mode itself and the inverter returns to unity power factor.
    await waitFor('var mode ended', () => (c.get('VarSetEna') === 0 ? true : undefined));
    const after = await waitFor('pv1 telemetry after expiry', () =>
      broker
        .of('telemetry')
        .flatMap((m) => m.json.samples)
        .find((s: { device: string; ts: number }) => s.device === 'pv1' && s.ts > sentAt + 4600),
    );
    assert.equal(after.values.var, 0);
  });
});
