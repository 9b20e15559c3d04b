import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { allSitesFilter, siteTopic } from '../protocols/mqtt/topics.ts';
import { SimSite } from '../sim-devices/site.ts';
import { simDevices, tempDir, testConfig, waitFor } from '../test-support/edge/harness.ts';
import { startMosquitto } from '../test-support/mosquitto.ts';
import { EdgeAgent } from './agent.ts';

describe('edge agent against a real Mosquitto broker', function () {
  this.timeout(60_000);

  it('publishes telemetry, answers commands, and leaves a retained offline status (last will) when it dies', async () => {
    const site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 2 });
    await site.start();
    const broker = await startMosquitto({
      users: { 'gw-site-m1': 'gw-secret', cloud: 'cloud-secret' },
      acl: 'user gw-site-m1\ntopic write gridlayer/v1/sites/site-m1/#\ntopic read gridlayer/v1/sites/site-m1/commands\n\nuser cloud\ntopic readwrite gridlayer/v1/sites/#\n',
    });
    const dir = tempDir();
    const cloud = await mqtt.connectAsync(broker.url, {
      username: 'cloud',
      password: 'cloud-secret',
      clientId: 'cloud-test',
    });
    const got: Array<{ topic: string; json: any; retain: boolean }> = [];
    cloud.on('message', (topic, payload, packet) =>
      got.push({ topic, json: JSON.parse(payload.toString()), retain: packet.retain }),
    );
    await cloud.subscribeAsync(
      ['telemetry', 'status', 'capabilities', 'acks'].map((k) => allSitesFilter(k as 'telemetry')),
      { qos: 1 },
    );
    const agent = new EdgeAgent({
      config: testConfig({
        site: 'site-m1',
        url: broker.url,
        dir,
        devices: simDevices(site.port),
        uplink: {
          url: broker.url,
          clientId: 'edge-site-m1',
          username: 'gw-site-m1',
          password: 'gw-secret',
          batchMs: 200,
          reconnectMs: 200,
        },
      }),
    });
    try {
      await agent.start();
      const of = (k: string) => got.filter((m) => m.topic.endsWith(`/${k}`));
      await waitFor('telemetry', () => of('telemetry').length >= 2);
      await waitFor('online', () => of('status').find((m) => m.json.state === 'online'));
      const now = Date.now();
      await cloud.publishAsync(
        siteTopic('site-m1', 'commands'),
        JSON.stringify({
          v: 1,
          id: 'cmd-mosq-0001',
          site: 'site-m1',
          device: 'pv1',
          issuedAt: now,
          expiresAt: now + 60_000,
          type: 'active_power_limit',
          w: 4000,
        }),
        { qos: 1 },
      );
      const ack = await waitFor('ack', () => of('acks').find((m) => m.json.commandId === 'cmd-mosq-0001'));
      assert.equal(ack.json.status, 'applied');
      assert.equal(ack.json.applied.w, 4000);
      await waitFor('PV limited to 50 %', () => site.pv.model(704).get('WMaxLimPct') === 50);

      // Connection dies without a DISCONNECT (power cut, kill -9): the broker publishes the last will.
      const stream = (agent.uplink as unknown as { client: { stream: { destroy(): void } } }).client.stream;
      agent.uplink.stop = async () => undefined; // no graceful offline status from stop() below
      stream.destroy();
      await agent.stop();
      const will = await waitFor('last will', () => of('status').find((m) => m.json.state === 'offline'));
      // A late subscriber (the cloud after a restart) still sees it: retained.
      const late = await mqtt.connectAsync(broker.url, {
        username: 'cloud',
        password: 'cloud-secret',
        clientId: 'cloud-late',
      });
      const retained = await new Promise<any>((resolve) => {
        late.on('message', (_t, p, packet) => packet.retain && resolve(JSON.parse(p.toString())));
        void late.subscribeAsync(siteTopic('site-m1', 'status'), { qos: 1 });
      });
      await late.endAsync();
      assert.equal(will.json.site, 'site-m1');
      assert.equal(retained.state, 'offline');
    } finally {
      await agent.stop().catch(() => undefined);
      await cloud.endAsync();
      await broker.stop();
      await site.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
