import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { SimSite } from '../sim-devices/site.ts';
import { simDevices, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

const NOON = Date.UTC(2026, 5, 21, 11);

describe('edge agent: misbehaving devices', function () {
  this.timeout(60_000);
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;
  let dir: string;

  beforeEach(async () => {
    site = new SimSite({ startMs: NOON, seed: 9 });
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
      }),
    });
    await agent.start();
    await waitFor('telemetry from all three', () => {
      const devs = new Set(
        broker.of('telemetry').flatMap((m) => m.json.samples.map((s: { device: string }) => s.device)),
      );
      return devs.size === 3;
    });
  });
  afterEach(async () => {
    await agent.stop();
    await broker.stop();
    await site.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const samples = (device: string) =>
    broker
      .of('telemetry')
      .flatMap((m) => m.json.samples.filter((s: { device: string }) => s.device === device));

  it('flags an unplugged device stale, keeps polling the others, and recovers without a restart', async () => {
    site.battery.online = false;
    const stale = await waitFor('stale battery sample', () =>
      samples('bat1').find((s: { quality?: Record<string, string> }) => s.quality?.soc_pct === 'stale'),
    );
    assert.ok(stale.values.soc_pct > 0, 'last known value carried, flagged stale');
    // The dead battery shares the TCP line with PV and meter: they keep coming.
    const pvBefore = samples('pv1').length;
    const meterBefore = samples('meter1').length;
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(
      samples('pv1').length - pvBefore >= 5,
      `pv samples while battery dead: ${samples('pv1').length - pvBefore}`,
    );
    assert.ok(samples('meter1').length - meterBefore >= 5);
    const h = (await (await fetch(`http://127.0.0.1:${agent.httpPort}/health`)).json()) as any;
    assert.equal(h.devices.bat1.ok, false);
    assert.match(h.devices.bat1.error, /unit 2|longer than/);
    site.battery.online = true;
    const n = samples('bat1').length;
    await waitFor(
      'fresh battery samples again',
      () =>
        samples('bat1')
          .slice(n)
          .find((s: { quality?: unknown }) => !s.quality),
      40_000,
    );
  });

  it('withholds garbage register values and flags them invalid instead of publishing them', async () => {
    const m701 = site.pv.model(701);
    // Scale factor outside SunSpec's -10..10: W is unusable.
    site.pv.regs[m701.address + offsetOf(m701, 'W_SF')] = 20;
    // Hz scale factor that turns 50 Hz into 0 Hz: implausible.
    site.pv.regs[m701.address + offsetOf(m701, 'Hz_SF')] = 5;
    const bad = await waitFor('invalid flags', () =>
      samples('pv1').find(
        (s: { quality?: Record<string, string> }) =>
          s.quality?.w === 'invalid' && s.quality?.hz === 'invalid',
      ),
    );
    assert.equal(bad.values.w, undefined);
    assert.equal(bad.values.hz, undefined);
    assert.ok(bad.values.v > 200, 'the good points of the same model still come through');
  });
});

function offsetOf(
  m: { def: { group: { points: readonly { name: string; size: number }[] } } },
  name: string,
): number {
  let off = 0;
  for (const p of m.def.group.points) {
    if (p.name === name) return off;
    off += p.size;
  }
  throw new Error(name);
}
