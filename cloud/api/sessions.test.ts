import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BOOTSTRAP_TOKEN, startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';

interface Answer<T = any> {
  status: number;
  body: T;
  setCookie: string[];
}

/** One call with fetch: a bearer token, or a cookie jar (session) with an optional CSRF header. */
async function call<T = any>(
  t: TestCloud,
  method: string,
  path: string,
  o: { token?: string; cookie?: string; csrf?: string; body?: unknown } = {},
): Promise<Answer<T>> {
  const res = await fetch(`${t.cloud.apiUrl}${path}`, {
    method,
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.cookie ? { cookie: o.cookie } : {}),
      ...(o.csrf ? { 'x-csrf-token': o.csrf } : {}),
      ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body: body as T, setCookie: res.headers.getSetCookie() };
}

/** Signs in; returns the Cookie header a browser would send back, the csrf value and the raw answer. */
async function login(t: TestCloud, body: unknown) {
  const a = await call(t, 'POST', '/auth/login', { body });
  const jar = a.setCookie.map((c) => c.split(';')[0]).join('; ');
  return { ...a, cookie: jar, csrf: a.body?.csrf as string };
}

const attrs = (setCookie: string[], name: string) => {
  const c = setCookie.find((x) => x.startsWith(`${name}=`));
  assert.ok(c, `cookie ${name} set`);
  const [pair, ...rest] = c.split(';').map((s) => s.trim());
  return { value: pair.slice(name.length + 1), attrs: rest };
};

