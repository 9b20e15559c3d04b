import assert from 'node:assert/strict';
import { commandSchema, parsePayload } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { type RunningMosquitto, startMosquitto } from '../../test-support/mosquitto.ts';
import { capabilities, connectGateway, startTestCloud, type TestCloud, telemetry } from '../testing.ts';
import { mosquittoAcl, mosquittoConfHints } from './mosquitto-acl.ts';

describe('external broker mode: the gateway ACL in Mosquitto config (real mosquitto)', function () {
  this.timeout(30000);
  let broker: RunningMosquitto;
  let t: TestCloud;
  const users = { 'gridlayer-cloud': 'cloud-secret-1', 'site-a': 'secret-a-123', 'site-b': 'secret-b-456' };

  before(async () => {
    broker = await startMosquitto({
      users,
      acl: mosquittoAcl('gridlayer-cloud'),
      extraConfig: mosquittoConfHints()
        .split('\n')
        .filter((l) => !l.startsWith('allow_anonymous'))
        .join('\n'),
    });
    t = await startTestCloud({
      broker: {
        mode: 'external',
        url: broker.url,
        username: 'gridlayer-cloud',
        password: users['gridlayer-cloud'],
      },
    });
  });
  after(async () => {
    await t?.stop();
    await broker?.stop();
  });

  it('ingests a gateway through Mosquitto, drops its writes into other sites, and routes commands to its site only', async () => {
    const a = await connectGateway(broker.url, 'site-a', users['site-a']);
    const b = await connectGateway(broker.url, 'site-b', users['site-b']);
    try {
      await assert.rejects(connectGateway(broker.url, 'site-a', 'nope'), /Not authorized|Bad username/i);
      await a.publishAsync(siteTopic('site-a', 'capabilities'), capabilities('site-a'), { qos: 1 });
      const ts = Date.now();
      // Mosquitto acknowledges and silently drops a publish the ACL denies.
      await a.publishAsync(siteTopic('site-b', 'telemetry'), telemetry('site-b', 1, ts, 999), { qos: 1 });
      await a.publishAsync(siteTopic('site-a', 'telemetry'), telemetry('site-a', 1, ts, 1234), { qos: 1 });
      // Mosquitto delivers in order per publisher, so once site-a's value is there the denied one would be too.
      for (let i = 0; i < 100 && !(await t.cloud.store.latest('site-a')).length; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await t.cloud.store.latest('site-a')).find((l) => l.point === 'w')?.value, 1234);
      assert.deepEqual(await t.cloud.store.latest('site-b'), []);
      for (let i = 0; i < 100 && !(await t.cloud.registry.listDevices('site-a')).length; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await t.cloud.registry.listDevices('site-a')).length, 2);

      // site-b tries to listen to site-a's commands: Mosquitto grants the subscription but its ACL
      // filters every delivery (checked below, after site-a has received and acknowledged).
      await b.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
      const bGot: string[] = [];
      b.on('message', (topic) => bGot.push(topic));
      await a.subscribeAsync(siteTopic('site-a', 'commands'), { qos: 1 });
      a.on('message', (_topic, payload) => {
        const cmd = parsePayload(commandSchema, payload);
        if (!cmd.ok) return;
        a.publish(
          siteTopic('site-a', 'acks'),
          JSON.stringify({
            v: 1,
            site: 'site-a',
            commandId: cmd.value.id,
            ts: Date.now(),
            status: 'applied',
            applied: { w: 3000 },
          }),
          { qos: 1 },
        );
      });
      const sent = await t.api<{ id: string }>('POST', '/sites/site-a/commands', {
        body: { type: 'active_power_limit', device: 'inv1', w: 3000 },
      });
      assert.equal(sent.status, 202);
      const done = await t.api<{ status: string; applied: unknown }>(
        'GET',
        `/commands/${sent.body.id}?waitMs=10000`,
      );
      assert.deepEqual([done.body.status, done.body.applied], ['acknowledged', { w: 3000 }]);
      assert.deepEqual(bGot, []);
    } finally {
      a.end(true);
      b.end(true);
    }
  });
});
