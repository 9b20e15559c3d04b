import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { commandSchema, parsePayload } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import {
  capabilities,
  connectGateway,
  startTestCloud,
  type TestCloud,
  telemetry,
} from '../../test-support/cloud/test-cloud.ts';
import { mosquittoClient, type RunningMosquitto, startMosquitto } from '../../test-support/mosquitto.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'gridlayer.js');
/** What an operator gets from the CLI, byte for byte. */
const printed = (args: string[]) =>
  execFileSync(process.execPath, [BIN, 'cloud', ...args], { encoding: 'utf8', timeout: 30_000 });

describe('external broker mode: Mosquitto started from the printed config and ACL (real mosquitto)', function () {
  this.timeout(60000);
  let broker: RunningMosquitto;
  let t: TestCloud;
  const users = { 'gridlayer-cloud': 'cloud-secret-1', 'site-a': 'secret-a-123', 'site-b': 'secret-b-456' };

  before(async () => {
    const acl = printed(['--print-mosquitto-acl', 'gridlayer-cloud']);
    broker = await startMosquitto({
      users,
      acl,
      conf: ({ port, passwordFile, aclFile }) =>
        printed([
          '--print-mosquitto-conf',
          '--mosquitto-port',
          String(port),
          '--mosquitto-passwd',
          passwordFile,
          '--mosquitto-acl-file',
          aclFile,
        ]),
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

  it('opens exactly the listener the printed config names (no extra default listener on 1883)', () => {
    assert.deepEqual(broker.openedPorts(), [broker.port]);
  });

  it("a gateway using another site's client id (mosquitto_sub) gets neither its session nor its queued command", async () => {
    const clientId = 'gw-site-a';
    const topic = siteTopic('site-a', 'commands');
    // site-a's gateway makes its persistent session (QoS 1 subscription) and goes offline.
    const opts = {
      clientId,
      username: 'site-a',
      password: users['site-a'],
      clean: false,
      protocolVersion: 4 as const,
      reconnectPeriod: 0,
    };
    const first = await mqtt.connectAsync(broker.url, opts);
    await first.subscribeAsync(topic, { qos: 1 });
    await first.publishAsync(siteTopic('site-a', 'capabilities'), capabilities('site-a'), { qos: 1 });
    for (let i = 0; i < 100 && !(await t.cloud.registry.listDevices('site-a')).length; i++)
      await new Promise((r) => setTimeout(r, 50));
    await first.endAsync();
    const sent = await t.api<{ id: string }>('POST', '/sites/site-a/commands', {
      body: { type: 'active_power_limit', device: 'inv1', w: 1500 },
    });
    assert.equal(sent.status, 202);
    // site-b, with its own valid login but site-a's client id and a persistent session, listens for 2 s.
    const intruder = await mosquittoClient('mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', String(broker.port), '-V', 'mqttv311'],
      ...['-u', 'site-b', '-P', users['site-b'], '-i', clientId, '-c', '-q', '1'],
      ...['-t', topic, '-W', '2', '-v'],
    ]);
    assert.equal(intruder.stdout, '', "the intruder received site-a's command");
    assert.doesNotMatch(intruder.stderr, /refused|not authori[sz]ed/i, intruder.stderr);
    // site-a comes back: its session is there, with the command, exactly once; it is not refused.
    // Listening before the CONNACK: the queued command follows it at once.
    const back = mqtt.connect(broker.url, opts);
    const got: string[] = [];
    back.on('message', (_t, payload) => got.push(JSON.parse(payload.toString()).id));
    await new Promise((r, j) => back.once('connect', r).once('error', j));
    for (let i = 0; i < 100 && !got.length; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would follow right behind
    await back.endAsync();
    assert.deepEqual(got, [sent.body.id]);
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
