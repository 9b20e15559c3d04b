/**
 * Store-and-forward outbox for telemetry batches, in SQLite (WAL). Every batch is written here first
 * and deleted only when the broker acknowledged it (QoS 1 PUBACK), so a broker outage or a `kill -9`
 * of the agent loses nothing that reached this table. Rows keep their original sample timestamps and
 * replay in insertion order; the row id is the batch's `seq`, monotonic across restarts.
 * A size bound with an explicit drop policy (oldest or newest) keeps the flash from filling up; every
 * dropped batch is counted, persistently.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Sample } from '../protocols/mqtt/payloads.ts';

export interface BufferedBatch {
  seq: number;
  createdMs: number;
  /** Stored while the uplink was down: published with `replay: true`. */
  offline: boolean;
  samples: Sample[];
}

export interface BufferOptions {
  path: string;
  maxBatches: number;
  drop: 'oldest' | 'newest';
  synchronous?: 'NORMAL' | 'FULL';
}

export class TelemetryBuffer {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement;
  private readonly countStmt: Database.Statement;
  private readonly headStmt: Database.Statement;
  private readonly deleteStmt: Database.Statement;
  private readonly dropOldestStmt: Database.Statement;
  private readonly bumpStmt: Database.Statement;
  private readonly counterStmt: Database.Statement;
  private rows: number;

  constructor(private readonly opts: BufferOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        created_ms INTEGER NOT NULL,
        offline INTEGER NOT NULL,
        samples TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    this.insertStmt = this.db.prepare('INSERT INTO outbox (created_ms, offline, samples) VALUES (?, ?, ?)');
    this.countStmt = this.db.prepare('SELECT count(*) AS n FROM outbox');
    this.headStmt = this.db.prepare(
      'SELECT seq, created_ms, offline, samples FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.deleteStmt = this.db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.dropOldestStmt = this.db.prepare(
      'DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)',
    );
    this.bumpStmt = this.db.prepare(
      'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value',
    );
    this.counterStmt = this.db.prepare('SELECT value FROM counters WHERE name = ?');
    this.rows = (this.countStmt.get() as { n: number }).n;
  }

  /** Appends one batch; returns its seq, or undefined when the drop policy refused it. */
  append(samples: Sample[], offline: boolean, nowMs = Date.now()): number | undefined {
    if (samples.length === 0) return undefined;
    return this.db.transaction(() => {
      if (this.rows >= this.opts.maxBatches) {
        if (this.opts.drop === 'newest') {
          this.bumpStmt.run('dropped', 1);
          return undefined;
        }
        const excess = this.rows - this.opts.maxBatches + 1;
        const n = this.dropOldestStmt.run(excess).changes;
        this.rows -= n;
        this.bumpStmt.run('dropped', n);
      }
      const r = this.insertStmt.run(nowMs, offline ? 1 : 0, JSON.stringify(samples));
      this.rows++;
      return Number(r.lastInsertRowid);
    })();
  }

  /** Oldest batches after `afterSeq`, in order (none once closed: the agent is stopping). */
  peek(limit: number, afterSeq = 0): BufferedBatch[] {
    if (!this.db.open) return [];
    return (
      this.headStmt.all(afterSeq, limit) as Array<{
        seq: number;
        created_ms: number;
        offline: number;
        samples: string;
      }>
    ).map((r) => ({
      seq: r.seq,
      createdMs: r.created_ms,
      offline: r.offline === 1,
      samples: JSON.parse(r.samples) as Sample[],
    }));
  }

  /** Removes a batch once the broker has acknowledged it. */
  ack(seq: number): void {
    // A PUBACK that arrives after close (the agent closes its buffer first on stop) is dropped here:
    // the batch stays stored and is resent on the next start, a duplicate rather than a loss.
    if (!this.db.open) return;
    const n = this.deleteStmt.run(seq).changes;
    this.rows -= n;
    if (n) this.bumpStmt.run('published', 1);
  }

  get size(): number {
    return this.rows;
  }

  get dropped(): number {
    return (this.counterStmt.get('dropped') as { value: number } | undefined)?.value ?? 0;
  }

  get published(): number {
    return (this.counterStmt.get('published') as { value: number } | undefined)?.value ?? 0;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
