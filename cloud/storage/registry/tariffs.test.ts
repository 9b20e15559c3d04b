import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningPostgres, startPostgres } from '../../../test-support/postgres.ts';
import { tariffVersionInputSchema } from '../../tariffs/schema.ts';
import { openPostgres, openSqlite, type SqlDb } from './db.ts';
import { Registry } from './registry.ts';
import { TariffStore } from './tariffs.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const body = (validFrom: number, rate: number, validTo?: number) =>
  tariffVersionInputSchema.parse({
    name: 'flat',
    timezone: 'UTC',
    validFrom,
    ...(validTo !== undefined && { validTo }),
    energy: { kind: 'tou', periods: [{ id: 'flat', ratePerKwh: rate }], defaultPeriod: 'flat' },
  });

function contract(name: string, open: () => Promise<SqlDb>, cleanup: () => Promise<void>) {
  describe(`tariff store: ${name}`, function () {
    this.timeout(60_000);
    let db: SqlDb;
    let s: TariffStore;
    before(async () => {
      db = await open();
      const reg = new Registry(db);
      await reg.init();
      await reg.createSite('site-1');
      s = new TariffStore(db);
    });
    after(async () => {
      await db?.close();
      await cleanup();
    });

    it('numbers versions and cuts the previous one where the next begins', async () => {
      assert.equal((await s.addVersion('flat', body(T0, 0.1), 'op')).version, 1);
      assert.equal((await s.addVersion('flat', body(T0 + 30 * DAY, 0.2), 'op')).version, 2);
      const v = await s.versions('flat');
      assert.deepEqual(
        v.map((x) => [
          x.version,
          x.validFrom,
          x.validTo,
          x.energy.kind === 'tou' && x.energy.periods[0].ratePerKwh,
        ]),
        [
          [1, T0, T0 + 30 * DAY, 0.1],
          [2, T0 + 30 * DAY, undefined, 0.2],
        ],
      );
      assert.equal('validTo' in v[1], false, 'an open-ended version has no validTo');
    });

    it('refuses a version starting no later than the latest, and changes nothing', async () => {
      const before = await s.versions('flat');
      await assert.rejects(
        s.addVersion('flat', body(T0 + 30 * DAY, 0.3), 'op'),
        /a new version must start later/,
      );
      assert.deepEqual(await s.versions('flat'), before);
    });

    it('keeps CPP events and the site assignment (replaced, not duplicated)', async () => {
      await s.addCppEvent(
        'flat',
        { id: 'e1', start: T0 + DAY, end: T0 + DAY + 3_600_000, notifiedAt: T0 },
        'op',
      );
      await assert.rejects(
        s.addCppEvent('flat', { id: 'e1', start: T0, end: T0 + 1, notifiedAt: T0 }, 'op'),
        /already has CPP event e1/,
      );
      assert.deepEqual(await s.cppEvents('flat', T0, T0 + 2 * DAY), [
        { id: 'e1', start: T0 + DAY, end: T0 + DAY + 3_600_000, notifiedAt: T0 },
      ]);
      assert.deepEqual(await s.cppEvents('flat', T0 + 2 * DAY, T0 + 3 * DAY), []);
      await s.assign('site-1', 'flat', 'LV', 'op', 5);
      await s.assign('site-1', 'flat', 'MV', 'rita', 6);
      assert.deepEqual(await s.assignment('site-1'), {
        site: 'site-1',
        tariff: 'flat',
        voltageLevel: 'MV',
        assignedBy: 'rita',
        assignedAt: 6,
      });
      assert.deepEqual(
        (await s.list()).map((x) => [x.tariff, x.versions, x.latest.version]),
        [['flat', 2, 2]],
      );
    });
  });
}

let dir = '';
contract(
  'embedded SQLite',
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-tariffs-'));
    return openSqlite(join(dir, 'registry.db'));
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);

let server: RunningPostgres | undefined;
contract(
  'PostgreSQL (real server)',
  async () => {
    server = await startPostgres();
    return openPostgres(server.connectionString);
  },
  async () => server?.stop(),
);
