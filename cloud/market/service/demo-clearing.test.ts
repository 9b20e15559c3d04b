import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { WholesaleMarket } from '../../../sim-devices/iso/wholesale.ts';
import { startTestCloud, type TestCloud } from '../../../test-support/cloud/test-cloud.ts';
import { DAY_MS, HOUR_MS, RT_INTERVAL_MS } from '../model/time.ts';
import { DemoClearing } from './demo-clearing.ts';
import { demoGates } from './service.ts';

const MIN = 60_000;

describe('market demo timing (market.demo)', function () {
  this.timeout(60_000);
  let t: TestCloud;
  let startedBetween: [number, number];
  const uma = { userId: 'uma', auditActor: 'user:uma' };
  const alice = { userId: 'alice', auditActor: 'user:alice' };

  before(async () => {
    const before = Date.now();
    t = await startTestCloud(
      {
        market: {
          model: 4,
          // The test drives the clearing's tick itself.
          demo: { daGateAfterStartMinutes: 3, autoClear: false },
          actors: [
            { id: 'iso', kind: 'iso', users: [] },
            { id: 'utility', kind: 'utility', users: ['uma'] },
            { id: 'dso', kind: 'independent_dso', users: ['dora'] },
            { id: 'sunco', kind: 'producer', users: ['alice'] },
          ],
        },
      },
      mkdtempSync(join(tmpdir(), 'gridlayer-demo-market-')),
      { iso: new WholesaleMarket({ seed: 1 }) },
    );
    startedBetween = [before, Date.now()];
    const m = t.cloud.market!;
    await m.registerResource(uma, {
      id: 'pv1',
      owner: 'sunco',
      kind: 'pv',
      bus: 'copper-plate',
      max_inject_w: 10e3,
      max_withdraw_w: 0,
    } as never);
    await m.setResourceStatus(uma, 'pv1', 'certified');
  });
  after(() => t?.stop());

  it('demoGates: the gate of the start day closes the given minutes after the start, every day at that time', () => {
    const start = Date.UTC(2030, 0, 16, 15, 20);
    const g = demoGates(
      { daGateBeforeDayMs: 12 * HOUR_MS, rtGateBeforeIntervalMs: RT_INTERVAL_MS },
      3,
      start,
    );
    const dayStart = Date.UTC(2030, 0, 16);
    assert.equal(dayStart - g.daGateBeforeDayMs, Date.UTC(2030, 0, 16, 15, 23));
    assert.equal(dayStart + DAY_MS - g.daGateBeforeDayMs, Date.UTC(2030, 0, 17, 15, 23));
    assert.equal(g.rtGateBeforeIntervalMs, RT_INTERVAL_MS);
  });

  it('takes bids for today until the gate, then clears the day ahead and after it the real-time intervals', async () => {
    const m = t.cloud.market!;
    const [a, b] = startedBetween;
    const dayOf = (x: number) => Math.floor(x / DAY_MS) * DAY_MS;
    const today = dayOf(a);
    const closes = today - m.gates.daGateBeforeDayMs;
    assert.ok(closes >= a + 3 * MIN && closes <= b + 3 * MIN, `gate ${new Date(closes).toISOString()}`);
    let clock = closes - 1000;
    m.now = () => clock;
    const log = pino({ level: 'silent' });
    const demo = new DemoClearing(m, 'dora', log);
    const bid = (h: number) => ({
      resource: 'pv1',
      market: 'DA' as const,
      product: 'energy' as const,
      side: 'sell' as const,
      interval_start: today + h * HOUR_MS,
      steps: [{ quantity_w: 5000, price_per_mwh: 0 }],
    });
    await m.submitBid(alice, bid(20));
    await demo.tick();
    assert.equal((await m.store.runs({ market: 'DA' })).length, 0, 'gate still open: nothing cleared');

    clock = closes + 1000;
    await assert.rejects(m.submitBid(alice, bid(21)), /GATE_CLOSED|closed/);
    await demo.tick();
    const da = await m.store.runs({ market: 'DA' });
    // The start day's (even when its gate closed after midnight).
    assert.deepEqual(
      da.map((r) => r.intervalStart),
      [today],
    );
    assert.equal(da[0].runBy, 'dso');
    // The first RT interval is the first whose gate (5 min ahead) was still open when the DA cleared.
    const firstRt = Math.ceil((clock + RT_INTERVAL_MS + 1) / RT_INTERVAL_MS) * RT_INTERVAL_MS;
    assert.equal((await m.store.runs({ market: 'RT' })).length, 0);
    clock = firstRt - RT_INTERVAL_MS;
    await demo.tick();
    clock += RT_INTERVAL_MS;
    await demo.tick();
    const rt = await m.store.runs({ market: 'RT' });
    assert.deepEqual(
      rt.map((r) => r.intervalStart),
      [firstRt, firstRt + RT_INTERVAL_MS],
    );
    // A second pass changes nothing: each day and interval clears once.
    await demo.tick();
    assert.equal((await m.store.runs({ market: 'DA' })).length, 1);
    assert.equal((await m.store.runs({ market: 'RT' })).length, 2);
  });
});
