import assert from 'node:assert/strict';
import { siteTopic } from '../../protocols/mqtt/topics.ts';
import { FakeGateway } from '../../test-support/cloud/fake-gateway.ts';
import { SseReader } from '../../test-support/cloud/sse-reader.ts';
import { BOOTSTRAP_TOKEN, startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';

async function call<T = any>(t: TestCloud, path: string, token = BOOTSTRAP_TOKEN) {
  const r = await t.api<T>('GET', path, { token });
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Set when the fleet is made, not when mocha loads this file (maybe minutes before it runs). */
let NOW = 0;
const MIN = 60_000;
/**
 * The fleet, with each site's status chosen by what it last reported (stale: online but silent past
 * staleSeconds = 60; fallback: its online status listed lapsed setpoints; never seen: offline).
 */
const FLEET: { id: string; name: string; report: 'online' | 'offline' | 'stale' | 'fallback' | 'never' }[] = [
  { id: 'a-01', name: 'Apple Farm', report: 'online' },
  { id: 'a-02', name: 'Birch School', report: 'offline' },
  { id: 'a-03', name: 'Cedar Farm', report: 'stale' },
  { id: 'a-04', name: 'Dune Depot', report: 'fallback' },
  { id: 'a-05', name: 'Elm Farm', report: 'online' },
  { id: 'a-06', name: 'Fir Hall', report: 'never' },
  { id: 'a-07', name: 'Gorse Farm', report: 'online' },
  { id: 'a-08', name: 'Hazel 100%_Home', report: 'stale' },
  { id: 'b-09', name: 'Ivy Barn', report: 'online' },
  { id: 'b-10', name: 'Juniper Farm', report: 'offline' },
];

describe('operator app fleet view: summary, paged site list, alarms, live events (SSE), scoped', function () {
  this.timeout(60_000);
  let t: TestCloud;
  let pete: string;
  let gw: FakeGateway[] = [];
  before(async () => {
    NOW = Date.now();
    t = await startTestCloud({
      api: {
        host: '127.0.0.1',
        port: 0,
        fleet: { staleSeconds: 60, refusedAlarmSeconds: 3600 },
        events: { heartbeatSeconds: 1, maxBufferedBytes: 1_000_000 },
      },
    });
    const reg = t.cloud.registry;
    for (const s of FLEET) {
      await reg.createSite(s.id, { name: s.name });
      const ts = s.report === 'stale' ? NOW - 10 * MIN : NOW;
      if (s.report === 'never') continue;
      await reg.applyStatus({
        v: 1,
        site: s.id,
        state: s.report === 'offline' ? 'offline' : 'online',
        ts,
        mode: 'default',
        ...(s.report === 'fallback' && {
          lapsed: [{ commandId: 'cmd_lapsed0001', at: NOW - 5 * MIN, reason: 'uplink lost for 600 s' }],
        }),
      });
    }
    const u = await t.api('POST', '/users', {
      body: { id: 'pete', name: 'Pete', role: 'participant', scopes: [{ kind: 'site', target: 'a-05' }] },
    });
    assert.equal(u.status, 201);
    pete = (await t.api<{ token: string }>('POST', '/users/pete/tokens', { body: {} })).body.token;
  });
  after(async () => {
    for (const g of gw) await g.stop();
    await t?.stop();
  });

  it('counts the fleet by status; a scoped participant counts only its own site', async () => {
    assert.deepEqual(await call(t, '/fleet/summary'), {
      total: 10,
      online: 4,
      offline: 3,
      stale: 2,
      fallback: 1,
      alarms: 6,
    });
    assert.deepEqual(await call(t, '/fleet/summary', pete), {
      total: 1,
      online: 1,
      offline: 0,
      stale: 0,
      fallback: 0,
      alarms: 0,
    });
  });

  it('pages in the order asked, with the total of all matching sites', async () => {
    const p1 = await call(t, '/fleet/sites?limit=4&sort=name');
    assert.equal(p1.total, 10);
    assert.equal(p1.offset, 0);
    assert.deepEqual(
      p1.items.map((i: any) => i.id),
      ['a-01', 'a-02', 'a-03', 'a-04'],
    );
    const p3 = await call(t, '/fleet/sites?limit=4&offset=8&sort=name');
    assert.deepEqual(
      p3.items.map((i: any) => i.id),
      ['b-09', 'b-10'],
    );
    const desc = await call(t, '/fleet/sites?limit=3&sort=id&dir=desc');
    assert.deepEqual(
      desc.items.map((i: any) => i.id),
      ['b-10', 'b-09', 'a-08'],
    );
    // Severity first (offline, stale, fallback, online), then id.
    const byStatus = await call(t, '/fleet/sites?limit=10&sort=status');
    assert.deepEqual(
      byStatus.items.map((i: any) => `${i.id}:${i.status}`),
      [
        'a-02:offline',
        'a-06:offline',
        'b-10:offline',
        'a-03:stale',
        'a-08:stale',
        'a-04:fallback',
        'a-01:online',
        'a-05:online',
        'a-07:online',
        'b-09:online',
      ],
    );
    const bySeen = await call(t, '/fleet/sites?limit=2&sort=lastSeen');
    assert.deepEqual(
      bySeen.items.map((i: any) => i.id),
      ['a-06', 'a-03'],
      'never seen first, then the oldest',
    );
  });

  it('filters by search text (id or name, case-insensitive, % and _ literal), status and alarm', async () => {
    const farm = await call(t, '/fleet/sites?q=FARM');
    assert.equal(farm.total, 5);
    assert.deepEqual(
      farm.items.map((i: any) => i.id),
      ['a-01', 'a-03', 'a-05', 'a-07', 'b-10'],
    );
    assert.deepEqual(
      (await call(t, '/fleet/sites?q=b-')).items.map((i: any) => i.id),
      ['b-09', 'b-10'],
    );
    assert.deepEqual(
      (await call(t, `/fleet/sites?q=${encodeURIComponent('100%_')}`)).items.map((i: any) => i.id),
      ['a-08'],
    );
    assert.equal((await call(t, `/fleet/sites?q=${encodeURIComponent('0%')}`)).total, 1, '% is literal');
    const stale = await call(t, '/fleet/sites?status=stale');
    assert.deepEqual(
      stale.items.map((i: any) => i.id),
      ['a-03', 'a-08'],
    );
    assert.deepEqual(
      stale.items[0].alarms.map((a: any) => [a.kind, a.since]),
      [['stale', NOW - 10 * MIN]],
    );
    const farmOnline = await call(t, '/fleet/sites?q=farm&status=online');
    assert.deepEqual(
      farmOnline.items.map((i: any) => i.id),
      ['a-01', 'a-05', 'a-07'],
    );
    const alarmed = await call(t, '/fleet/sites?alarm=1&limit=50');
    assert.equal(alarmed.total, 6);
    assert.deepEqual(
      alarmed.items.map((i: any) => i.id),
      ['a-02', 'a-03', 'a-04', 'a-06', 'a-08', 'b-10'],
    );
    const fb = alarmed.items.find((i: any) => i.id === 'a-04');
    assert.deepEqual(fb.alarms, [
      {
        kind: 'fallback',
        since: NOW - 5 * MIN,
        detail: '1 remote setpoint(s) lapsed: uplink lost for 600 s',
      },
    ]);
    assert.equal((await t.api('GET', '/fleet/sites?status=sleeping')).status, 400);
    assert.equal((await t.api('GET', '/fleet/sites?limit=501')).status, 400);
  });

  it('a participant sees only its own site in the list, the search and the alarms', async () => {
    const all = await call(t, '/fleet/sites?limit=50', pete);
    assert.deepEqual(
      all.items.map((i: any) => i.id),
      ['a-05'],
    );
    assert.equal((await call(t, '/fleet/sites?q=a-0', pete)).total, 1);
    assert.equal((await call(t, '/fleet/sites?status=offline', pete)).total, 0);
    assert.deepEqual(await call(t, '/alarms', pete), []);
  });

  it('lists alarms newest first: offline, stale and fallback sites', async () => {
    const alarms = await call(t, '/alarms?limit=100');
    assert.deepEqual(alarms.map((a: any) => `${a.site}:${a.kind}`).sort(), [
      'a-02:offline',
      'a-03:stale',
      'a-04:fallback',
      'a-06:offline',
      'a-08:stale',
      'b-10:offline',
    ]);
    for (let i = 1; i < alarms.length; i++) assert.ok(alarms[i - 1].since >= alarms[i].since, 'newest first');
    assert.equal((await call(t, '/alarms?limit=2')).length, 2);
  });

  it('documents the new routes in the OpenAPI document: cookie auth, the fleet query, the event stream', async () => {
    const doc = (await fetch(`${t.cloud.apiUrl}/openapi.json`).then((r) => r.json())) as any;
    assert.equal(doc.components.securitySchemes.session.in, 'cookie');
    assert.equal(doc.components.securitySchemes.session.name, 'gl_session');
    assert.ok(doc.paths['/api/v1/auth/login'].post.requestBody);
    assert.ok(doc.paths['/api/v1/auth/logout'].post);
    assert.ok(doc.paths['/api/v1/users/{user}/password'].put);
    assert.ok(doc.paths['/api/v1/fleet/summary'].get);
    assert.ok(doc.paths['/api/v1/alarms'].get);
    assert.deepEqual(doc.paths['/api/v1/fleet/sites'].get.parameters.map((p: any) => p.name).sort(), [
      'alarm',
      'dir',
      'limit',
      'offset',
      'q',
      'sort',
      'status',
    ]);
    assert.ok(doc.paths['/api/v1/events'].get.responses['200'].content['text/event-stream']);
    assert.deepEqual(doc.paths['/api/v1/sites'].get.security, [{ bearer: [] }, { session: [] }]);
  });

  it('streams a command status change, site power and a refusal alarm over SSE, each only to callers in scope', async () => {
    const mk = async (id: string, behaviour: 'normal' | 'refuse') => {
      const r = await t.api<{ gateway: { password: string } }>('POST', '/sites', {
        body: { id, name: `live ${id}` },
      });
      assert.equal(r.status, 201);
      const g = await FakeGateway.start(`mqtt://127.0.0.1:${t.cloud.broker.tcp}`, r.body.gateway.password, {
        site: id,
        loadW: 1500,
        pvAvailableW: 3000,
        batteryDefaultW: -1000,
        socPct: 60,
        behaviour,
      });
      gw.push(g);
      await g.client.publishAsync(
        siteTopic(id, 'status'),
        JSON.stringify({ v: 1, site: id, state: 'online', ts: Date.now(), mode: 'default' }),
        { qos: 1 },
      );
      return g;
    };
    // Pete (participant) gets the site live-b in scope; live-a is not his.
    assert.equal(
      (
        await t.api('POST', '/users', {
          body: { id: 'pia', name: 'Pia', role: 'participant', scopes: [{ kind: 'site', target: 'live-b' }] },
        })
      ).status,
      201,
    );
    const pia = (await t.api<{ token: string }>('POST', '/users/pia/tokens', { body: {} })).body.token;
    const op = await SseReader.open(`${t.cloud.apiUrl}/events`, {
      authorization: `Bearer ${BOOTSTRAP_TOKEN}`,
    });
    // Pia's app: signed in by exchanging her token, the stream authenticated by the session cookie.
    const signIn = await fetch(`${t.cloud.apiUrl}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: pia }),
    });
    assert.equal(signIn.status, 200);
    const cookie = signIn.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const part = await SseReader.open(`${t.cloud.apiUrl}/events`, { cookie });
    assert.equal(op.status, 200);
    assert.equal(part.status, 200);
    const noAuth = await fetch(`${t.cloud.apiUrl}/events`);
    assert.equal(noAuth.status, 401);
    await noAuth.body?.cancel();

    await mk('live-a', 'normal');
    await mk('live-b', 'refuse');
    const sent = await t.api<{ id: string }>('POST', '/sites/live-a/commands', {
      body: { type: 'battery_power', device: 'bat1', w: 2000, ttlSeconds: 30 },
    });
    assert.equal(sent.status, 202);
    await op.until(
      () =>
        op.events.some(
          (e) => e.name === 'command' && e.data.id === sent.body.id && e.data.status === 'acknowledged',
        ),
      10_000,
      'command acknowledged',
    );
    const statuses = op.events
      .filter((e) => e.name === 'command' && e.data.id === sent.body.id)
      .map((e) => e.data.status);
    assert.deepEqual(statuses, ['sent', 'acknowledged']);
    assert.deepEqual(op.events.find((e) => e.name === 'command' && e.data.id === sent.body.id)?.data, {
      id: sent.body.id,
      site: 'live-a',
      status: 'sent',
    });

    const refused = await t.api<{ id: string }>('POST', '/sites/live-b/commands', {
      body: { type: 'battery_power', device: 'bat1', w: 2000, ttlSeconds: 30 },
    });
    assert.equal(refused.status, 202);
    await part.until(
      () =>
        part.events.some(
          (e) => e.name === 'command' && e.data.id === refused.body.id && e.data.status === 'refused',
        ),
      10_000,
      'refusal in the participant stream',
    );
    await part.until(
      () =>
        part.events.some(
          (e) => e.name === 'alarm' && e.data.kind === 'command_refused' && e.data.site === 'live-b',
        ),
      5000,
      'refusal alarm',
    );
    // Site power (coalesced, at most once a second): pv 3000, battery −1000 (charging), meter 3000 − 1000 − 1500.
    await part.until(
      () =>
        part.events.some((e) => e.name === 'site' && e.data.id === 'live-b' && e.data.power?.grid_w != null),
      10_000,
      'site event with power',
    );
    const site = part.events.filter(
      (e) => e.name === 'site' && e.data.id === 'live-b' && e.data.power?.grid_w != null,
    )[0].data;
    assert.deepEqual(site.power, { pv_w: 3000, battery_w: -1000, soc_pct: 60, grid_w: 500 });
    assert.equal(site.status, 'online');
    await part.until(() => part.comments.some((c) => c.startsWith('heartbeat')), 3000, 'heartbeat');

    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      part.events.filter((e) => (e.data.site ?? e.data.id) !== 'live-b').map((e) => e.data),
      [],
      'nothing of sites out of scope reaches the participant',
    );
    assert.ok(
      op.events.some((e) => e.name === 'command' && e.data.id === refused.body.id),
      'the operator sees all',
    );

    // The list shows the same latest power, and the refused command as an alarm of live-b.
    const b = (await call(t, '/fleet/sites?q=live-b')).items[0];
    assert.deepEqual(b.power, { pv_w: 3000, battery_w: -1000, soc_pct: 60, grid_w: 500 });
    assert.deepEqual(
      b.alarms.map((a: any) => a.kind),
      ['command_refused'],
    );
    assert.match(b.alarms[0].detail, /refused: device in local mode/);
    assert.ok(
      (await call(t, '/alarms')).some((a: any) => a.site === 'live-b' && a.kind === 'command_refused'),
    );

    // The cloud stopping ends the streams cleanly (the reader sees the end, not a hang).
    for (const g of gw) await g.stop();
    gw = [];
    await t.stop();
    await op.until(() => op.ended, 5000, 'end of the operator stream');
    await part.until(() => part.ended, 5000, 'end of the participant stream');
  });
});

describe('operator app live events: a slow client is dropped, not buffered without bound', function () {
  this.timeout(30_000);
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud({
      api: { host: '127.0.0.1', port: 0, events: { heartbeatSeconds: 15, maxBufferedBytes: 64 * 1024 } },
    });
  });
  after(() => t?.stop());

  it('a stream that does not read is closed once maxBufferedBytes wait for its socket; a reading one keeps going', async () => {
    const { request } = await import('node:http');
    const url = new URL(`${t.cloud.apiUrl}/events`);
    // A client that never reads what it is sent (its socket paused from the start).
    const slow = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(url, { headers: { authorization: `Bearer ${BOOTSTRAP_TOKEN}` } }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(slow.statusCode, 200);
    slow.pause();
    slow.socket.pause();
    let slowClosed = false;
    slow.socket.on('close', () => {
      slowClosed = true;
    });
    slow.on('error', () => undefined);
    const fast = await SseReader.open(`${t.cloud.apiUrl}/events`, {
      authorization: `Bearer ${BOOTSTRAP_TOKEN}`,
    });
    const streams = () => (t.cloud.live.hub as unknown as { subscribers: number }).subscribers;
    assert.equal(streams(), 2);
    const detail = 'x'.repeat(2000);
    // Up to 20 MB in all, far past what socket buffers hold, in rounds of 40 kB so the reader keeps up.
    for (let round = 0; round < 500 && streams() > 1; round++) {
      for (let i = 0; i < 20; i++)
        t.cloud.live.hub.publish({
          name: 'alarm',
          data: { site: 'x', kind: 'stale', active: true, n: round * 20 + i, detail },
        });
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(streams(), 1, 'the slow stream was dropped');
    await fast.until(() => fast.events.length > 0 && !fast.ended, 5000, 'events at the reading client');
    // Reading again, the slow client gets what the kernel had buffered, then the end of the connection.
    slow.on('data', () => undefined);
    slow.socket.resume();
    slow.resume();
    const until = Date.now() + 5000;
    while (!slowClosed && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.ok(slowClosed, 'the slow client was disconnected');
    assert.ok(!fast.ended, 'the reading client is still connected');
  });
});
