import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { SimSite } from '../sim-devices/site.ts';
import { simDevices, TestBroker, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { EdgeAgent } from './agent.ts';

describe('edge: payload schema negotiation with the cloud', function () {
  this.timeout(30_000);
  it('subscribes to its schema topic, records what the cloud reads, and writes a version both read', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 3 });
    await site.start();
    const dir = tempDir();
    const broker = new TestBroker();
    await broker.start();
    const agent = new EdgeAgent({
      config: testConfig({
        url: broker.url,
        dir,
        devices: simDevices(site.port),
        control: { enabled: false },
      }),
    });
    try {
      await agent.start();
      await waitFor('online status', () => broker.of('status').some((m) => m.json.state === 'online'));
      assert.equal(agent.uplink.cloudSpeaks, undefined);
      // As the cloud answers "online" (cloud/ingest/ingest.ts): a cloud that also reads a future v2.
      await broker.publish('gridlayer/v1/sites/site-t1/schema', {
        v: 1,
        site: 'site-t1',
        speaks: [1, 2],
        ts: Date.now(),
      });
      await waitFor('announcement received', () => agent.uplink.cloudSpeaks !== undefined);
      assert.deepEqual(agent.uplink.cloudSpeaks, [1, 2]);
      assert.deepEqual(agent.health().uplink.schema, { edge: [1], cloud: [1, 2] });
      const before = broker.of('telemetry').length;
      await waitFor('telemetry after the announcement', () => broker.of('telemetry').length > before);
      assert.ok(broker.of('telemetry').every((m) => m.json.v === 1)); // the highest both read
      // A garbled announcement is ignored (kept: what was learnt before).
      await broker.publish('gridlayer/v1/sites/site-t1/schema', '{"v":1,"speaks":"all"}');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(agent.uplink.cloudSpeaks, [1, 2]);
    } finally {
      await agent.stop();
      await broker.stop();
      await site.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
