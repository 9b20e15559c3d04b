import assert from 'node:assert/strict';
import { HilCloud, type HilSite, hilDir, readRegister, startSite, waitUntil } from './harness.ts';

const NOON = '2026-06-21T11:30:00Z';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Dispatch {
  id: string;
  status: string;
  endedReason?: string;
  resumedAt?: number;
  end: number;
  progress: { ticks: number; commandsSent: number; lastTickAt: number | null };
  devices: Array<{ kind: string; lastCommand?: { id: string } }>;
  intervals: Array<{ start: number; samples: number }>;
}

/**
 * An open VPP dispatch survives kill -9 of the cloud process: it is stored in the registry, resumed
 * by the loop after the restart (fresh setpoints reach the device), or, when its window ended while
 * the cloud was down, closed as completed with the reason recorded.
 */
describe('hardware in the loop: open dispatches survive a restart of the cloud', function () {
  this.timeout(120_000);
  const tmp = hilDir();
  const cloud = new HilCloud(tmp.dir);
  let site: HilSite;
  const get = (id: string) => cloud.ok<Dispatch>('GET', `/dispatches/${id}`);
  const fresh = () =>
    waitUntil('site online with fresh telemetry', async () => {
      const agg = await cloud.ok<{ sitesOnline: number; staleDevices: number }>(
        'GET',
        '/vpps/vpp-dr/aggregate',
      );
      return agg.sitesOnline === 1 && agg.staleDevices === 0 ? agg : undefined;
    });
  const restart = async () => {
    await cloud.proc?.stop('SIGKILL');
    await cloud.start();
  };

  before(async () => {
    await cloud.start();
    site = await startSite(cloud, tmp.dir, 'site-dr', { start: NOON });
    await cloud.ok('POST', '/vpps', {
      id: 'vpp-dr',
      name: 'restart',
      select: { by: 'sites', sites: ['site-dr'] },
    });
    await fresh();
    await sleep(2000); // some baseline
  });
  after(async () => {
    await site?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('an active dispatch resumes after kill -9 of the cloud: same record, the loop and its commands go on', async () => {
    const created = await cloud.api<Dispatch>('POST', '/dispatches', {
      group: 'vpp-dr',
      target: { kind: 'change', w: 2000 },
      end: Date.now() + 90_000,
      intervalSeconds: 5,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const before = await waitUntil('a few loop steps with commands', async () => {
      const d = await get(id);
      return d.progress.ticks >= 3 && d.progress.commandsSent >= 1 ? d : undefined;
    });
    const sentBefore = before.devices.find((x) => x.kind === 'battery')?.lastCommand?.id;
    assert.ok(sentBefore);
    await restart();

    const resumed = await get(id);
    assert.equal(resumed.status, 'active');
    assert.ok(resumed.resumedAt, 'resumedAt recorded');
    assert.ok(resumed.progress.ticks >= before.progress.ticks, 'progress kept');
    assert.ok(resumed.intervals.length >= before.intervals.length, 'performance intervals kept');
    // The loop goes on: more steps, and a new battery setpoint that the edge acknowledges.
    const after = await waitUntil('new loop steps and a new command', async () => {
      const d = await get(id);
      const c = d.devices.find((x) => x.kind === 'battery')?.lastCommand?.id;
      return d.progress.ticks > resumed.progress.ticks && c && c !== sentBefore ? { d, c } : undefined;
    });
    const cmd = await cloud.ok<{ status: string; issuedBy: string }>(
      'GET',
      `/commands/${after.c}?waitMs=10000`,
    );
    assert.equal(cmd.issuedBy, `dispatch:${id}`);
    assert.equal(cmd.status, 'acknowledged');
    assert.equal(await readRegister(site.modbusPort, 2, 704, 'WSetEna'), 1);
    const audit = await cloud.ok<Array<{ action: string }>>('GET', `/audit?target=${id}&limit=100`);
    assert.equal(audit.filter((e) => e.action === 'dispatch.resume').length, 1);
    await cloud.ok('POST', `/dispatches/${id}/cancel`);
    // The cancellation is stored too.
    await restart();
    assert.equal((await get(id)).status, 'cancelled');
  });

  it('a dispatch whose window ended while the cloud was down is closed with the reason', async () => {
    await fresh(); // the edge is back after the restart above
    const created = await cloud.api<Dispatch>('POST', '/dispatches', {
      group: 'vpp-dr',
      target: { kind: 'change', w: 1000 },
      end: Date.now() + 6000,
      intervalSeconds: 5,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await waitUntil('a loop step', async () => ((await get(id)).progress.ticks >= 1 ? 1 : undefined));
    await cloud.proc?.stop('SIGKILL');
    await sleep(Math.max(0, created.body.end - Date.now()) + 500);
    await cloud.start();
    const d = await get(id);
    assert.equal(d.status, 'completed');
    assert.match(d.endedReason ?? '', /while the cloud was not running/);
    const audit = await cloud.ok<Array<{ action: string; detail: { reason?: string } }>>(
      'GET',
      `/audit?target=${id}&limit=100`,
    );
    assert.match(audit.find((e) => e.action === 'dispatch.complete')?.detail.reason ?? '', /not running/);
  });
});