describe('operator app sessions: sign-in, cookie on every route, CSRF, sign-out, expiry', function () {
  this.timeout(30_000);
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud({
      api: { host: '127.0.0.1', port: 0, sessions: { idleSeconds: 2, absoluteSeconds: 3600 } },
    });
    const mk = (body: object) => call(t, 'POST', '/users', { token: BOOTSTRAP_TOKEN, body });
    assert.equal(
      (await mk({ id: 'olga', name: 'Olga Operator', role: 'operator', password: 'correct horse battery' }))
        .status,
      201,
    );
    assert.equal((await mk({ id: 'pete', name: 'Pete Participant', role: 'participant' })).status, 201);
  });
  after(() => t?.stop());

  it('signs in with user + password: httpOnly SameSite=Strict session cookie, readable CSRF cookie, session stored hashed', async () => {
    const a = await login(t, { user: 'olga', password: 'correct horse battery' });
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.user, { id: 'olga', name: 'Olga Operator', role: 'operator' });
    assert.equal(a.body.idleSeconds, 2);
    const s = attrs(a.setCookie, 'gl_session');
    const c = attrs(a.setCookie, 'gl_csrf');
    assert.deepEqual(
      s.attrs.filter((x) => !x.startsWith('Max-Age')),
      ['HttpOnly', 'Path=/', 'SameSite=Strict'],
      'plain HTTP here: no Secure',
    );
    assert.ok(s.attrs.includes('Max-Age=3600'));
    assert.ok(!c.attrs.includes('HttpOnly'), 'the app reads the csrf cookie');
    assert.equal(c.value, a.body.csrf);
    // 256-bit random id (43 base64url chars); the registry holds only its SHA-256.
    assert.match(s.value, /^[A-Za-z0-9_-]{43}$/);
    const rows = await t.cloud.registry.db.all<{ id_hash: string; user_id: string; via: string }>(
      'SELECT id_hash, user_id, via FROM sessions WHERE user_id = ?',
      ['olga'],
    );
    assert.deepEqual(
      rows.find((r) => r.id_hash === createHash('sha256').update(s.value).digest('hex')),
      { id_hash: createHash('sha256').update(s.value).digest('hex'), user_id: 'olga', via: 'password' },
    );
    assert.ok(!rows.some((r) => r.id_hash === s.value));
    const audit = await call(t, 'GET', '/audit?action=auth.login', { token: BOOTSTRAP_TOKEN });
    assert.ok(
      (audit.body.items ?? audit.body).some((e: any) => e.actor === 'user:olga' && e.action === 'auth.login'),
      'sign-in audited',
    );
  });

  it('refuses a wrong password, an unknown user and a user without password alike (401, same message)', async () => {
    for (const body of [
      { user: 'olga', password: 'wrong horse battery' },
      { user: 'nobody', password: 'correct horse battery' },
      { user: 'pete', password: 'correct horse battery' },
    ]) {
      const a = await call(t, 'POST', '/auth/login', { body });
      assert.equal(a.status, 401, JSON.stringify(body));
      assert.deepEqual(a.body, { error: 'invalid user or password' });
      assert.deepEqual(a.setCookie, []);
    }
  });

  it('the session cookie authenticates GETs of existing routes; /me tells role and permissions', async () => {
    const a = await login(t, { user: 'olga', password: 'correct horse battery' });
    const me = await call(t, 'GET', '/me', { cookie: a.cookie });
    assert.equal(me.status, 200);
    assert.equal(me.body.id, 'olga');
    assert.equal(me.body.role, 'operator');
    assert.ok(me.body.permissions.includes('user:admin'));
    assert.equal(typeof me.body.session.expiresAt, 'number');
    assert.equal((await call(t, 'GET', '/sites', { cookie: a.cookie })).status, 200);
    assert.equal((await call(t, 'GET', '/sites', { cookie: 'gl_session=forged-value-1234' })).status, 401);
  });

  it('a change with the cookie needs x-csrf-token = the session csrf: none or wrong → 403 CSRF, right → done', async () => {
    const a = await login(t, { user: 'olga', password: 'correct horse battery' });
    const body = { id: 'g-csrf', name: 'csrf group', kind: 'vpp', sites: [] };
    const none = await call(t, 'POST', '/groups', { cookie: a.cookie, body });
    assert.equal(none.status, 403);
    assert.equal(none.body.code, 'CSRF');
    assert.match(none.body.error, /^CSRF: .*x-csrf-token/);
    const wrong = await call(t, 'POST', '/groups', {
      cookie: a.cookie,
      csrf: `${a.csrf.slice(0, -1)}x`,
      body,
    });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.code, 'CSRF');
    assert.equal(
      (await call(t, 'GET', '/groups/g-csrf', { token: BOOTSTRAP_TOKEN })).status,
      404,
      'nothing made',
    );
    const ok = await call(t, 'POST', '/groups', { cookie: a.cookie, csrf: a.csrf, body });
    assert.equal(ok.status, 201);
    // A bearer caller needs no CSRF value (no cookie a foreign page could make the browser send).
    const bearer = await call(t, 'POST', '/groups', {
      token: BOOTSTRAP_TOKEN,
      body: { ...body, id: 'g-bearer' },
    });
    assert.equal(bearer.status, 201);
  });

  it('exchanges an API token for a session once; a bad token is refused', async () => {
    const tok = await call(t, 'POST', '/users/pete/tokens', {
      token: BOOTSTRAP_TOKEN,
      body: { label: 'app' },
    });
    assert.equal(tok.status, 201);
    const a = await login(t, { token: tok.body.token });
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.user, { id: 'pete', name: 'Pete Participant', role: 'participant' });
    const me = await call(t, 'GET', '/me', { cookie: a.cookie });
    assert.equal(me.body.id, 'pete');
    assert.deepEqual(me.body.permissions, ['site:read']);
    const bad = await call(t, 'POST', '/auth/login', { body: { token: `${tok.body.token.slice(0, -2)}zz` } });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.body, { error: 'invalid API token' });
  });

  it('logout needs the csrf value, deletes the session and clears the cookies; the cookie is refused afterwards', async () => {
    const a = await login(t, { user: 'olga', password: 'correct horse battery' });
    assert.equal((await call(t, 'POST', '/auth/logout', { cookie: a.cookie })).status, 403);
    assert.equal((await call(t, 'GET', '/me', { cookie: a.cookie })).status, 200, 'still signed in');
    const out = await call(t, 'POST', '/auth/logout', { cookie: a.cookie, csrf: a.csrf });
    assert.equal(out.status, 204);
    assert.ok(attrs(out.setCookie, 'gl_session').attrs.includes('Max-Age=0'));
    assert.equal(attrs(out.setCookie, 'gl_session').value, '');
    const after = await call(t, 'GET', '/me', { cookie: a.cookie });
    assert.equal(after.status, 401);
    const audit = await call(t, 'GET', '/audit?action=auth.logout', { token: BOOTSTRAP_TOKEN });
    assert.ok(
      (audit.body.items ?? audit.body).some((e: any) => e.actor === 'user:olga'),
      'sign-out audited',
    );
  });

  it('a session unused for longer than api.sessions.idleSeconds answers 401 and is deleted', async () => {
    const a = await login(t, { user: 'olga', password: 'correct horse battery' });
    assert.equal((await call(t, 'GET', '/me', { cookie: a.cookie })).status, 200);
    await new Promise((r) => setTimeout(r, 2300));
    const late = await call(t, 'GET', '/me', { cookie: a.cookie });
    assert.equal(late.status, 401);
    assert.match(late.body.error, /session expired/);
    const sid = attrs(a.setCookie, 'gl_session').value;
    const left = await t.cloud.registry.db.all('SELECT 1 FROM sessions WHERE id_hash = ?', [
      createHash('sha256').update(sid).digest('hex'),
    ]);
    assert.equal(left.length, 0);
  });

  it('an operator sets a password (audited without it), which ends the sessions the user had', async () => {
    const short = await call(t, 'PUT', '/users/pete/password', {
      token: BOOTSTRAP_TOKEN,
      body: { password: 'short' },
    });
    assert.equal(short.status, 400);
    const set = await call(t, 'PUT', '/users/pete/password', {
      token: BOOTSTRAP_TOKEN,
      body: { password: 'pete has a long password' },
    });
    assert.equal(set.status, 200);
    const a = await login(t, { user: 'pete', password: 'pete has a long password' });
    assert.equal(a.status, 200);
    assert.equal((await call(t, 'GET', '/me', { cookie: a.cookie })).status, 200);
    const again = await call(t, 'PUT', '/users/pete/password', {
      token: BOOTSTRAP_TOKEN,
      body: { password: 'pete changed his password' },
    });
    assert.deepEqual(again.body, { user: 'pete', password: true, sessionsEnded: 1 });
    assert.equal((await call(t, 'GET', '/me', { cookie: a.cookie })).status, 401);
    assert.equal((await login(t, { user: 'pete', password: 'pete has a long password' })).status, 401);
    assert.equal((await login(t, { user: 'pete', password: 'pete changed his password' })).status, 200);
    assert.equal(
      (
        await call(t, 'PUT', '/users/nobody/password', {
          token: BOOTSTRAP_TOKEN,
          body: { password: 'x'.repeat(12) },
        })
      ).status,
      404,
    );
    const audit = await call(t, 'GET', '/audit?action=user.password', { token: BOOTSTRAP_TOKEN });
    const text = JSON.stringify(audit.body);
    assert.ok(text.includes('sessionsEnded'));
    assert.ok(
      !text.includes('pete changed his password') && !text.includes('pete has a long'),
      'no password in the audit',
    );
    const created = await call(t, 'GET', '/audit?action=user.create', { token: BOOTSTRAP_TOKEN });
    assert.ok(
      !JSON.stringify(created.body).includes('correct horse'),
      'no password in the user.create audit',
    );
  });
});

