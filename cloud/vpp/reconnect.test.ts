import assert from 'node:assert/strict';
import { FakeGateway, type FakeSiteSpec } from '../../test-support/cloud/fake-gateway.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import type { Dispatch } from './dispatch.ts';

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// meter = 0 + 0 − 1000 = −1000 W; the battery (5 kW) carries a +2000 W change alone.
const SPEC: FakeSiteSpec = { site: 'vpp-r', loadW: 1000, pvAvailableW: 0, batteryDefaultW: 0, socPct: 50 };

/**
 * An uplink outage in the middle of a dispatch: the site's commands go unacknowledged, so its battery
 * is left out; once the site is back (telemetry flowing again) the loop must take it back and send it
 * a setpoint, not leave it out for the rest of the window. Telemetry goes stale (4 s) only after the
 * first unacknowledged command expired (1 s TTL), so the exclusion is for the missing ack.
 */
describe('VPP dispatch: a site unreachable for a while is taken back when it returns', function () {
  this.timeout(60_000);
  let t: TestCloud;
  let password = '';
  let gw: FakeGateway;
  const url = () => `mqtt://127.0.0.1:${t.cloud.broker.tcp}`;
  const battery = async (id: string) =>
    (await t.api<Dispatch>('GET', `/dispatches/${id}`)).body.devices.find((x) => x.id === 'bat1');

  before(async () => {
    t = await startTestCloud({
      vpp: { loopMs: 100, commandTtlS: 1, staleMs: 4000, settleMs: 500, baselineMinutes: 0.02 },
    });
    const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: SPEC.site } });
    password = r.body.gateway.password;
    gw = await FakeGateway.start(url(), password, SPEC, 100);
    await until('devices registered', async () =>
      (await t.cloud.registry.listDevices(SPEC.site)).length === 3 ? true : undefined,
    );
    const v = await t.api('POST', '/vpps', {
      body: { id: 'vpp-r', name: 'reconnect', select: { by: 'sites', sites: [SPEC.site] } },
    });
    assert.equal(v.status, 201);
    await new Promise((r) => setTimeout(r, 1300)); // baseline window
  });
  after(async () => {
    await gw?.stop().catch(() => undefined);
    await t?.stop();
  });

  it('excluded for unacknowledged commands during the outage, back in with a new setpoint after it', async () => {
    const r = await t.api<Dispatch>('POST', '/dispatches', {
      body: { group: 'vpp-r', target: { kind: 'change', w: 2000 }, end: Date.now() + 60_000 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    await until('the battery following the dispatch', async () =>
      Math.abs(gw.values().bat - 2000) <= 100 ? true : undefined,
    );

    await gw.stop(); // the uplink goes
    const out = await until('the battery left out', async () => {
      const b = await battery(id);
      return b?.state === 'excluded' ? b : undefined;
    });
    assert.equal(out.reason, 'command not acknowledged before expiry');
    // Long enough for its telemetry to go stale too: the site is unreachable, not misbehaving.
    await new Promise((r) => setTimeout(r, 4500));
    assert.equal((await battery(id))?.state, 'excluded');

    gw = await FakeGateway.start(url(), password, SPEC, 100); // the uplink is back
    const back = await until('the battery back in', async () => {
      const b = await battery(id);
      return b?.state === 'ok' && b.lastCommand?.status === 'acknowledged' ? b : undefined;
    });
    assert.ok(gw.commands.some((c) => c.id === back.lastCommand?.id));
    await until('the battery following again', async () =>
      Math.abs(gw.values().bat - 2000) <= 100 ? true : undefined,
    );
    await t.api('POST', `/dispatches/${id}/cancel`);
  });
});
