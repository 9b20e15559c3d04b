import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { capabilities, startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { mosquittoClient } from '../../test-support/mosquitto.ts';

describe('embedded broker: a queued command survives a restart of the cloud (foreign gateway client)', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'gridlayer-session-'));
  let t: TestCloud | undefined;
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gateway offline with a QoS 1 session, command sent, cloud restarted on the same data: delivered once', async () => {
    t = await startTestCloud({}, dir);
    const created = await t.api<{ gateway: { password: string } }>('POST', '/sites', {
      body: { id: 'site-q' },
    });
    assert.equal(created.status, 201);
    const password = created.body.gateway.password;
    const login = () => [
      '-h',
      '127.0.0.1',
      '-p',
      String(t?.cloud.broker.tcp),
      '-u',
      'site-q',
      '-P',
      password,
    ];
    const topic = siteTopic('site-q', 'commands');
    // The gateway (mosquitto_sub, persistent session) subscribes and leaves at once (-E).
    const sub = await mosquittoClient('mosquitto_sub', [
      ...login(),
      '-i',
      'gw-q',
      '-c',
      '-q',
      '1',
      '-t',
      topic,
      '-E',
    ]);
    assert.equal(sub.code, 0, sub.stderr);
    const caps = await mosquittoClient('mosquitto_pub', [
      ...login(),
      ...['-q', '1', '-t', siteTopic('site-q', 'capabilities'), '-m', capabilities('site-q')],
    ]);
    assert.equal(caps.code, 0, caps.stderr);
    const sent = await t.api<{ id: string }>('POST', '/sites/site-q/commands', {
      body: { type: 'active_power_limit', device: 'inv1', w: 2500 },
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));

    await t.stop();
    t = await startTestCloud({}, dir);
    // Back online for 3 s: every message it gets is printed, one per line.
    const back = await mosquittoClient('mosquitto_sub', [
      ...login(),
      '-i',
      'gw-q',
      '-c',
      '-q',
      '1',
      '-t',
      topic,
      '-W',
      '3',
    ]);
    const ids = back.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).id);
    assert.deepEqual(ids, [sent.body.id], back.stderr);
  });
});