describe('operator app sessions: absolute expiry and the sign-in throttle', function () {
  this.timeout(30_000);
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud({
      api: { host: '127.0.0.1', port: 0, sessions: { idleSeconds: 600, absoluteSeconds: 1 } },
      auth: { bootstrapToken: BOOTSTRAP_TOKEN, throttle: { maxFailures: 3, windowSeconds: 60 } },
    });
    const u = await call(t, 'POST', '/users', {
      token: BOOTSTRAP_TOKEN,
      body: { id: 'vera', name: 'Vera Viewer', role: 'viewer', password: 'vera signs in here' },
    });
    assert.equal(u.status, 201);
  });
  after(() => t?.stop());

  it('a session ends api.sessions.absoluteSeconds after sign-in however much it is used', async () => {
    const a = await login(t, { user: 'vera', password: 'vera signs in here' });
    assert.equal(a.status, 200);
    assert.equal((await call(t, 'GET', '/me', { cookie: a.cookie })).status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await call(t, 'GET', '/me', { cookie: a.cookie })).status, 401);
  });

  it('failed sign-ins count against the per-source throttle: after maxFailures even the right password gets 429', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await login(t, { user: 'vera', password: `wrong password ${i}` })).status, 401);
    const blocked = await call(t, 'POST', '/auth/login', {
      body: { user: 'vera', password: 'vera signs in here' },
    });
    assert.equal(blocked.status, 429);
    assert.match(blocked.body.error, /too many failed authentication attempts from 127\.0\.0\.1/);
    // The same throttle guards bearer tokens: the source is blocked there too.
    assert.equal((await call(t, 'GET', '/me', { token: BOOTSTRAP_TOKEN })).status, 429);
  });
});
