import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Capabilities, Command } from '../../../protocols/mqtt/payloads.ts';
import { type RunningPostgres, startPostgres } from '../../../test-support/postgres.ts';
import { openPostgres, openSqlite, type SqlDb } from './db.ts';
import { MIGRATIONS } from './migrations.ts';
import { Registry, UnknownSitesError } from './registry.ts';

const deepEq = (a: unknown, b: unknown) => {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
};

const now = Date.now();
const caps: Capabilities = {
  v: 1,
  site: 'site-1',
  ts: now,
  devices: [
    {
      id: 'inv1',
      kind: 'inverter',
      protocol: 'sunspec-tcp',
      manufacturer: 'Fronius',
      model: 'Symo',
      nameplate: { w_max: 10000 },
      controls: ['active_power_limit'],
      models: [1, 103, 123],
    },
    {
      id: 'bat1',
      kind: 'battery',
      protocol: 'sunspec-rtu',
      nameplate: { wh_capacity: 13500 },
      controls: ['battery_power'],
    },
  ],
  limits: { export_w_max: 7000 },
};

function contract(
  name: string,
  open: () => Promise<SqlDb>,
  cleanup: () => Promise<void>,
  /** A second, empty database on the same backend (the upgrade test builds an old schema in it). */
  openAnother: (name: string) => Promise<SqlDb>,
) {
  describe(`registry: ${name}`, function () {
    this.timeout(60000);
    let db: SqlDb;
    let reg: Registry;
    before(async () => {
      db = await open();
      reg = new Registry(db);
    });
    after(async () => {
      await db?.close();
      await cleanup();
    });

    it('applies every migration once, and is idempotent on restart', async () => {
      assert.deepEqual(
        await reg.init(),
        MIGRATIONS.map((m) => m.id),
      );
      assert.deepEqual(await reg.init(), []);
    });

    it('self-registers a site and its devices from a capabilities message, keeping operator edits', async () => {
      assert.deepEqual(await reg.applyCapabilities(caps), {
        created: true,
        devices: 2,
        changedDevices: ['inv1', 'bat1'],
        limitsChanged: false,
      });
      // The same capabilities again (a reconnect) change nothing.
      assert.deepEqual(await reg.applyCapabilities({ ...caps, ts: caps.ts + 1 }), {
        created: false,
        devices: 2,
        changedDevices: [],
        limitsChanged: false,
      });
      await reg.patchSite('site-1', { feeder: 'F12', node: 'N-7', contract: 'flex-2026' });
      const again = { ...caps, devices: [{ ...caps.devices[0], firmware: '1.2.3' }, caps.devices[1]] };
      assert.deepEqual(await reg.applyCapabilities(again), {
        created: false,
        devices: 2,
        changedDevices: ['inv1'],
        limitsChanged: false,
      });
      const site = await reg.getSite('site-1');
      assert.equal(site?.feeder, 'F12');
      assert.equal(site?.contract, 'flex-2026');
      assert.deepEqual(site?.limits, { export_w_max: 7000 });
      const devices = await reg.listDevices('site-1');
      assert.deepEqual(
        devices.map((d) => [d.id, d.kind, d.firmware]),
        [
          ['bat1', 'battery', null],
          ['inv1', 'inverter', '1.2.3'],
        ],
      );
      assert.deepEqual(devices[1].nameplate, { w_max: 10000 });
      assert.deepEqual(devices[1].models, [1, 103, 123]);
      await reg.patchDevice('site-1', 'inv1', { node: 'N-7a' });
      assert.equal((await reg.getDevice('site-1', 'inv1'))?.node, 'N-7a');
    });

    it('records status from the edge', async () => {
      await reg.applyStatus({
        v: 1,
        site: 'site-1',
        state: 'online',
        ts: now,
        agentVersion: '0.1.0',
        mode: 'default',
      });
      const s = await reg.getSite('site-1');
      assert.equal(s?.status, 'online');
      assert.equal(s?.agentVersion, '0.1.0');
      assert.equal(s?.lastSeen, now);
    });

    it('keeps groups and their membership; a failed transaction leaves nothing behind', async () => {
      await reg.createGroup({ id: 'vpp-north', name: 'VPP North', kind: 'vpp' });
      await reg.createSite('site-2');
      await reg.setGroupSites('vpp-north', ['site-1', 'site-2']);
      assert.deepEqual((await reg.getGroup('vpp-north'))?.sites, ['site-1', 'site-2']);
      assert.deepEqual(await reg.sitesOfGroups(['vpp-north']), ['site-1', 'site-2']);
      await assert.rejects(
        db.tx(async (t) => {
          await t.run('DELETE FROM group_members WHERE group_id = ?', ['vpp-north']);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual((await reg.getGroup('vpp-north'))?.sites, ['site-1', 'site-2']);
      await reg.patchGroup('vpp-north', { description: 'north feeders' });
      assert.equal((await reg.listGroups())[0].description, 'north feeders');
    });

    it('refuses group members that are not registered sites, naming them, and creates no site', async () => {
      const before = (await reg.listSites()).map((s) => s.id);
      assert.deepEqual(await reg.unknownSites(['site-1', 'ghost-b', 'ghost-a', 'ghost-b']), [
        'ghost-b',
        'ghost-a',
      ]);
      await assert.rejects(
        reg.setGroupSites('vpp-north', ['site-1', 'ghost-a', 'ghost-b']),
        (err: unknown) =>
          err instanceof UnknownSitesError &&
          deepEq(err.unknown, ['ghost-a', 'ghost-b']) &&
          /unknown site ids \(2\): ghost-a, ghost-b/.test(err.message),
      );
      assert.deepEqual(
        (await reg.getGroup('vpp-north'))?.sites,
        ['site-1', 'site-2'],
        'membership unchanged',
      );
      assert.deepEqual(
        (await reg.listSites()).map((s) => s.id),
        before,
        'no phantom site',
      );
      // 1,200 ids: more than one IN (…) chunk of the lookup.
      const many = Array.from({ length: 1200 }, (_, i) => `ghost-${String(i).padStart(4, '0')}`);
      assert.equal((await reg.unknownSites(['site-2', ...many])).length, 1200);
    });

    it('stores users with scopes and tokens by hash only', async () => {
      const u = await reg.createUser({
        name: 'Ann',
        role: 'viewer',
        scopes: [{ kind: 'site', target: 'site-1' }],
      });
      assert.deepEqual(u.scopes, [{ kind: 'site', target: 'site-1' }]);
      await reg.createToken({ id: 'tok12345', userId: u.id, secretHash: 'ab'.repeat(32) });
      assert.deepEqual(await reg.findToken('tok12345'), {
        userId: u.id,
        secretHash: 'ab'.repeat(32),
        revoked: false,
        expiresAt: null,
      });
      assert.equal(await reg.revokeToken('tok12345'), true);
      assert.equal((await reg.findToken('tok12345'))?.revoked, true);
      assert.equal(await reg.revokeToken('tok12345'), false, 'revoking twice changes nothing');
      await reg.setSiteCredential('site-1', 'cd'.repeat(32));
      assert.equal(await reg.siteCredentialHash('site-1'), 'cd'.repeat(32));
    });

    it('lists tokens with expiry, issuer and last use, never their hash; hides revoked ones unless asked', async () => {
      const u = await reg.createUser({
        name: 'Bo',
        role: 'operator',
        scopes: [{ kind: 'all', target: '*' }],
      });
      const created = await reg.createToken({
        id: 'tokbo001',
        userId: u.id,
        secretHash: 'ef'.repeat(32),
        label: 'ci',
        expiresAt: 1_900_000_000_000,
        createdBy: 'user:admin',
      });
      assert.equal(created.expiresAt, 1_900_000_000_000);
      assert.equal((await reg.findToken('tokbo001'))?.expiresAt, 1_900_000_000_000);
      await reg.createToken({ id: 'tokbo002', userId: u.id, secretHash: '12'.repeat(32) });
      await reg.touchToken('tokbo002', 1_800_000_000_123);
      await reg.revokeToken('tokbo001');
      const live = await reg.listTokens({ userId: u.id });
      assert.deepEqual(
        live.map((t) => [t.id, t.lastUsed, t.expiresAt, t.revokedAt]),
        [['tokbo002', 1_800_000_000_123, null, null]],
      );
      const all = await reg.listTokens({ userId: u.id, includeRevoked: true });
      assert.deepEqual(
        all.map((t) => [t.id, t.label, t.createdBy, t.revokedAt !== null]),
        [
          ['tokbo001', 'ci', 'user:admin', true],
          ['tokbo002', null, null, false],
        ],
      );
      assert.deepEqual(Object.keys(all[0]).sort(), [
        'createdAt',
        'createdBy',
        'expiresAt',
        'id',
        'label',
        'lastUsed',
        'revokedAt',
        'userId',
      ]);
      assert.ok(!JSON.stringify(all).includes('ef'.repeat(32)), 'no hash in the listing');
    });

    it('upgrades a schema-6 registry in place: a token issued before expiry existed keeps working', async () => {
      const old = await openAnother('upgrade6');
      try {
        // The registry as release 6 left it, built from the migrations as they were then.
        await old.run(
          'CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
        );
        for (const m of MIGRATIONS.filter((x) => x.id <= 6)) {
          for (const st of m.statements) await old.run(st);
          await old.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [
            m.id,
            m.name,
            0,
          ]);
        }
        await old.run(
          "INSERT INTO users (id, name, role, created_at) VALUES ('admin', 'bootstrap operator', 'operator', 1)",
        );
        await old.run(
          "INSERT INTO api_tokens (id, user_id, secret_hash, label, created_at) VALUES ('oldtok01', 'admin', ?, 'bootstrap', 2)",
          ['aa'.repeat(32)],
        );
        const upgraded = new Registry(old);
        assert.deepEqual(
          await upgraded.init(),
          MIGRATIONS.filter((x) => x.id > 6).map((x) => x.id),
        );
        assert.deepEqual(await upgraded.findToken('oldtok01'), {
          userId: 'admin',
          secretHash: 'aa'.repeat(32),
          revoked: false,
          expiresAt: null,
        });
        assert.deepEqual(await upgraded.listTokens(), [
          {
            id: 'oldtok01',
            userId: 'admin',
            label: 'bootstrap',
            createdAt: 2,
            createdBy: null,
            expiresAt: null,
            lastUsed: null,
            revokedAt: null,
          },
        ]);
      } finally {
        await old.close();
      }
    });

    it('writes asked for together: a failing transaction or statement takes back only its own work', async () => {
      // Asked for in one turn of the event loop: on SQLite they share one commit (group commit).
      const results = await Promise.allSettled([
        reg.createSite('together-1'),
        db.tx(async (t) => {
          await t.run('INSERT INTO sites (id, created_at, updated_at) VALUES (?, ?, ?)', [
            'together-x',
            1,
            1,
          ]);
          throw new Error('boom');
        }),
        db.run('INSERT INTO sites (id, created_at, updated_at) VALUES (?, ?, ?)', ['together-1', 1, 1]),
        db.tx(async (t) => {
          await t.run('INSERT INTO sites (id, created_at, updated_at) VALUES (?, ?, ?)', [
            'together-2',
            2,
            2,
          ]);
          return 'ok';
        }),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
      );
      assert.equal((results[3] as PromiseFulfilledResult<string>).value, 'ok');
      const ids = (await reg.listSites()).map((x) => x.id).filter((id) => id.startsWith('together-'));
      assert.deepEqual(ids, ['together-1', 'together-2']);
    });

    it('stores a batch of commands with their audit rows at once; reads sites, devices and commands in bulk', async () => {
      // More ids than one IN (…) list takes (500): read in chunks, still in id order.
      const many = Array.from({ length: 1201 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
      await db.tx(async (t) => {
        for (const id of many)
          await t.run('INSERT INTO sites (id, created_at, updated_at) VALUES (?, ?, ?)', [id, now, now]);
      });
      const listed = await reg.listSites([...many].reverse());
      assert.equal(listed.length, 1201);
      assert.equal(listed[0].id, 'bulk-0000');
      assert.equal(listed[1200].id, 'bulk-1200');
      const devs = await reg.listDevicesOf(['site-1', 'bulk-0001']);
      assert.deepEqual(
        devs.get('site-1')?.map((d) => d.id),
        ['bat1', 'inv1'],
      );
      assert.equal(devs.has('bulk-0001'), false);
      const cmds: Command[] = ['bulk-0000', 'bulk-0600', 'bulk-1200'].map((site, i) => ({
        v: 1,
        id: `cmd-bulk-${i}`,
        site,
        type: 'battery_power',
        w: 1000 * i,
        issuedAt: now,
        expiresAt: now + 60_000,
      }));
      const auditBefore = (await reg.listAudit({ action: 'command.send', limit: 1000 })).length;
      const recs = await reg.insertCommands(
        cmds.map((command) => ({ command, issuedBy: 'dispatch:d1' })),
        cmds.map((c) => ({
          actor: 'dispatch:d1',
          action: 'command.send',
          target: c.site,
          detail: { id: c.id },
        })),
      );
      assert.deepEqual(
        recs.map((r) => [r.id, r.status]),
        [
          ['cmd-bulk-0', 'pending'],
          ['cmd-bulk-1', 'pending'],
          ['cmd-bulk-2', 'pending'],
        ],
      );
      assert.equal((await reg.listAudit({ action: 'command.send', limit: 1000 })).length, auditBefore + 3);
      assert.equal(
        await reg.transitionCommands(
          ['cmd-bulk-0', 'cmd-bulk-2', 'cmd-missing'],
          ['pending'],
          'sent',
          now + 5,
        ),
        2,
      );
      const read = await reg.getCommands(['cmd-bulk-0', 'cmd-bulk-1', 'cmd-bulk-2', 'cmd-missing']);
      assert.deepEqual([...read.values()].map((c) => [c.id, c.status, c.statusAt >= now]).sort(), [
        ['cmd-bulk-0', 'sent', true],
        ['cmd-bulk-1', 'pending', true],
        ['cmd-bulk-2', 'sent', true],
      ]);
      assert.deepEqual(read.get('cmd-bulk-2')?.command, cmds[2]);
    });

    it('tracks a command through its lifecycle, and finds overdue ones', async () => {
      const cmd: Command = {
        v: 1,
        id: 'cmd-0001',
        site: 'site-1',
        device: 'inv1',
        type: 'active_power_limit',
        w: 5000,
        issuedAt: now,
        expiresAt: now + 60_000,
      };
      const rec = await reg.insertCommand(cmd, 'user:ops');
      assert.equal(rec.status, 'pending');
      assert.deepEqual(rec.command, cmd);
      assert.equal(await reg.transitionCommand('cmd-0001', ['pending'], 'sent'), true);
      assert.equal(await reg.transitionCommand('cmd-0001', ['pending'], 'sent'), false);
      assert.equal(
        await reg.transitionCommand('cmd-0001', ['sent'], 'acknowledged', {
          applied: { w: 4800 },
          reason: 'clamped',
        }),
        true,
      );
      const done = await reg.getCommand('cmd-0001');
      assert.deepEqual([done?.status, done?.applied, done?.reason], ['acknowledged', { w: 4800 }, 'clamped']);
      await reg.insertCommand(
        { ...cmd, id: 'cmd-0002', issuedAt: now - 10_000, expiresAt: now - 1 },
        'user:ops',
      );
      assert.deepEqual(
        (await reg.overdueCommands(now)).map((c) => c.id),
        ['cmd-0002'],
      );
      assert.deepEqual(
        (await reg.listCommands('site-1')).map((c) => c.id),
        ['cmd-0001', 'cmd-0002'],
      );
    });

    it('lists the commands to re-send: open, unexpired, not replaced by a newer one for the same target', async () => {
      const base = {
        v: 1 as const,
        site: 'site-1',
        type: 'battery_power' as const,
        w: 1000,
        issuedAt: now,
        expiresAt: now + 60_000,
      };
      const add = async (id: string, extra: Partial<Command>, status?: 'sent' | 'acknowledged') => {
        await reg.insertCommand({ ...base, id, ...extra } as Command, 'user:ops');
        if (status) await reg.transitionCommand(id, ['pending'], 'sent');
        if (status === 'acknowledged') await reg.transitionCommand(id, ['sent'], 'acknowledged');
      };
      await add('rs-1', { device: 'bat1', issuedAt: now + 1 }, 'sent'); // replaced by rs-2
      await add('rs-2', { device: 'bat1', issuedAt: now + 2 }, 'acknowledged');
      await add('rs-3', { issuedAt: now + 3 }, 'sent'); // site-wide: another target
      await add('rs-4', { device: 'bat1', type: 'connect', connected: true, issuedAt: now + 4 } as never);
      await add('rs-5', { device: 'bat2', issuedAt: now - 5000, expiresAt: now - 1 }, 'sent'); // expired
      assert.deepEqual(
        (await reg.resendableCommands('site-1', now)).map((c) => c.id),
        ['rs-3', 'rs-4'],
      );
    });

    it('migration 10: a registry of release 9 keeps its users; passwords and sessions are stored and expire', async () => {
      const old = await openAnother('upgrade9');
      try {
        await old.run(
          'CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
        );
        for (const m of MIGRATIONS.filter((x) => x.id <= 9)) {
          for (const st of m.statements) await old.run(st);
          await old.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [
            m.id,
            m.name,
            0,
          ]);
        }
        await old.run(
          "INSERT INTO users (id, name, role, created_at) VALUES ('olga', 'Olga', 'operator', 1)",
        );
        await old.run(
          "INSERT INTO sites (id, status, created_at, updated_at) VALUES ('s-1', 'online', 1, 1)",
        );
        const r = new Registry(old);
        assert.deepEqual(await r.init(), [10, 11, 12, 13, 14, 17]); // every release after 9: sessions, enrolment codes, commissioning reports, tariffs, market onboarding, gateway certificates
        assert.equal((await r.getUser('olga'))?.name, 'Olga');
        assert.equal(await r.passwordHash('olga'), undefined, 'no password until one is set');
        assert.equal(await r.setPasswordHash('olga', 'scrypt$hash', 5), true);
        assert.equal(await r.setPasswordHash('nobody', 'scrypt$hash'), false);
        assert.equal(await r.passwordHash('olga'), 'scrypt$hash');
        const s = {
          idHash: 'ab'.repeat(32),
          userId: 'olga',
          csrf: 'c1',
          via: 'password' as const,
          tokenId: null,
          source: '127.0.0.1',
          createdAt: 100,
          lastUsed: 100,
          expiresAt: 1000,
        };
        await r.createSession(s);
        await r.createSession({ ...s, idHash: 'cd'.repeat(32), lastUsed: 500 });
        assert.deepEqual(await r.findSession(s.idHash), s);
        await r.touchSession(s.idHash, 150);
        assert.equal((await r.findSession(s.idHash))?.lastUsed, 150);
        // Idle since before 200 (the first) or past its absolute expiry: purged.
        assert.equal(await r.purgeSessions(900, 200), 1);
        assert.equal(await r.findSession(s.idHash), undefined);
        assert.deepEqual(await r.sessionsOf('olga'), ['cd'.repeat(32)]);
        await r.createSession({
          ...s,
          idHash: 'ef'.repeat(32),
          via: 'token',
          tokenId: 'tok00001',
          expiresAt: 5000,
        });
        assert.deepEqual(await r.deleteTokenSessions('tok00001'), ['ef'.repeat(32)]);
        assert.equal(await r.deleteUserSessions('olga'), 1);
        // The site's fallback and last_seen columns.
        assert.equal(await r.setFallback('s-1', 40, 'lapsed'), true);
        await r.touchSitesSeen(new Map([['s-1', 50]]));
        await r.touchSitesSeen(new Map([['s-1', 45]])); // never backwards
        const page = await r.fleetPage({
          staleBefore: 10,
          refusedSince: 0,
          sort: 'id',
          offset: 0,
          limit: 10,
        });
        assert.deepEqual(page, {
          total: 1,
          rows: [
            {
              id: 's-1',
              name: null,
              status: 'fallback',
              mode: null,
              lastSeen: 50,
              createdAt: 1,
              fallbackSince: 40,
              fallbackDetail: 'lapsed',
            },
          ],
        });
        assert.equal(
          (await r.fleetPage({ staleBefore: 60, refusedSince: 0, sort: 'id', offset: 0, limit: 10 })).rows[0]
            .status,
          'stale',
        );
      } finally {
        await old.close();
      }
    });

    it('fleet view in SQL: scope through site and group scopes, search, status, alarms, refused commands', async () => {
      for (const [id, name] of [
        ['fl-1', 'North Farm'],
        ['fl-2', 'South Farm'],
        ['fl-3', 'West Hall'],
      ])
        await reg.createSite(id, { name });
      const t0 = Date.now();
      await reg.applyStatus({ v: 1, site: 'fl-1', state: 'online', ts: t0 });
      await reg.applyStatus({ v: 1, site: 'fl-2', state: 'online', ts: t0 });
      await reg.applyStatus({ v: 1, site: 'fl-3', state: 'offline', ts: t0 });
      await reg.createGroup({ id: 'fl-g', name: 'g', kind: 'vpp' });
      await reg.setGroupSites('fl-g', ['fl-2']);
      await reg.createUser({
        id: 'fl-user',
        name: 'scoped',
        role: 'participant',
        scopes: [
          { kind: 'site', target: 'fl-1' },
          { kind: 'group', target: 'fl-g' },
        ],
      });
      const cmd = {
        v: 1,
        id: 'cmd_flrefused1',
        site: 'fl-2',
        type: 'battery_power',
        w: 1000,
        issuedAt: t0,
        expiresAt: t0 + 60_000,
      } as unknown as Command;
      await reg.insertCommand(cmd, 'user:ops');
      assert.equal(
        await reg.transitionCommand(cmd.id, ['pending'], 'refused', { reason: 'local mode', at: t0 + 1 }),
        true,
      );
      const scope = { user: 'fl-user', staleBefore: t0 - 60_000, refusedSince: t0 - 1000 };
      const page = await reg.fleetPage({ ...scope, sort: 'id', offset: 0, limit: 10 });
      assert.deepEqual(
        page.rows.map((r) => [r.id, r.status, r.refused?.detail ?? null]),
        [
          ['fl-1', 'online', null],
          ['fl-2', 'online', 'command cmd_flrefused1 (battery_power) refused: local mode'],
        ],
      );
      assert.deepEqual(
        (await reg.fleetPage({ ...scope, alarm: true, sort: 'id', offset: 0, limit: 10 })).rows.map(
          (r) => r.id,
        ),
        ['fl-2'],
      );
      assert.deepEqual(
        (await reg.fleetPage({ ...scope, q: 'SOUTH', sort: 'id', offset: 0, limit: 10 })).rows.map(
          (r) => r.id,
        ),
        ['fl-2'],
      );
      assert.deepEqual(await reg.fleetSummary(scope), {
        total: 2,
        online: 2,
        offline: 0,
        stale: 0,
        fallback: 0,
        alarms: 1,
      });
      assert.deepEqual(
        (await reg.fleetAlarms({ ...scope, limit: 10 })).map((a) => [a.site, a.kind, a.since]),
        [['fl-2', 'command_refused', t0 + 1]],
      );
      // Unscoped: fl-3 too (offline).
      const all = await reg.fleetPage({
        staleBefore: t0 - 60_000,
        refusedSince: t0 - 1000,
        q: 'fl-',
        status: 'offline',
        sort: 'id',
        offset: 0,
        limit: 10,
      });
      assert.deepEqual(
        all.rows.map((r) => r.id),
        ['fl-3'],
      );
    });

    it('appends audit entries in order', async () => {
      await reg.audit('user:ops', 'site.update', 'site-1', { feeder: 'F12' });
      await reg.audit('gateway:site-1', 'site.register', 'site-1');
      const log = await reg.listAudit({ target: 'site-1' });
      assert.deepEqual(
        log.map((e) => [e.actor, e.action]),
        [
          ['user:ops', 'site.update'],
          ['gateway:site-1', 'site.register'],
        ],
      );
      assert.deepEqual(log[0].detail, { feeder: 'F12' });
    });

    // Last in the contract: its concurrent transactions grow the PostgreSQL pool, and the group-commit
    // test above orders its writes by running them on as few connections as the pool holds.
    it('enrolment codes: used once (also when presented at the same time), refused when expired or unknown; revocation', async () => {
      await reg.createSite('site-enr');
      const t0 = Date.now();
      await reg.createEnrolmentCode({
        codeHash: 'e1'.repeat(32),
        siteId: 'site-enr',
        expiresAt: t0 + 60_000,
        createdBy: 'user:a',
      });
      await reg.createEnrolmentCode({
        codeHash: 'e2'.repeat(32),
        siteId: 'site-enr',
        expiresAt: t0 + 1000,
        createdBy: 'user:a',
      });
      // Five presentations of one code at once: exactly one stores its credential.
      const tries = await Promise.all(
        [1, 2, 3, 4, 5].map((i) =>
          reg.redeemEnrolmentCode('e1'.repeat(32), `${i}`.repeat(64), `10.0.0.${i}`, t0),
        ),
      );
      const won = tries.filter((r) => 'site' in r);
      assert.equal(won.length, 1, JSON.stringify(tries));
      assert.deepEqual(won[0], { site: 'site-enr' });
      assert.ok(tries.every((r) => 'site' in r || r.refused === 'used'));
      const winner = tries.findIndex((r) => 'site' in r) + 1;
      assert.equal(await reg.siteCredentialHash('site-enr'), `${winner}`.repeat(64));
      assert.deepEqual(await reg.redeemEnrolmentCode('e1'.repeat(32), 'f'.repeat(64), 'x', t0), {
        refused: 'used',
      });
      // Expired: at and after its expiry, and the credential is left alone.
      assert.deepEqual(await reg.redeemEnrolmentCode('e2'.repeat(32), 'f'.repeat(64), 'x', t0 + 1000), {
        refused: 'expired',
      });
      assert.deepEqual(await reg.redeemEnrolmentCode('e3'.repeat(32), 'f'.repeat(64), 'x', t0), {
        refused: 'unknown',
      });
      assert.equal(await reg.siteCredentialHash('site-enr'), `${winner}`.repeat(64));
      assert.equal(await reg.revokeSiteCredential('site-enr'), true);
      assert.equal(await reg.siteCredentialHash('site-enr'), undefined);
      assert.equal(await reg.revokeSiteCredential('site-enr'), false, 'nothing left to revoke');
    });
  });
}

let dir = '';
contract(
  'embedded SQLite',
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-reg-'));
    return openSqlite(join(dir, 'registry.db'));
  },
  async () => rmSync(dir, { recursive: true, force: true }),
  async (name) => openSqlite(join(dir, `${name}.db`)),
);

let server: RunningPostgres | undefined;
contract(
  'PostgreSQL 15 (real server)',
  async () => {
    server = await startPostgres();
    return openPostgres(server.connectionString);
  },
  async () => server?.stop(),
  async (name) => {
    const admin = openPostgres((server as RunningPostgres).connectionString);
    await admin.run(`CREATE DATABASE ${name}`);
    await admin.close();
    return openPostgres((server as RunningPostgres).connectionString.replace(/\/postgres$/, `/${name}`));
  },
);
