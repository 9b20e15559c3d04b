/**
 * The installer's report reaches the cloud: `gridlayer commission --upload` against a simulated site
 * stores the report beside the site, as the installer scoped to that site; the operator app's site
 * page reads it back. Scope, role and body are checked like every other site write.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SimSite } from '../../sim-devices/site.ts';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';
import { tempDir } from '../../test-support/edge/harness.ts';

const run = promisify(execFile);

describe('gridlayer commission --upload: the report stored beside the site', function () {
  this.timeout(120_000);
  let t: TestCloud;
  let site: SimSite;
  let dir: string;
  const token = async (role: string, scopes: { kind: string; target: string }[]) => {
    const u = await t.api<{ id: string }>('POST', '/users', { body: { name: role, role, scopes } });
    assert.equal(u.status, 201, JSON.stringify(u.body));
    const k = await t.api<{ token: string }>('POST', `/users/${u.body.id}/tokens`, { body: {} });
    assert.equal(k.status, 201);
    return k.body.token;
  };

  before(async () => {
    site = new SimSite({ startMs: Date.UTC(2026, 5, 21, 11), seed: 12 });
    await site.start();
    t = await startTestCloud();
    dir = tempDir();
    for (const id of ['site-up', 'site-other'])
      assert.equal((await t.api('POST', '/sites', { body: { id } })).status, 201);
  });
  after(async () => {
    await t?.stop();
    await site?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an installer scoped to the site uploads it; its owner reads it; others are refused', async () => {
    const installer = await token('installer', [{ kind: 'site', target: 'site-up' }]);
    const before = await t.api<{ error: string }>('GET', '/sites/site-up/commissioning');
    assert.equal(before.status, 404);
    assert.match(before.body.error, /no commissioning report yet/);
    const { stdout } = await run(
      process.execPath,
      [
        'bin/gridlayer.js',
        'commission',
        ...['--host', '127.0.0.1', '--port', String(site.port), '--units', '1-3', '--timeout', '300'],
        ...['--site', 'site-up', '--out', dir],
        ...['--upload', t.cloud.apiUrl.replace('/api/v1', '')],
      ],
      { env: { ...process.env, GRIDLAYER_TOKEN: installer }, timeout: 60_000 },
    );
    assert.match(stdout, /report stored in the cloud for site site-up/);
    const written = JSON.parse(readFileSync(join(dir, 'commissioning.json'), 'utf8'));
    const stored = await t.api<{
      report: typeof written;
      uploadedBy: string;
      uploadedAt: number;
    }>('GET', '/sites/site-up/commissioning');
    assert.equal(stored.status, 200);
    // What the cloud gives back is the file the installer holds, field for field.
    assert.deepEqual(stored.body.report, written);
    // The simulated site has PV (unit 1), battery (2) and meter (3), each found and test-written.
    assert.deepEqual(
      written.devices.map((d: { unit: number }) => d.unit),
      [1, 2, 3],
    );
    assert.match(stored.body.uploadedBy, /^user:/);
    const audit = await t.api<{ action: string; target: string }[]>('GET', '/audit?target=site-up');
    assert.ok(audit.body.some((a) => a.action === 'site.commissioning'));

    // The owner (participant of site-up) reads it; a participant of another site cannot.
    const owner = await token('participant', [{ kind: 'site', target: 'site-up' }]);
    const stranger = await token('participant', [{ kind: 'site', target: 'site-other' }]);
    assert.equal((await t.api('GET', '/sites/site-up/commissioning', { token: owner })).status, 200);
    assert.equal((await t.api('GET', '/sites/site-up/commissioning', { token: stranger })).status, 403);
    // A participant may not write one, nor an installer another site's.
    assert.equal(
      (await t.api('PUT', '/sites/site-up/commissioning', { token: owner, body: written })).status,
      403,
    );
    assert.equal(
      (await t.api('PUT', '/sites/site-other/commissioning', { token: installer, body: written })).status,
      403,
    );
  });

  it('a malformed report is refused with the field named, and the stored one stays', async () => {
    const good = await t.api<{ report: { at: string } }>('GET', '/sites/site-up/commissioning');
    const bad = await t.api<{ error: string }>('PUT', '/sites/site-up/commissioning', {
      body: { at: 'yesterday', endpoint: 'x', unitsScanned: [1], devices: [] },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /at/);
    const after = await t.api<{ report: { at: string } }>('GET', '/sites/site-up/commissioning');
    assert.deepEqual(after.body, good.body);
  });
});
