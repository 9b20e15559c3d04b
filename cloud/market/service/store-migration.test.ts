import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningPostgres, startPostgres } from '../../../test-support/postgres.ts';
import { openPostgres, openSqlite, type SqlDb } from '../../storage/registry/db.ts';
import { MIGRATIONS, migrate } from '../../storage/registry/migrations.ts';
import { MarketStore } from './store.ts';
import { MarketFormsStore } from './store-forms.ts';

/**
 * Migration 5 on SQLite and a real PostgreSQL server: a database written before it (P2P interval
 * closes stored as market 'RT', next to a real RT market run) is migrated in place; afterwards the
 * old close reads as a P2P run with its awards and ledger, and RT lists only the real RT run.
 */
const T = Date.UTC(2030, 0, 2, 12);

function suite(name: string, open: () => Promise<SqlDb>, cleanup: () => Promise<void>) {
  describe(`market store migrations 5-6: P2P closes get their own run kind; screening per product (${name})`, function () {
    this.timeout(60000);
    let db: SqlDb;
    before(async () => {
      db = await open();
      // The schema as it was before migration 5, recorded like migrate() does.
      await db.run(
        'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      for (const m of MIGRATIONS.filter((x) => x.id <= 4)) {
        for (const s of m.statements) await db.run(s);
        await db.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [
          m.id,
          m.name,
          0,
        ]);
      }
      // What the old code stored: a P2P close and a real-time market run, both as 'RT'.
      const store = new MarketStore(db);
      for (const [id, resource] of [
        ['p2p_old1', 'pv-a'],
        ['rt_old1', 'bat-b'],
      ] as const)
        await store.saveRun(
          {
            id,
            market: 'RT',
            intervalStart: id.startsWith('p2p') ? T : T + 300_000,
            intervalEnd: T + 3_600_000,
            runAt: T,
            runBy: 'dso',
            summary: id.startsWith('p2p') ? { marketForm: 'p2p', trades: 1 } : { interfacePrice: 40 },
          },
          [
            {
              runId: id,
              market: 'RT',
              resource,
              participant: 'sunco',
              bus: '1',
              intervalStart: T,
              product: 'energy',
              awardW: 4000,
              deviationW: null,
              pricePerMWh: 30,
            },
          ],
          [],
          [{ period: T, from: 'homeco', to: 'sunco', cents: 12, kind: 'p2p_trade', ref: 'trade_1' }],
        );
      // A DGO screening row as stored before migration 6 (no product column).
      await db.run(
        `INSERT INTO market_screening (run_id, resource, participant, bus, interval_start, award_w, screened_w,
         status, reason) VALUES ('rt_old1', 'bat-b', 'agg', '1', ?, 4000, 3000, 'curtailed', 'voltage')`,
        [T],
      );
    });
    after(async () => {
      await db?.close();
      await cleanup();
    });

    it('moves the old P2P close to kind P2P and leaves the real RT run alone; idempotent', async () => {
      // Migration 5 (the P2P move) and every later one apply once, in order.
      const later = MIGRATIONS.filter((m) => m.id > 4).map((m) => m.id);
      assert.equal(later[0], 5);
      assert.deepEqual(await migrate(db), later);
      assert.deepEqual(await migrate(db), []);
      const store = new MarketStore(db);
      assert.deepEqual(
        (await store.runs({ market: 'RT' })).map((r) => r.id),
        ['rt_old1'],
      );
      const [p2p] = await store.runs({ market: 'P2P' });
      assert.equal(p2p.id, 'p2p_old1');
      assert.deepEqual(p2p.summary, { marketForm: 'p2p', trades: 1 });
      assert.deepEqual(
        (await store.awards({ market: 'P2P' })).map((a) => [a.runId, a.resource, a.awardW]),
        [['p2p_old1', 'pv-a', 4000]],
      );
      assert.deepEqual(
        (await store.awards({ market: 'RT' })).map((a) => a.runId),
        ['rt_old1'],
      );
      const ledger = await store.ledger({ market: 'P2P' });
      assert.deepEqual(
        ledger.map((e) => [e.runId, e.cents, e.kind]),
        [['p2p_old1', 12, 'p2p_trade']],
      );
      assert.deepEqual(
        (await store.ledger({ market: 'RT' })).map((e) => e.runId),
        ['rt_old1'],
      );
    });

    it('migration 6: old screening rows read as energy; an ancillary row for the same resource and hour fits beside it', async () => {
      const forms = new MarketFormsStore(db);
      await forms.saveScreening([
        {
          runId: 'rt_old1',
          resource: 'bat-b',
          product: 'reg_up',
          participant: 'agg',
          bus: '1',
          intervalStart: T,
          awardW: 2000,
          screenedW: 2000,
          status: 'feasible',
          reason: null,
        },
      ]);
      assert.deepEqual(
        (await forms.screening()).map((s) => [s.resource, s.product, s.screenedW, s.status]),
        [
          ['bat-b', 'energy', 3000, 'curtailed'],
          ['bat-b', 'reg_up', 2000, 'feasible'],
        ],
      );
      assert.deepEqual(
        (await forms.screening({ product: 'energy' })).map((s) => s.product),
        ['energy'],
      );
    });
  });
}

let dir = '';
suite(
  'SQLite',
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-mig5-'));
    return openSqlite(join(dir, 'registry.db'));
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);

let server: RunningPostgres | undefined;
suite(
  'PostgreSQL 15, real server',
  async () => {
    server = await startPostgres();
    return openPostgres(server.connectionString);
  },
  async () => server?.stop(),
);
