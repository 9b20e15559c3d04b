import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import type { Request } from 'express';
import pino from 'pino';
import { BOOTSTRAP_TOKEN, startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { hashSecret } from '../auth/secrets.ts';
import { openSqlite } from '../storage/registry/db.ts';
import { Registry } from '../storage/registry/registry.ts';
import { tokenAuthenticator } from './auth.ts';

/** One HTTP call over a real socket from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
function call(
  url: string,
  o: { token?: string; from?: string; agent?: http.Agent; method?: string; body?: unknown } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = http.request(
      url,
      {
        method: o.method ?? 'GET',
        localAddress: o.from ?? '127.0.0.1',
        agent: o.agent,
        headers: {
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A pino logger whose JSON lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

// Well-formed (parses as glt_<id>_<secret>) but issued by nobody.
const WRONG = 'glt_nosuchtoken_0123456789abcdefghijklmnopqrstuv';
const WRONG_SECRET = `${BOOTSTRAP_TOKEN.slice(0, BOOTSTRAP_TOKEN.lastIndexOf('_'))}_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz`;

describe('API auth: failed attempts are throttled per source and logged in summary', function () {
  this.timeout(120_000);
  let t: TestCloud;
  const cap = capturingLogger();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });

  before(async () => {
    t = await startTestCloud(
      { auth: { bootstrapToken: BOOTSTRAP_TOKEN, throttle: { maxFailures: 5, windowSeconds: 600 } } },
      undefined,
      {
        logger: cap.log,
      },
    );
  });
  after(async () => {
    agent.destroy();
    await t?.stop();
  });

  it('refuses a source after 5 failures with 429 + Retry-After, even its valid token; other sources unaffected', async () => {
    const me = `${t.cloud.apiUrl}/me`;
    const first: number[] = [];
    for (let i = 0; i < 6; i++)
      first.push((await call(me, { token: i % 2 ? WRONG : WRONG_SECRET, agent })).status);
    assert.deepEqual(first, [401, 401, 401, 401, 401, 429]);

    const blocked = await call(me, { token: BOOTSTRAP_TOKEN, agent });
    assert.equal(blocked.status, 429, 'a blocked source learns nothing about a token it tries');
    const retry = Number(blocked.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 600, `Retry-After ${blocked.headers['retry-after']}`);
    assert.match(JSON.parse(blocked.body).error, /too many failed authentication attempts from 127\.0\.0\.1/);

    // The flood of the finding: 3,000 wrong-token calls, all refused before any token lookup.
    const statuses = new Map<number, number>();
    for (let i = 0; i < 3000; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, () => call(me, { token: WRONG, agent }).then((r) => r.status)),
      );
      for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    assert.deepEqual([...statuses], [[429, 3000]]);

    // Another source: its own count, and the valid token works.
    assert.equal((await call(me, { token: BOOTSTRAP_TOKEN, from: '127.0.0.2' })).status, 200);
    assert.equal((await call(me, { token: WRONG, from: '127.0.0.2' })).status, 401);
    assert.equal((await call(me, { token: BOOTSTRAP_TOKEN, from: '127.0.0.2' })).status, 200);
    // Public routes stay reachable for the blocked source.
    assert.equal((await call(`${t.cloud.apiUrl}/health`, { agent })).status, 200);

    const prom = await call(`${t.cloud.apiUrl}/metrics`, { token: BOOTSTRAP_TOKEN, from: '127.0.0.3' });
    assert.match(prom.body, /gridlayer_api_auth_failures_total\{result="refused"\} 6\n/);
    assert.match(prom.body, /gridlayer_api_auth_failures_total\{result="throttled"\} 3002\n/);
  });

  it('logs no line per failure, then one WARN summary for the window with counts per source', async () => {
    const summaries = () => cap.lines.filter((l) => l.msg === 'API auth failures (summary)');
    assert.equal(summaries().length, 0, 'nothing logged per failure while the window is open');
    await t.stop();
    const s = summaries();
    assert.equal(s.length, 1);
    assert.equal(s[0].level, 40, 'WARN');
    assert.equal(s[0].failures, 6);
    assert.equal(s[0].throttled, 3002);
    assert.deepEqual(s[0].sources, [
      {
        source: '127.0.0.1',
        failures: 5,
        throttled: 3002,
        reasons: { 'unknown token': 2, 'wrong secret': 3 },
      },
      { source: '127.0.0.2', failures: 1, throttled: 0, reasons: { 'unknown token': 1 } },
    ]);
    assert.deepEqual(s[0].blocked, ['127.0.0.1']);
    // The whole flood produced one warning, not thousands.
    assert.equal(cap.lines.filter((l) => Number(l.level) >= 40).length, 1);
  });
});

describe('API auth: /metrics, token expiry, last use, listing and revocation', function () {
  this.timeout(60_000);
  let t: TestCloud;
  const mkUser = async (role: string) => {
    const u = await t.api<{ id: string }>('POST', '/users', { body: { name: role, role, scopes: [] } });
    assert.equal(u.status, 201);
    return u.body.id;
  };
  const mkToken = async (user: string, body: Record<string, unknown> = {}) => {
    const r = await t.api<{ id: string; token: string; createdAt: number; expiresAt: number }>(
      'POST',
      `/users/${user}/tokens`,
      { body },
    );
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };

  before(async () => {
    t = await startTestCloud({
      auth: { bootstrapToken: BOOTSTRAP_TOKEN, tokenDefaultTtlSeconds: 3600, tokenMaxTtlSeconds: 7200 },
    });
  });
  after(async () => t?.stop());

  it('serves /metrics only to a token with metrics:read (operator, monitor)', async () => {
    const url = `${t.cloud.apiUrl}/metrics`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), { error: 'missing API token (Authorization: Bearer glt_…)' });
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const viewer = (await mkToken(await mkUser('viewer'))).token;
    const monitor = (await mkToken(await mkUser('monitor'))).token;
    const asViewer = await t.api<{ error: string }>('GET', '/metrics', { token: viewer });
    assert.equal(asViewer.status, 403);
    assert.match(asViewer.body.error, /metrics:read/);
    for (const token of [monitor, BOOTSTRAP_TOKEN]) {
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await r.text(), /# TYPE gridlayer_ingest_messages_total counter/);
    }
    // The scraper role reads metrics and nothing else.
    assert.equal((await t.api('GET', '/sites', { token: monitor })).status, 403);
  });

  it('issues tokens with the default TTL or their own, refusing one above the maximum', async () => {
    const u = await mkUser('viewer');
    const dflt = await mkToken(u, { label: 'default' });
    assert.equal(dflt.expiresAt - dflt.createdAt, 3_600_000);
    const own = await mkToken(u, { ttlSeconds: 120 });
    assert.equal(own.expiresAt - own.createdAt, 120_000);
    const tooLong = await t.api<{ error: string }>('POST', `/users/${u}/tokens`, {
      body: { ttlSeconds: 7201 },
    });
    assert.equal(tooLong.status, 400);
    assert.match(
      tooLong.body.error,
      /ttlSeconds: 7201 exceeds the maximum 7200 \(auth\.tokenMaxTtlSeconds\)/,
    );
    assert.equal((await t.api('GET', '/me', { token: own.token })).status, 200);
  });

  it('refuses an expired token with 401 and the reason', async () => {
    const u = await mkUser('viewer');
    const expiredAt = Date.UTC(2026, 0, 2, 3, 4, 5);
    await t.cloud.registry.createToken({
      id: 'expired01',
      userId: u,
      secretHash: hashSecret('s3cret-s3cret-s3cret-s3cret'),
      expiresAt: expiredAt,
    });
    const r = await fetch(`${t.cloud.apiUrl}/me`, {
      headers: { authorization: 'Bearer glt_expired01_s3cret-s3cret-s3cret-s3cret' },
    });
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), { error: 'API token expired01 expired at 2026-01-02T03:04:05.000Z' });
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
    // The same id with a wrong secret says nothing about expiry.
    const wrong = await t.api<{ error: string }>('GET', '/me', {
      token: 'glt_expired01_wrong-wrong-wrong-wrong-wrong',
    });
    assert.deepEqual([wrong.status, wrong.body.error], [401, 'invalid API token']);
  });

  it('records last use, at most once a minute per token', async () => {
    const tok = await mkToken(await mkUser('viewer'));
    const listed = async () =>
      (await t.api<{ id: string; lastUsed: number | null }[]>('GET', '/tokens')).body.find(
        (x) => x.id === tok.id,
      );
    assert.equal((await listed())?.lastUsed, null, 'never used yet');
    const before = Date.now();
    assert.equal((await t.api('GET', '/me', { token: tok.token })).status, 200);
    const after = Date.now();
    const first = (await listed())?.lastUsed as number;
    assert.ok(first >= before && first <= after, `lastUsed ${first} within [${before}, ${after}]`);
    for (let i = 0; i < 20; i++) assert.equal((await t.api('GET', '/me', { token: tok.token })).status, 200);
    assert.equal((await listed())?.lastUsed, first, '20 more uses within the minute wrote nothing');
  });

  it('lists tokens for the admin without secrets, and revokes them; non-admins may do neither', async () => {
    const u = await mkUser('installer');
    const tok = await mkToken(u, { label: 'laptop' });
    const list = await t.api<Record<string, unknown>[]>('GET', `/tokens?user=${u}`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.map((x) => [x.id, x.userId, x.label, x.createdBy, x.revokedAt]),
      [[tok.id, u, 'laptop', 'user:admin', null]],
    );
    const secret = tok.token.slice(tok.token.lastIndexOf('_') + 1);
    const all = await t.api<Record<string, unknown>[]>('GET', '/tokens');
    assert.ok(!JSON.stringify(all.body).includes(secret), 'the secret is never listed');
    assert.ok(!JSON.stringify(all.body).includes(hashSecret(secret)), 'nor its hash');
    const boot = all.body.find((x) => x.label === 'bootstrap');
    assert.deepEqual([boot?.userId, boot?.expiresAt, boot?.createdBy], ['admin', null, 'system']);

    for (const [m, p] of [
      ['GET', '/tokens'],
      ['POST', `/users/${u}/tokens`],
      ['DELETE', `/tokens/${tok.id}`],
    ] as const)
      assert.equal(
        (await t.api(m, p, { token: tok.token, body: m === 'POST' ? {} : undefined })).status,
        403,
        `${m} ${p}`,
      );

    assert.equal((await t.api('DELETE', `/tokens/${tok.id}`)).status, 204);
    const after = await t.api<{ error: string }>('GET', '/me', { token: tok.token });
    assert.deepEqual([after.status, after.body.error], [401, `API token ${tok.id} was revoked`]);
    assert.deepEqual((await t.api<unknown[]>('GET', `/tokens?user=${u}`)).body, []);
    const withRevoked = await t.api<{ revokedAt: number | null }[]>('GET', `/tokens?user=${u}&revoked=true`);
    assert.equal(withRevoked.body.length, 1);
    assert.equal(typeof withRevoked.body[0].revokedAt, 'number');
    assert.equal((await t.api('DELETE', `/tokens/${tok.id}`)).status, 404, 'already revoked');
    assert.deepEqual(
      (await t.api<{ action: string }[]>('GET', `/audit?target=${tok.id}`)).body.map((e) => e.action),
      ['token.revoke'],
    );
  });
});

describe('API auth: last_used writes are throttled per token (real SQLite registry, stepped clock)', () => {
  it('writes on the first use and again only once a minute has passed', async () => {
    const reg = new Registry(openSqlite(':memory:'));
    await reg.init();
    const u = await reg.createUser({ name: 'x', role: 'viewer' });
    await reg.createToken({
      id: 'clocktok1',
      userId: u.id,
      secretHash: hashSecret('a-secret-of-twenty-chars'),
    });
    let now = 1_000_000;
    const auth = tokenAuthenticator(reg, { now: () => now });
    const req = {
      headers: { authorization: 'Bearer glt_clocktok1_a-secret-of-twenty-chars' },
      socket: { remoteAddress: '127.0.0.1' },
    } as unknown as Request;
    const lastUsed = async () => (await reg.getToken('clocktok1'))?.lastUsed;
    const seen: (number | null | undefined)[] = [];
    for (const at of [1_000_000, 1_030_000, 1_059_999, 1_060_000, 1_100_000, 1_120_000]) {
      now = at;
      assert.ok(await auth(req));
      seen.push(await lastUsed());
    }
    assert.deepEqual(seen, [1_000_000, 1_000_000, 1_000_000, 1_060_000, 1_060_000, 1_120_000]);
  });
});
