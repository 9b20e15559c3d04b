import assert from 'node:assert/strict';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

const NOON = '2026-06-21T11:30:00Z';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const reg = readRegister;

interface Dispatch {
  id: string;
  status: string;
  targetMeterW: number;
  baseline: { w: number };
  progress: { measuredW: number };
  devices: Array<{ site: string; id: string; kind: string; state: string; setpointW?: number }>;
  intervals: Array<{ targetW: number; deliveredW: number; errorW: number; samples: number }>;
}

describe('hardware in the loop: VPP dispatch through real edges to simulated devices', function () {
  this.timeout(180_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let a: HilSite;
  let b: HilSite;

  before(async () => {
    await cloud.start();
    a = await startSite(cloud, tmp.dir, 'site-a', { start: NOON });
    b = await startSite(cloud, tmp.dir, 'site-b', { start: NOON });
    await cloud.ok('POST', '/vpps', {
      id: 'vpp1',
      name: 'HIL VPP',
      select: { by: 'sites', sites: ['site-a', 'site-b'] },
    });
    await waitUntil(
      'both sites online with fresh telemetry',
      async () => {
        const agg = await cloud.ok<{ sitesOnline: number; staleDevices: number }>(
          'GET',
          '/vpps/vpp1/aggregate',
        );
        return agg.sitesOnline === 2 && agg.staleDevices === 0 ? agg : undefined;
      },
      30000,
    );
    await sleep(3000); // a few seconds of baseline
  });
  /**
   * Each test starts from the same state whatever the one before it did: no open dispatch on vpp1
   * (a failed test may leave one active, and a new one would be refused as overlapping) and both
   * edges back in default mode (the previous dispatch's setpoints lapsed).
   */
  const idle = async () => {
    const open = await cloud.ok<Array<{ id: string; status: string }>>('GET', '/dispatches?group=vpp1');
    for (const x of open)
      if (x.status === 'active' || x.status === 'scheduled')
        await cloud.ok('POST', `/dispatches/${x.id}/cancel`);
    await waitUntil(
      'sites in default mode, with fresh telemetry',
      async () => {
        const agg = await cloud.ok<{
          staleDevices: number;
          perSite: Array<{ id: string; mode?: string }>;
        }>('GET', '/vpps/vpp1/aggregate');
        return agg.staleDevices === 0 &&
          agg.perSite.length === 2 &&
          agg.perSite.every((x) => x.mode === 'default')
          ? true
          : undefined;
      },
      20000,
    );
  };

  after(async () => {
    await a?.stop();
    await b?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('writes the devices, tracks the target at the meters for the window, then returns to default mode', async () => {
    const end = Date.now() + 20_000;
    const created = await cloud.api<Dispatch>('POST', '/dispatches', {
      group: 'vpp1',
      target: { kind: 'change', w: 3000 },
      end,
      intervalSeconds: 5,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const target = created.body.targetMeterW;
    // The control registers change: the batteries get explicit power setpoints through 704.
    await waitUntil('battery setpoints written', async () =>
      (await reg(a.modbusPort, 2, 704, 'WSetEna')) === 1 ? true : undefined,
    );
    // Tracking: over the window's later intervals, the measured aggregate at the meters stays within
    // 400 W (plus 10 % of the move) of the target.
    await sleep(Math.max(0, end - Date.now()) + 2000);
    const done = await cloud.ok<Dispatch>('GET', `/dispatches/${id}`);
    assert.equal(done.status, 'completed');
    const settled = done.intervals.slice(1).filter((i) => i.samples > 0);
    assert.ok(settled.length >= 2, `intervals ${JSON.stringify(done.intervals)}`);
    for (const i of settled) {
      assert.ok(
        Math.abs(i.deliveredW - target) <= 700,
        `interval delivered ${i.deliveredW} W vs target ${target} W; all: ${JSON.stringify(done.intervals)}`,
      );
    }
    // Default mode after the end: the remote setpoints lapse and the edges go back to self-consumption.
    await waitUntil(
      'sites back in default mode',
      async () => {
        const agg = await cloud.ok<{ perSite: Array<{ id: string; mode?: string }> }>(
          'GET',
          '/vpps/vpp1/aggregate',
        );
        return agg.perSite.length === 2 && agg.perSite.every((x) => x.mode === 'default') ? true : undefined;
      },
      20000,
    );
  });

  it('re-allocates to the other site when a device stops answering mid-dispatch', async () => {
    await idle();
    const end = Date.now() + 30_000;
    const created = await cloud.api<Dispatch>('POST', '/dispatches', {
      group: 'vpp1',
      target: { kind: 'change', w: 2000 },
      end,
      intervalSeconds: 5,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const before = await waitUntil('both batteries under dispatch', async () => {
      const d = await cloud.ok<Dispatch>('GET', `/dispatches/${id}`);
      const bats = d.devices.filter(
        (x) => x.kind === 'battery' && x.setpointW !== undefined && x.state === 'ok',
      );
      return bats.length === 2 ? d : undefined;
    });
    const aBefore = before.devices.find((d) => d.site === 'site-a' && d.kind === 'battery')!.setpointW!;
    // Site b's devices stop answering (the simulator process freezes: requests time out).
    b.sim.child.kill('SIGSTOP');
    let after: Dispatch;
    try {
      after = await waitUntil(
        'site-b excluded and its share moved to site-a',
        async () => {
          const d = await cloud.ok<Dispatch>('GET', `/dispatches/${id}`);
          const bBat = d.devices.find((x) => x.site === 'site-b' && x.kind === 'battery');
          const aBat = d.devices.find((x) => x.site === 'site-a' && x.kind === 'battery');
          return bBat?.state === 'excluded' && aBat?.setpointW !== undefined && aBat.setpointW > aBefore + 200
            ? d
            : undefined;
        },
        30000,
      );
    } finally {
      b.sim.child.kill('SIGCONT');
    }
    assert.equal(after.devices.find((x) => x.site === 'site-a' && x.kind === 'battery')?.state, 'ok');
    await cloud.ok('POST', `/dispatches/${id}/cancel`);
  });
});
