/**
 * Every sample the edge has polled survives kill -9 of the edge: real processes (cloud, simulated site,
 * edge agent), the edge killed with SIGKILL after a number of polls the test picks (seeded, logged),
 * restarted, and every sample it had logged as buffered counted in the cloud's store: present exactly
 * once. The edge logs "sample buffered" after the poll's durable append (edge/buffer.ts), which is the
 * guarantee under test: a sample is durable once the poll cycle that read it has returned.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import type { ManagedProcess } from '../test-support/process.ts';
import { HilCloud, hilDir, startSite, waitUntil } from './harness.ts';

const SEED = Number(process.env.GRIDLAYER_TEST_SEED ?? 15);

/** Parses the edge's JSON log lines as they come; collects every "sample buffered" (device, ts). */
function buffered(edge: ManagedProcess): { samples: Set<string>; closed: Promise<void> } {
  const samples = new Set<string>();
  const rl = createInterface({ input: edge.child.stdout as NodeJS.ReadableStream });
  rl.on('line', (line) => {
    try {
      const j = JSON.parse(line);
      if (j.msg === 'sample buffered') samples.add(`${j.device}@${j.ts}`);
    } catch {}
  });
  return { samples, closed: new Promise((r) => rl.once('close', () => r())) };
}

describe('HIL: polled samples survive kill -9 of the edge', function () {
  this.timeout(120_000);
  const { dir, cleanup } = hilDir();
  const cloud = new HilCloud(dir);
  let site: Awaited<ReturnType<typeof startSite>> | undefined;
  after(async () => {
    await site?.stop();
    await cloud.stop();
    cleanup();
  });

  it('every sample logged as buffered before the kill reaches the cloud store exactly once', async () => {
    await cloud.start();
    // Long batch window (3 s) with fast polls: a kill lands with many polled samples not yet batched.
    site = await startSite(cloud, dir, 'k9', {
      pollMs: 200,
      logLevel: 'debug',
      uplink: { batchMs: 3000 },
    });
    const s = site;
    const first = buffered(s.edge as ManagedProcess);
    // Kill after N buffered samples, N from the seed: sometimes inside the first batch window,
    // sometimes after a few batches were published.
    const n = 20 + ((SEED * 7919) % 61);
    console.log(`      seed ${SEED}: kill -9 after ${n} buffered samples`);
    await waitUntil(`${n} samples buffered`, () => first.samples.size >= n || undefined, 60_000);
    s.edge?.child.kill('SIGKILL');
    await first.closed; // every line it wrote before dying has been read
    const polled = [...first.samples];
    assert.ok(polled.length >= n);

    await s.startEdge();
    const tsDb = join(dir, 'data', 'ts.db');
    const storedCounts = () => {
      const db = new Database(tsDb, { readonly: true, fileMustExist: true });
      try {
        const rows = db
          .prepare(
            `SELECT se.device AS device, ds.ts AS ts, count(*) AS n FROM device_samples ds
             JOIN series se ON se.id = ds.series WHERE se.site = 'k9' GROUP BY se.device, ds.ts`,
          )
          .all() as { device: string; ts: number; n: number }[];
        return new Map(rows.map((r) => [`${r.device}@${r.ts}`, r.n]));
      } finally {
        db.close();
      }
    };
    // Bounded wait; what is still missing then is reported as lost below.
    await waitUntil(
      'every sample buffered before the kill stored in the cloud',
      () => polled.every((k) => storedCounts().has(k)) || undefined,
      30_000,
    ).catch(() => undefined);
    const stored = storedCounts();
    const missing = polled.filter((k) => !stored.has(k));
    assert.deepEqual(missing, [], `${missing.length} of ${polled.length} polled samples lost`);
    const twice = polled.filter((k) => stored.get(k) !== 1);
    assert.deepEqual(twice, [], 'stored more than once');
    // Nothing beside them in their time span either, but for at most one sample per device that was
    // made durable and not yet logged when the kill came.
    const times = polled.map((k) => Number(k.split('@')[1]));
    const [lo, hi] = [Math.min(...times), Math.max(...times)];
    const unlogged = [...stored.keys()].filter((k) => {
      const ts = Number(k.split('@')[1]);
      return ts >= lo && ts <= hi && !first.samples.has(k);
    });
    assert.ok(unlogged.length <= 3, `unexpected stored samples: ${unlogged.join(', ')}`);
    // Nothing of it was refused by the cloud (the simulated site's values are all plausible).
    const quarantined = await cloud.ok<{ count: number }>('GET', '/sites/k9/telemetry/quarantine?limit=1');
    assert.equal(quarantined.count, 0);
  });
});
