import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { telemetryBatchSchema } from '../protocols/mqtt/payloads.ts';
import { SimSite } from '../sim-devices/site.ts';
import {
  type Recorded,
  simDevices,
  TestBroker,
  tempDir,
  testConfig,
  waitFor,
} from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

interface BatSample {
  seq: number;
  values: Record<string, number>;
}

describe('report by exception: real agent, simulated site (Modbus TCP), aedes', function () {
  this.timeout(30_000);
  let site: SimSite;
  let broker: TestBroker;
  let agent: EdgeAgent;
  let dir: string;
  const POLL_MS = 200;

  before(async () => {
    site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 5 });
    await site.start();
    broker = new TestBroker();
    await broker.start();
    dir = tempDir();
    agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        // A failed poll sends the last values flagged stale (every point, and again when it recovers),
        // which would blur the counts below: a generous timeout keeps a loaded machine from failing one.
        devices: simDevices(site.port, { pollMs: POLL_MS, timeoutMs: 2000 }).filter((d) => d.id === 'bat1'),
        // The batch timer cannot fire during this test: whatever arrives was published by the poll.
        uplink: { url: broker.url, clientId: 'edge-rbe-test', batchMs: 600_000, reconnectMs: 200 },
        telemetry: { report: 'exception', heartbeatMs: 2000, deadband: { soh_pct: 2 } },
        control: { enabled: false },
      }),
    });
    await agent.start();
  });

  after(async () => {
    await agent?.stop();
    await broker?.stop();
    await site?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** bat1's samples in publish order, with their batch's seq. */
  const batSamples = (from = 0): BatSample[] =>
    broker
      .of('telemetry')
      .slice(from)
      .flatMap((m: Recorded) =>
        m.json.samples
          .filter((s: { device: string }) => s.device === 'bat1')
          .map((s: { values: Record<string, number> }) => ({ seq: m.json.seq, values: s.values })),
      );
  const state = () => agent.scheduler.states().find((s) => s.id === 'bat1');
  const polls = () => state()?.polls ?? 0;
  const errors = () => state()?.errors ?? 0;
  const setSoH = (pct: number) => site.battery.model(802).set('SoH', pct);

  it('publishes a change beyond its deadband after the next poll, in a batch of its own, not the batch timer', async () => {
    const first = await waitFor('first (whole) sample', () => batSamples()[0]);
    assert.equal(first.values.soh_pct, 100);
    assert.equal(first.values.wh_capacity, 10_000);
    const from = broker.of('telemetry').length;
    const pollsAtChange = polls();
    setSoH(95); // 5 % > the 2 % deadband
    const hit = await waitFor('soh 95 published', () =>
      batSamples(from).find((s) => s.values.soh_pct === 95),
    );
    // The poll running at the change may have read the register before it; the next one saw it.
    assert.ok(polls() - pollsAtChange <= 2, `published ${polls() - pollsAtChange} polls after the change`);
    assert.equal(agent.buffer.stagedSamples, 0, 'nothing waits for the batch timer');
    // An exception, not a heartbeat: the unchanged capacity is not in it.
    assert.equal(hit.values.wh_capacity, undefined);
    for (const m of broker.of('telemetry'))
      assert.equal(telemetryBatchSchema.safeParse(m.json).success, true);
    const seqs = broker.of('telemetry').map((m) => m.json.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => seqs[0] + i),
      'one batch per reporting poll, seq consecutive',
    );
  });

  it('sends unchanged points (and a change within deadband) only at the heartbeat', async () => {
    const from = broker.of('telemetry').length;
    const polls0 = polls();
    const errors0 = errors();
    setSoH(94); // 95 → 94: 1 % ≤ the 2 % deadband
    // Three heartbeats' worth of samples (2 s each, 10 polls of 200 ms).
    await waitFor('3 heartbeats', () => batSamples(from).filter((s) => s.values.wh_capacity).length >= 3);
    const samples = batSamples(from);
    const pollsDone = polls() - polls0;
    assert.equal(errors() - errors0, 0, 'a poll failed: stale and recovered samples carry every point');
    const heartbeats = samples.filter((s) => s.values.wh_capacity !== undefined);
    // Every heartbeat is the whole sample; the unchanged capacity goes out in nothing else.
    for (const h of heartbeats) {
      assert.equal(h.values.wh_capacity, 10_000);
      assert.equal(h.values.soh_pct, 94);
    }
    // The within-deadband SoH first appears in a heartbeat, never in an exception before it.
    const firstSoh = samples.findIndex((s) => s.values.soh_pct !== undefined);
    assert.equal(samples[firstSoh].values.wh_capacity, 10_000);
    // Heartbeats are far fewer than polls (one per ~10 polls): unchanged points are not sent each poll.
    assert.ok(pollsDone >= 3 * 5, `${pollsDone} polls`);
    assert.ok(
      heartbeats.length <= Math.ceil(pollsDone / 5),
      `${heartbeats.length} heartbeats in ${pollsDone} polls`,
    );
  });
});
