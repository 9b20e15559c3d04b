import assert from 'node:assert/strict';
import { startTestCloud, type TestCloud } from '../../test-support/cloud/test-cloud.ts';

describe('groups and VPPs: members must be registered sites', function () {
  this.timeout(60_000);
  let t: TestCloud;
  const siteIds = async () => (await t.api<{ id: string }[]>('GET', '/sites')).body.map((s) => s.id);

  before(async () => {
    t = await startTestCloud();
    for (const id of ['known-a', 'known-b'])
      assert.equal((await t.api('POST', '/sites', { body: { id } })).status, 201);
  });
  after(async () => t?.stop());

  it('refuses POST /groups with unknown ids (400 naming them); no group, no phantom site', async () => {
    const r = await t.api<{ error: string }>('POST', '/groups', {
      body: { id: 'g1', name: 'G1', kind: 'vpp', sites: ['known-a', 'ghost-2', 'ghost-1'] },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /unknown site ids \(2\): ghost-2, ghost-1/);
    assert.equal((await t.api('GET', '/groups/g1')).status, 404);
    assert.deepEqual(await siteIds(), ['known-a', 'known-b']);
  });

  it('refuses 100,000 unknown ids without creating a single site', async () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `x${i}`);
    const r = await t.api<{ error: string }>('POST', '/groups', {
      body: { id: 'huge', name: 'huge', kind: 'vpp', sites: ids },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^unknown site ids \(100000\): x0, x1, x2, .*, x19, … and 99980 more/);
    assert.deepEqual(await siteIds(), ['known-a', 'known-b']);
  });

  it('creates a group of known sites; PUT with an unknown id is refused and leaves the membership', async () => {
    const ok = await t.api<{ sites: string[] }>('POST', '/groups', {
      body: { id: 'g2', name: 'G2', kind: 'feeder', sites: ['known-b', 'known-a'] },
    });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.sites, ['known-a', 'known-b']);
    const put = await t.api<{ error: string }>('PUT', '/groups/g2/sites', {
      body: { sites: ['known-a', 'nope'] },
    });
    assert.equal(put.status, 400);
    assert.match(put.body.error, /unknown site id \(1\): nope/);
    assert.deepEqual((await t.api<{ sites: string[] }>('GET', '/groups/g2')).body.sites, [
      'known-a',
      'known-b',
    ]);
    assert.deepEqual(await siteIds(), ['known-a', 'known-b']);
  });

  it('refuses POST /vpps selecting unknown sites; no VPP is created', async () => {
    const r = await t.api<{ error: string }>('POST', '/vpps', {
      body: { id: 'v1', name: 'V1', select: { by: 'sites', sites: ['known-a', 'ghost-v'] } },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /unknown site id \(1\): ghost-v/);
    assert.equal((await t.api('GET', '/vpps/v1')).status, 404);
    const ok = await t.api<{ sites: string[] }>('POST', '/vpps', {
      body: { id: 'v2', name: 'V2', select: { by: 'sites', sites: ['known-a'] } },
    });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.sites, ['known-a']);
    assert.deepEqual(await siteIds(), ['known-a', 'known-b']);
  });
});
