import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { z } from 'zod';
import { hashSecret } from '../auth/secrets.ts';
import { MarketRefusal, MarketServiceError, refuse } from '../market/index.ts';
import { openSqlite } from '../storage/registry/db.ts';
import { Registry } from '../storage/registry/registry.ts';
import { tokenAuthenticator } from './auth.ts';
import { answerErrors, DomainError } from './errors.ts';
import { mount, route } from './route.ts';

/**
 * mount() applies what a route declares (scope, audit, refused-request audit) and errors answer
 * through the one code table: over real HTTP on 127.0.0.1, with a real SQLite registry and real
 * tokens.
 */
describe('route machinery: declared scope and audit applied by mount(), one error table', () => {
  let reg: Registry;
  let base: string;
  let close: () => Promise<void>;
  const calls: string[] = [];
  let opActor = '';
  let viewerActor = '';
  const OPERATOR = 'glt_optoken1_operator-secret-twenty-chars';
  const VIEWER = 'glt_vwtoken1_viewer-secret-of-twenty-chars';

  const routes = [
    route({
      method: 'get',
      path: '/sites/:site',
      summary: 'site',
      tag: 't',
      permission: 'site:read',
      scope: { site: 'site' },
      params: z.object({ site: z.string() }),
      handler: async ({ params }) => {
        calls.push(`site ${params.site}`);
        return { site: params.site };
      },
    }),
    route({
      method: 'post',
      path: '/sites/:site/things',
      summary: 'things',
      tag: 't',
      permission: 'site:read',
      scope: { site: 'site' },
      params: z.object({ site: z.string() }),
      body: z.object({ n: z.number() }),
      status: 201,
      handler: async ({ params, body }) => {
        calls.push(`thing ${params.site} ${body.n}`);
        if (body.n === 0) throw new DomainError('conflict', 'zero things conflict');
        if (body.n < 0) throw new Error('the store fell over');
        return { made: body.n * 10 };
      },
      audit: [
        { action: 'thing.make', target: ({ params }) => params.site, detail: ({ body }) => body },
        { action: 'thing.note', target: (_ctx, out) => `made-${out.made}` },
      ],
      auditRefusals: {
        action: 'thing.refused',
        target: (req) => String(req.params.site),
        on: ['invalid', 'scope', 'domain'],
        detail: ({ stage, reason, body }) => ({ stage, reason, body: body ?? null }),
      },
    }),
    route({
      method: 'post',
      path: '/operate',
      summary: 'operate',
      tag: 't',
      permission: 'site:read',
      scope: { roles: { allow: ['operator'], verb: 'operate the test' } },
      handler: async () => ({ ok: true }),
    }),
    route({
      method: 'get',
      path: '/groups/:group',
      summary: 'group',
      tag: 't',
      permission: 'site:read',
      scope: { group: 'group' },
      handler: async ({ req }) => ({ group: req.params.group }),
    }),
    route({
      method: 'get',
      path: '/errors/:kind',
      summary: 'errors',
      tag: 't',
      permission: null,
      handler: async ({ req }) => {
        const kind = req.params.kind;
        if (kind === 'unavailable') throw new DomainError('unavailable', 'secret internals');
        if (kind === 'gate') throw new MarketRefusal(refuse('GATE_CLOSED', 'the gate closed at 10:00'));
        if (kind === 'unlisted') throw new MarketRefusal(refuse('BEYOND_CAPABILITY', 'too much'));
        if (kind === 'service') throw new MarketServiceError('NO_ISO', 'no wholesale market');
        return null;
      },
    }),
  ];

  before(async () => {
    reg = new Registry(openSqlite(':memory:'));
    await reg.init();
    await reg.createSite('s1');
    await reg.createSite('s2');
    const op = await reg.createUser({ name: 'op', role: 'operator' });
    const viewer = await reg.createUser({
      name: 'v',
      role: 'viewer',
      scopes: [
        { kind: 'site', target: 's1' },
        { kind: 'group', target: 'g1' },
      ],
    });
    opActor = `user:${op.id}`;
    viewerActor = `user:${viewer.id}`;
    await reg.createToken({
      id: 'optoken1',
      userId: op.id,
      secretHash: hashSecret('operator-secret-twenty-chars'),
    });
    await reg.createToken({
      id: 'vwtoken1',
      userId: viewer.id,
      secretHash: hashSecret('viewer-secret-of-twenty-chars'),
    });
    const app = express();
    app.use(express.json());
    mount(app, '/api', routes, tokenAuthenticator(reg), reg.audit.bind(reg));
    app.use(answerErrors({ error: () => {} }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  after(async () => close?.());
  beforeEach(() => {
    calls.length = 0;
  });

  const call = async (token: string | null, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: (r.status === 204 ? null : await r.json()) as any };
  };

  it('refuses a site out of scope with 403 before the handler runs; in scope it runs', async () => {
    assert.deepEqual(await call(VIEWER, 'GET', '/sites/s2'), {
      status: 403,
      body: { error: 'not authorized for site s2' },
    });
    assert.deepEqual(calls, []);
    assert.deepEqual(await call(VIEWER, 'GET', '/sites/s1'), { status: 200, body: { site: 's1' } });
    assert.deepEqual(await call(OPERATOR, 'GET', '/sites/s2'), { status: 200, body: { site: 's2' } });
    assert.deepEqual(calls, ['site s1', 'site s2']);
  });

  it('writes the declared audit records in order after success, and only the refusal record otherwise', async () => {
    const ok = await call(OPERATOR, 'POST', '/sites/s2/things', { n: 4 });
    assert.deepEqual(ok, { status: 201, body: { made: 40 } });
    assert.deepEqual(await reg.listAudit({ action: 'thing.refused' }), []);
    const made = (await reg.listAudit({})).map((e) => [e.actor, e.action, e.target, e.detail]);
    assert.deepEqual(made, [
      [opActor, 'thing.make', 's2', { n: 4 }],
      [opActor, 'thing.note', 'made-40', null],
    ]);
  });

  it('audits refusals at each declared stage: invalid, scope, domain; never a fault', async () => {
    const actor = viewerActor;
    const invalid = await call(VIEWER, 'POST', '/sites/s1/things', { n: 'many' });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.error, /^invalid body: n: /);
    assert.deepEqual(await call(VIEWER, 'POST', '/sites/s2/things', { n: 1 }), {
      status: 403,
      body: { error: 'not authorized for site s2' },
    });
    assert.deepEqual(await call(VIEWER, 'POST', '/sites/s1/things', { n: 0 }), {
      status: 409,
      body: { error: 'zero things conflict' },
    });
    assert.deepEqual(await call(VIEWER, 'POST', '/sites/s1/things', { n: -1 }), {
      status: 500,
      body: { error: 'internal error' },
    });
    assert.deepEqual(calls, ['thing s1 0', 'thing s1 -1'], 'the handler ran only for valid, in-scope calls');
    const refusals = (await reg.listAudit({ action: 'thing.refused' })).map((e) => ({
      actor: e.actor,
      target: e.target,
      detail: e.detail,
    }));
    assert.deepEqual(refusals, [
      { actor, target: 's1', detail: { stage: 'invalid', reason: invalid.body.error, body: null } },
      {
        actor,
        target: 's2',
        detail: { stage: 'scope', reason: 'not authorized for site s2', body: { n: 1 } },
      },
      { actor, target: 's1', detail: { stage: 'domain', reason: 'zero things conflict', body: { n: 0 } } },
    ]);
    assert.deepEqual(await reg.listAudit({ action: 'thing.make', target: 's1' }), [], 'no success record');
  });

  it('checks declared roles and groups', async () => {
    assert.deepEqual(await call(VIEWER, 'POST', '/operate'), {
      status: 403,
      body: { error: 'role viewer may not operate the test' },
    });
    assert.deepEqual(await call(OPERATOR, 'POST', '/operate'), { status: 200, body: { ok: true } });
    assert.deepEqual(await call(VIEWER, 'GET', '/groups/g2'), {
      status: 403,
      body: { error: 'not authorized for group g2' },
    });
    assert.deepEqual(await call(VIEWER, 'GET', '/groups/g1'), { status: 200, body: { group: 'g1' } });
    assert.deepEqual(await call(null, 'GET', '/groups/g1'), {
      status: 401,
      body: { error: 'missing API token (Authorization: Bearer glt_…)' },
    });
  });

  it('maps error codes to status once: 5xx hides the message, market refusals carry their code', async () => {
    assert.deepEqual(await call(null, 'GET', '/errors/unavailable'), {
      status: 503,
      body: { error: 'internal error' },
    });
    assert.deepEqual(await call(null, 'GET', '/errors/gate'), {
      status: 409,
      body: {
        error: 'GATE_CLOSED: the gate closed at 10:00',
        code: 'GATE_CLOSED',
        reason: 'the gate closed at 10:00',
      },
    });
    assert.deepEqual(await call(null, 'GET', '/errors/unlisted'), {
      status: 422,
      body: { error: 'BEYOND_CAPABILITY: too much', code: 'BEYOND_CAPABILITY', reason: 'too much' },
    });
    assert.deepEqual(await call(null, 'GET', '/errors/service'), {
      status: 503,
      body: { error: 'NO_ISO: no wholesale market', code: 'NO_ISO', reason: 'no wholesale market' },
    });
  });
});
