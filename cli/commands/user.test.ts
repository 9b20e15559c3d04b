import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BOOTSTRAP_TOKEN, startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';

const bin = fileURLToPath(new URL('../../bin/gridlayer.js', import.meta.url));
const run = (args: string[], env: Record<string, string>, stdin?: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const p = execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    p.stdin?.end(stdin ?? '');
  });

describe('gridlayer user add / password (through the API)', function () {
  this.timeout(60_000);
  let t: TestCloud;
  before(async () => {
    t = await startTestCloud();
  });
  after(() => t?.stop());

  const signIn = (user: string, password: string) =>
    fetch(`${t.cloud.apiUrl}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, password }),
    }).then((r) => r.status);

  it('creates a scoped participant with a password from the environment; it can sign in', async () => {
    const api = `http://127.0.0.1:${t.cloud.apiPort}`;
    const r = await run(
      [
        'user',
        'add',
        '--api',
        api,
        '--id',
        'pat',
        '--name',
        'Pat',
        '--role',
        'participant',
        '--scope',
        'site:s-1',
      ],
      { GRIDLAYER_TOKEN: BOOTSTRAP_TOKEN, GRIDLAYER_PASSWORD: 'pat password 123' },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /user pat \(participant\) created with a password/);
    assert.deepEqual((await t.cloud.registry.getUser('pat'))?.scopes, [{ kind: 'site', target: 's-1' }]);
    assert.equal(await signIn('pat', 'pat password 123'), 200);
  });

  it('sets a password read from stdin; the old one is refused', async () => {
    const api = `http://127.0.0.1:${t.cloud.apiPort}`;
    const r = await run(
      ['user', 'password', 'pat', '--api', api, '--password-stdin'],
      { GRIDLAYER_TOKEN: BOOTSTRAP_TOKEN },
      'a new pat password\n',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /password of pat set; 1 session\(s\) ended/);
    assert.equal(await signIn('pat', 'pat password 123'), 401);
    assert.equal(await signIn('pat', 'a new pat password'), 200);
  });

  it('says what is wrong: no token, or the API refusal', async () => {
    const api = `http://127.0.0.1:${t.cloud.apiPort}`;
    const none = await run(['user', 'password', 'pat', '--api', api], {
      GRIDLAYER_TOKEN: '',
      GRIDLAYER_PASSWORD: 'x'.repeat(12),
    });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no API token/);
    const short = await run(['user', 'password', 'pat', '--api', api], {
      GRIDLAYER_TOKEN: BOOTSTRAP_TOKEN,
      GRIDLAYER_PASSWORD: 'short',
    });
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /400 invalid body: password/);
  });
});
