import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningPostgres, startPostgres } from '../../test-support/postgres.ts';
import { openPostgres, openSqlite, type SqlDb } from '../storage/registry/db.ts';
import { Registry } from '../storage/registry/registry.ts';
import type { Dispatch, PerformanceInterval } from './dispatch.ts';
import { DispatchStore } from './store.ts';

const T0 = Date.UTC(2026, 5, 21, 12);
const interval = (k: number, samples: number): PerformanceInterval => ({
  start: T0 + k * 60_000,
  end: T0 + (k + 1) * 60_000,
  baselineW: -1000,
  targetW: 2000,
  deliveredW: 1900 + k,
  errorW: -100 + k,
  errorPct: 3.3,
  samples,
});
function dispatch(id: string, status: Dispatch['status'], createdAt: number): Dispatch {
  return {
    id,
    group: 'vpp1',
    sites: ['site-a', 'site-b'],
    target: { kind: 'change', w: 3000 },
    start: T0,
    end: T0 + 3_600_000,
    allowPartial: false,
    intervalMs: 60_000,
    requestedBy: 'user:ops',
    createdAt,
    status,
    baseline: { method: 'mean', w: -1000, from: T0 - 300_000, to: T0, sitesFromLatest: [] },
    targetMeterW: 2000,
    feasibility: { feasible: true } as Dispatch['feasibility'],
    progress: {
      ticks: 3,
      lastTickAt: T0 + 8000,
      measuredW: 1900,
      uncontrolledW: -4000,
      allocatedW: 5900,
      shortfallW: 0,
      firstCommandAt: T0 + 10,
      commandsSent: 4,
      commandErrors: 0,
    },
    devices: [
      {
        site: 'site-a',
        id: 'bat',
        kind: 'battery',
        state: 'ok',
        setpointW: 2950,
        ratingW: 5000,
        lastCommand: { id: 'cmd_x', w: 2950, sentAt: T0, expiresAt: T0 + 10_000, status: 'acknowledged' },
      },
    ],
    intervals: [],
  };
}

function contract(name: string, open: () => Promise<SqlDb>, cleanup: () => Promise<void>) {
  describe(`VPP dispatch store: ${name}`, function () {
    this.timeout(60_000);
    let db: SqlDb;
    let store: DispatchStore<Dispatch>;
    before(async () => {
      db = await open();
      await new Registry(db).init(); // migration 8 creates the tables
      store = new DispatchStore(db);
    });
    after(async () => {
      await db?.close();
      await cleanup();
    });

    it('round-trips a dispatch, upserts it and its intervals, and loads open and finished ones', async () => {
      const d = dispatch('dsp_1', 'active', T0);
      d.intervals.push(interval(0, 4));
      await store.save(d);
      // The loop goes on: the first interval grows, a second begins; only the latest is written.
      d.intervals[0] = interval(0, 15);
      await store.save(d);
      d.intervals.push(interval(1, 2));
      d.progress.ticks = 17;
      await store.save(d);
      await store.save(dispatch('dsp_0', 'completed', T0 - 1));

      const loaded = await store.load();
      assert.deepEqual(
        loaded.map((x) => [x.id, x.status]),
        [
          ['dsp_0', 'completed'],
          ['dsp_1', 'active'],
        ],
      );
      const back = loaded[1];
      assert.equal(back.progress.ticks, 17);
      assert.deepEqual(
        back.intervals.map((i) => [i.start, i.samples]),
        [
          [T0, 15],
          [T0 + 60_000, 2],
        ],
      );
      assert.deepEqual(back.devices, d.devices);
      assert.deepEqual({ ...back, intervals: [] }, { ...d, intervals: [] });
      const [row] = await db.all<{ n: number }>('SELECT count(*) AS n FROM vpp_dispatch_intervals');
      assert.equal(Number(row.n), 2);
    });
  });
}

let dir = '';
contract(
  'embedded SQLite',
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridlayer-dsp-'));
    return openSqlite(join(dir, 'registry.db'));
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);

let server: RunningPostgres | undefined;
contract(
  'PostgreSQL 15 (real server)',
  async () => {
    server = await startPostgres();
    return openPostgres(server.connectionString);
  },
  async () => server?.stop(),
);
