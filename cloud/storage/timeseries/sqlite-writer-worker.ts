import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { EncodedBatch } from './sqlite-batch.ts';
import { SqliteWriter } from './sqlite-writer.ts';

/**
 * The SQLite writer thread: owns the write connection, so a commit (and its fsync) runs while the main
 * thread keeps reading the broker's sockets. Messages: {id, batch} → {id} or {id, error}; {close} ends.
 */
const { path, synchronous } = workerData as { path: string; synchronous: 'FULL' | 'NORMAL' };
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${synchronous}`);
db.pragma('busy_timeout = 5000');
// A checkpoint runs inside the commit that crosses the WAL size limit (and holds up every message of
// that commit). Each commit rewrites the same pages (each series' newest leaf, the latest values), so
// a checkpoint copies the distinct pages once however many commits rewrote them: 8,192 pages (32 MB
// at most) between checkpoints instead of SQLite's 1,000 makes them ~8x rarer at nearly the same cost
// each. The file is cut back to 64 MB after a checkpoint.
db.pragma('wal_autocheckpoint = 8192');
db.pragma(`journal_size_limit = ${64 * 2 ** 20}`);
const writer = new SqliteWriter(db);
const port = parentPort as NonNullable<typeof parentPort>;
port.on('message', (m: { id: number; batch: EncodedBatch } | { close: true }) => {
  if ('close' in m) {
    db.close();
    port.close();
    return;
  }
  try {
    writer.apply(m.batch);
    port.postMessage({ id: m.id });
  } catch (err) {
    port.postMessage({ id: m.id, error: (err as Error).message });
  }
});
port.postMessage({ ready: true });
