import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FakeGateway } from '../../test-support/cloud/fake-gateway.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import type { Dispatch } from './dispatch.ts';

const IEEE33 = fileURLToPath(new URL('../network/feeders/ieee33', import.meta.url));

describe('VPP dispatch against the configured feeder (cloud/grid network limits)', function () {
  this.timeout(60_000);
  let t: TestCloud;
  let g: FakeGateway;

  before(async () => {
    t = await startTestCloud({
      network: { feeder: { dir: IEEE33, baseKv: 12.66, vminPu: 0.9 } },
      vpp: { loopMs: 200, commandTtlS: 2 },
    });
    const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: 'far' } });
    assert.equal((await t.api('PATCH', '/sites/far', { body: { node: '18' } })).status, 200);
    // A 4 MW battery at the end of the feeder.
    g = await FakeGateway.start(`mqtt://127.0.0.1:${t.cloud.broker.tcp}`, r.body.gateway.password, {
      site: 'far',
      loadW: 0,
      pvAvailableW: 0,
      batteryDefaultW: 0,
      socPct: 50,
      batteryMaxW: 4_000_000,
      whCapacity: 40_000_000,
    });
    const until = Date.now() + 10_000;
    while ((await t.cloud.registry.listDevices('far')).length < 3 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      (
        await t.api('POST', '/groups', {
          body: { id: 'end', name: 'feeder end', kind: 'vpp', sites: ['far'] },
        })
      ).status,
      201,
    );
  });
  after(async () => {
    await g?.stop();
    await t?.stop();
  });

  it('refuses a move the feeder cannot carry, naming the network limit, and accepts a small one', async () => {
    const big = await t.api<{ error: string; feasibility: Dispatch['feasibility'] }>('POST', '/dispatches', {
      body: { group: 'end', target: { kind: 'meter_power', w: 4_000_000 }, end: Date.now() + 60_000 },
    });
    assert.equal(big.status, 422, JSON.stringify(big.body));
    assert.equal(big.body.feasibility.checks.network.checked, true);
    assert.equal(big.body.feasibility.checks.network.feasible, false);
    assert.match(big.body.error, /network limits: (bus \S+ voltage|branch \S+ loaded)/);

    const small = await t.api<Dispatch>('POST', '/dispatches', {
      body: { group: 'end', target: { kind: 'meter_power', w: 50_000 }, end: Date.now() + 60_000 },
    });
    assert.equal(small.status, 201, JSON.stringify(small.body));
    assert.deepEqual(
      [small.body.feasibility.checks.network.checked, small.body.feasibility.checks.network.feasible],
      [true, true],
    );
  });
});
