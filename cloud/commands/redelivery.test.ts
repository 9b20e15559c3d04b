import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { type Ack, type Command, commandSchema, parsePayload } from '../../protocols/mqtt/payloads.ts';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import {
  capabilities,
  connectGateway,
  startTestCloud,
  type TestCloud,
} from '../../test-support/cloud/test-cloud.ts';

const SITE = 'site-rd';

describe('command pipeline: open commands re-sent when a gateway comes online', function () {
  this.timeout(20_000);
  let t: TestCloud;
  let password = '';
  const clients: MqttClient[] = [];
  const url = () => `mqtt://127.0.0.1:${t.cloud.broker.tcp}`;

  before(async () => {
    t = await startTestCloud();
    const created = await t.api<{ gateway: { password: string } }>('POST', '/sites', { body: { id: SITE } });
    password = created.body.gateway.password;
    const gw = await connectGateway(url(), SITE, password);
    await gw.publishAsync(siteTopic(SITE, 'capabilities'), capabilities(SITE), { qos: 1 });
    await gw.endAsync();
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await t?.stop();
  });

  const send = async (body: Record<string, unknown>) => {
    const r = await t.api<{ id: string; status: string }>('POST', `/sites/${SITE}/commands`, {
      body: { ttlSeconds: 60, ...body },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id;
  };

  /** A gateway with a fresh session (nothing queued by the broker) that announces itself online. */
  async function comeOnline(): Promise<{ gw: MqttClient; got: Command[] }> {
    const gw = await connectGateway(url(), SITE, password, { clean: true });
    clients.push(gw);
    const got: Command[] = [];
    gw.on('message', (_t, payload) => {
      const c = parsePayload(commandSchema, payload);
      assert.ok(c.ok);
      got.push(c.value);
    });
    await gw.subscribeAsync(siteTopic(SITE, 'commands'), { qos: 1 });
    await online(gw);
    return { gw, got };
  }
  const online = (gw: MqttClient) =>
    gw.publishAsync(
      siteTopic(SITE, 'status'),
      JSON.stringify({ v: 1, site: SITE, state: 'online', ts: Date.now() }),
      {
        qos: 1,
      },
    );
  const settle = () => new Promise((r) => setTimeout(r, 300));

  it('re-sends the newest open command per device and type, in issue order, until acknowledged', async () => {
    // Sent while no gateway listens: the broker drops them (no session), the registry keeps them.
    const older = await send({ type: 'battery_power', device: 'bat1', w: 1000 });
    const newer = await send({ type: 'battery_power', device: 'bat1', w: 2000 });
    const limit = await send({ type: 'active_power_limit', device: 'inv1', w: 4000 });

    const { gw, got } = await comeOnline();
    await settle();
    // The older battery setpoint was replaced: sending it now could undo the newer one.
    assert.deepEqual(
      got.map((c) => c.id),
      [newer, limit],
    );
    const ack: Ack = {
      v: 1,
      site: SITE,
      commandId: newer,
      ts: Date.now(),
      status: 'applied',
      applied: { w: 2000 },
    };
    await gw.publishAsync(siteTopic(SITE, 'acks'), JSON.stringify(ack), { qos: 1 });
    const done = await t.api<{ status: string }>('GET', `/commands/${newer}`);
    assert.equal(done.body.status, 'acknowledged');

    // Online again (a reconnect, or a mode change): only what is still open goes out again; the
    // replaced battery setpoint stays behind although its successor is now closed.
    got.length = 0;
    await online(gw);
    await settle();
    assert.deepEqual(
      got.map((c) => c.id),
      [limit],
    );
    await gw.endAsync();

    const statuses = await Promise.all(
      [older, newer, limit].map(
        async (id) => (await t.api<{ status: string }>('GET', `/commands/${id}`)).body.status,
      ),
    );
    assert.deepEqual(statuses, ['sent', 'acknowledged', 'sent']);
    const audit = await t.api<Array<{ action: string; detail: { id?: string } }>>(
      'GET',
      `/audit?target=${SITE}&limit=1000`,
    );
    const resent = audit.body.filter((e) => e.action === 'command.resent').map((e) => e.detail.id);
    assert.deepEqual(resent.sort(), [limit, limit, newer].sort());
  });

  it('an offline status re-sends nothing', async () => {
    const gw = await connectGateway(url(), SITE, password, { clean: true });
    clients.push(gw);
    const got: unknown[] = [];
    gw.on('message', (_t, p) => got.push(p));
    await gw.subscribeAsync(siteTopic(SITE, 'commands'), { qos: 1 });
    await gw.publishAsync(
      siteTopic(SITE, 'status'),
      JSON.stringify({ v: 1, site: SITE, state: 'offline', ts: Date.now() }),
      { qos: 1 },
    );
    await settle();
    assert.equal(got.length, 0);
    await gw.endAsync();
  });

  it("a lapse the edge reports for a command our sweep expired unanswered turns it lapsed; the edge's own verdicts stand", async () => {
    // Unanswered past its expiry (the edge died mid-write, then read the device back after restarting).
    const swept = await send({ type: 'battery_power', device: 'bat1', w: 1500, ttlSeconds: 1 });
    const refused = await send({ type: 'battery_power', device: 'bat1', w: 1600, ttlSeconds: 1 });
    const gw = await connectGateway(url(), SITE, password, { clean: true });
    clients.push(gw);
    const ack: Ack = {
      v: 1,
      site: SITE,
      ts: Date.now(),
      commandId: refused,
      status: 'refused',
      reason: 'busy',
    };
    await gw.publishAsync(siteTopic(SITE, 'acks'), JSON.stringify(ack), { qos: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    await t.cloud.commands.expireOverdue();
    const before = await t.api<{ status: string; reason: string }>('GET', `/commands/${swept}`);
    assert.deepEqual(
      [before.body.status, before.body.reason],
      ['expired', 'no acknowledgement before expiry'],
    );
    const at = Date.now();
    const reason = 'the agent restarted while writing it; read back, bat1 held it: default mode';
    await gw.publishAsync(
      siteTopic(SITE, 'status'),
      JSON.stringify({
        v: 1,
        site: SITE,
        state: 'online',
        ts: at,
        lapsed: [
          { commandId: swept, at, reason },
          { commandId: refused, at, reason },
        ],
      }),
      { qos: 1 },
    );
    await settle();
    const after = await t.api<{ status: string; reason: string }>('GET', `/commands/${swept}`);
    assert.equal(after.body.status, 'lapsed');
    assert.match(
      after.body.reason,
      /^lapsed at the site at .*read back, bat1 held it.*expired before it could be re-asserted$/,
    );
    const still = await t.api<{ status: string; reason: string }>('GET', `/commands/${refused}`);
    assert.deepEqual([still.body.status, still.body.reason], ['refused', 'busy']);
  });
});
