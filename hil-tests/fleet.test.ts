import assert from 'node:assert/strict';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

type Latest = Array<{ device: string; point: string; ts: number; value: number }>;
const NOON = '2026-06-21T11:30:00Z';

async function register(port: number, unit: number, model: number, point: string): Promise<number> {
  const v = await readRegister(port, unit, model, point);
  assert.equal(typeof v, 'number', `unit ${unit} model ${model} ${point}`);
  return v as number;
}

describe('hardware in the loop: cloud, simulated sites and edge agents as real processes', function () {
  this.timeout(120_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let a: HilSite;
  let b: HilSite;

  before(async () => {
    await cloud.start();
    a = await startSite(cloud, tmp.dir, 'site-a', { start: NOON, uplinkLossS: 4 });
    b = await startSite(cloud, tmp.dir, 'site-b', { start: NOON });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  const latest = async (site: string) =>
    (await cloud.ok<Latest>('GET', `/sites/${site}/telemetry/latest`)) ?? [];
  const value = (rows: Latest, device: string, point: string) =>
    rows.find((r) => r.device === device && r.point === point)?.value;

  it('telemetry from every simulated device reaches storage and the API, matching the registers', async () => {
    const rows = await waitUntil('site-a telemetry of all three devices', async () => {
      const r = await latest('site-a');
      return ['pv', 'battery', 'meter'].every((d) => value(r, d, 'w') !== undefined) &&
        value(r, 'battery', 'soc_pct') !== undefined
        ? r
        : undefined;
    });
    // PV output at noon: the 701 W register and the stored value agree (the sun moves slowly).
    const pvReg = await register(a.modbusPort, 1, 701, 'W');
    assert.ok(pvReg > 1000, `noon PV ${pvReg} W`);
    assert.ok(
      Math.abs(value(rows, 'pv', 'w')! - pvReg) <= 0.03 * pvReg + 20,
      `stored ${value(rows, 'pv', 'w')} vs register ${pvReg}`,
    );
    const soc = await register(a.modbusPort, 2, 802, 'SoC');
    assert.ok(
      Math.abs(value(rows, 'battery', 'soc_pct')! - soc) <= 0.5,
      `SoC stored ${value(rows, 'battery', 'soc_pct')} vs ${soc}`,
    );
    // Meter: SunSpec import-positive on the wire, export-positive in the canonical model.
    const meterReg = await register(a.modbusPort, 3, 203, 'W');
    const stored = value(rows, 'meter', 'w')!;
    assert.equal(
      Math.sign(stored),
      -Math.sign(meterReg) || 0,
      `meter stored ${stored} vs register ${meterReg}`,
    );
    // And the other site is there too, with its own devices registered from its capabilities.
    const devices = await waitUntil('site-b devices', async () => {
      const d = await cloud.ok<Array<{ id: string; kind: string }>>('GET', '/sites/site-b/devices');
      return d.length === 3 ? d : undefined;
    });
    assert.deepEqual(devices.map((d) => d.kind).sort(), ['battery', 'inverter', 'meter']);
  });

  it('a battery command reaches the device register and is acknowledged with the applied value', async () => {
    const sent = await cloud.ok<{ id: string }>('POST', '/sites/site-a/commands', {
      type: 'battery_power',
      device: 'battery',
      w: -2000,
      ttlSeconds: 60,
    });
    const done = await cloud.ok<{ status: string; applied?: { w: number } }>(
      'GET',
      `/commands/${sent.id}?waitMs=15000`,
    );
    assert.equal(done.status, 'acknowledged');
    assert.equal(done.applied?.w, -2000);
    assert.equal(await register(a.modbusPort, 2, 704, 'WSet'), -2000);
    // The device's physics follow on its next step.
    await waitUntil('the simulated battery charging at the setpoint', async () =>
      (await register(a.modbusPort, 2, 701, 'W')) === -2000 ? true : undefined,
    );
  });

  it('refuses a command for another site, a malformed one and an expired one, with reasons, audited', async () => {
    // An installer scoped to site-b may not command site-a.
    const user = await cloud.ok<{ id: string }>('POST', '/users', {
      name: 'Installer B',
      role: 'installer',
      scopes: [{ kind: 'site', target: 'site-b' }],
    });
    const tok = await cloud.ok<{ token: string }>('POST', `/users/${user.id}/tokens`, { label: 'hil' });
    const foreign = await cloud.api(
      'POST',
      '/sites/site-a/commands',
      { type: 'battery_power', device: 'battery', w: 1000 },
      tok.token,
    );
    assert.equal(foreign.status, 403);
    assert.match(JSON.stringify(foreign.body), /site-a/);

    const malformed = await cloud.api('POST', '/sites/site-a/commands', {
      type: 'battery_power',
      device: 'battery',
      w: 'lots',
    });
    assert.equal(malformed.status, 400);
    assert.match(JSON.stringify(malformed.body), /w/);

    // Expired: the gateway is offline until the command's expiry passes; when it comes back and gets
    // the queued command, it refuses it as expired (and the cloud has marked it expired meanwhile).
    await b.edge?.stop();
    const sent = await cloud.ok<{ id: string }>('POST', '/sites/site-b/commands', {
      type: 'battery_power',
      device: 'battery',
      w: 1500,
      ttlSeconds: 1,
    });
    const expired = await cloud.ok<{ status: string }>('GET', `/commands/${sent.id}?waitMs=10000`);
    assert.equal(expired.status, 'expired');
    await b.startEdge();
    assert.notEqual(
      await register(b.modbusPort, 2, 704, 'WSet'),
      1500,
      'an expired command is never written',
    );

    const audit = await cloud.ok<Array<{ actor: string; action: string; target: string; detail: unknown }>>(
      'GET',
      '/audit?limit=1000',
    );
    const rejected = audit.filter((e) => e.action === 'command.rejected');
    assert.ok(
      rejected.some((e) => e.target === 'site-a' && e.actor.includes(user.id)),
      'foreign-site attempt audited with who',
    );
    assert.ok(
      rejected.some((e) => /invalid|w/.test(JSON.stringify(e.detail))),
      'malformed command audited with the reason',
    );
    assert.ok(
      audit.some((e) => e.action === 'command.expired' && e.target === 'site-b'),
      'expiry audited',
    );
  });

  it('when the cloud goes away, sites fall back, buffer telemetry and replay it all when it returns', async () => {
    // A remote setpoint with a short life, then the cloud disappears.
    const sent = await cloud.ok<{ id: string }>('POST', '/sites/site-a/commands', {
      type: 'battery_power',
      device: 'battery',
      w: 3000,
      ttlSeconds: 3,
    });
    assert.equal(
      (await cloud.ok<{ status: string }>('GET', `/commands/${sent.id}?waitMs=15000`)).status,
      'acknowledged',
    );
    await cloud.stop();
    const outageStart = Date.now();
    // Fallback: once the setpoint expires the site returns to self-consumption (no longer 3000 W).
    await waitUntil(
      'site-a battery back in default mode',
      async () => ((await register(a.modbusPort, 2, 704, 'WSet')) !== 3000 ? true : undefined),
      20000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    const outageEnd = Date.now();
    await cloud.start();
    // Replay: samples stamped during the outage arrive with their original timestamps.
    const history = await waitUntil(
      'telemetry from the outage replayed',
      async () => {
        const r = await cloud.ok<Array<{ t: number; count: number }>>(
          'GET',
          `/sites/site-a/telemetry/history?devices=pv&points=w&from=${outageStart}&to=${outageEnd}&bucket=1`,
        );
        // One bucket per second of the outage, each with the samples polled in it (poll every 0.5 s).
        const seconds = Math.floor((outageEnd - outageStart) / 1000);
        return r.filter((x) => x.count > 0).length >= seconds - 1 ? r : undefined;
      },
      30000,
    );
    assert.ok(history.length > 0);
  });
});
