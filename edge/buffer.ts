/**
 * Store-and-forward buffer for telemetry, in SQLite (WAL), in two steps:
 *
 * 1. `stage()`: every poll cycle's samples are appended to `pending` in one transaction before the poll
 *    cycle returns. Guarantee: **a sample is durable once the poll cycle that read it has returned**.
 *    With synchronous=NORMAL (default) the commit is in the WAL file: it survives `kill -9`, a crash or
 *    an OOM kill of the agent, but a power cut may lose the commits since the last WAL sync (at most
 *    the last checkpoint interval; the file stays consistent). With synchronous=FULL every poll's commit
 *    is fsynced: it survives a power cut too, at one flash write per poll.
 * 2. `seal()`: every batch interval the staged samples become outbox batches (MQTT messages) in one
 *    transaction, so batching to MQTT costs nothing in durability. Samples staged but not sealed when
 *    the agent died are sealed on the next start, as replayed (offline) batches.
 *
 * An outbox row is deleted only when the broker acknowledged it (QoS 1 PUBACK). Rows keep their
 * original sample timestamps and replay in insertion order; the row id is the batch's `seq`, monotonic
 * across restarts. A size bound with an explicit drop policy (oldest or newest) keeps the flash from
 * filling up; every dropped batch is counted, persistently.
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

export interface RawBatch extends Omit<BufferedBatch, 'samples'> {
  /** The batch's samples as a JSON array (as stored). */
  samplesJson: string;
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
  private readonly stageStmt: Database.Statement;
  private readonly stagedStmt: Database.Statement;
  private readonly unstageStmt: Database.Statement;
  private readonly stageTx: (jsons: string[]) => void;
  private readonly sealTx: (offline: boolean, maxPerBatch: number, nowMs: number) => number[];
  private readonly appendTx: (samples: string, offline: boolean, nowMs: number) => number | undefined;
  private readonly ackTx: (seqs: readonly number[]) => void;
  private rows: number;
  private staged: number;

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
      CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, sample TEXT NOT NULL);
    `);
    this.stageStmt = this.db.prepare('INSERT INTO pending (sample) VALUES (?)');
    this.stagedStmt = this.db.prepare('SELECT id, sample FROM pending ORDER BY id');
    this.unstageStmt = this.db.prepare('DELETE FROM pending WHERE id <= ?');
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
    // Transaction wrappers made once: better-sqlite3 builds a new one per db.transaction() call, which
    // showed in the agent's CPU profile at one call per poll.
    this.stageTx = this.db.transaction((jsons: string[]) => {
      for (const j of jsons) this.stageStmt.run(j);
    });
    this.sealTx = this.db.transaction((offline: boolean, maxPerBatch: number, nowMs: number) => {
      const rows = this.stagedStmt.all() as { id: number; sample: string }[];
      const seqs: number[] = [];
      for (let i = 0; i < rows.length; i += maxPerBatch) {
        const chunk = rows.slice(i, i + maxPerBatch);
        const seq = this.appendRaw(`[${chunk.map((r) => r.sample).join(',')}]`, offline, nowMs);
        if (seq !== undefined) seqs.push(seq);
      }
      if (rows.length) this.unstageStmt.run(rows[rows.length - 1].id);
      this.staged = 0;
      return seqs;
    });
    this.appendTx = this.db.transaction((samples: string, offline: boolean, nowMs: number) => {
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
      return this.insertRow(samples, offline, nowMs);
    });
    this.ackTx = this.db.transaction((seqs: readonly number[]) => {
      let n = 0;
      for (const seq of seqs) n += this.deleteStmt.run(seq).changes;
      this.rows -= n;
      if (n) this.bumpStmt.run('published', n);
    });
    this.rows = (this.countStmt.get() as { n: number }).n;
    this.staged = (this.db.prepare('SELECT count(*) AS n FROM pending').get() as { n: number }).n;
  }

  /**
   * Appends one poll cycle's samples to the durable staging table (one transaction); they are durable
   * when this returns (see the class comment for what NORMAL vs FULL means on power loss).
   */
  stage(samples: Sample[]): void {
    if (samples.length === 0) return;
    // One row: a single INSERT is its own atomic commit, without BEGIN/COMMIT round trips.
    if (samples.length === 1) this.stageStmt.run(JSON.stringify(samples[0]));
    else this.stageTx(samples.map((x) => JSON.stringify(x)));
    this.staged += samples.length;
  }

  /** Samples staged and not yet sealed into a batch. */
  get stagedSamples(): number {
    return this.staged;
  }

  /**
   * Moves every staged sample into outbox batches of at most `maxPerBatch`, in one transaction (a
   * crash leaves them either staged or batched, never both or neither). Returns the new batches' seqs.
   */
  seal(offline: boolean, maxPerBatch: number, nowMs = Date.now()): number[] {
    if (this.staged === 0) return [];
    return this.sealTx(offline, maxPerBatch, nowMs);
  }

  /** Appends one batch; returns its seq, or undefined when the drop policy refused it. */
  append(samples: Sample[], offline: boolean, nowMs = Date.now()): number | undefined {
    if (samples.length === 0) return undefined;
    return this.appendRaw(JSON.stringify(samples), offline, nowMs);
  }

  /** As append, returning the stored batch (the uplink can publish it without reading it back). */
  appendBatch(samples: Sample[], offline: boolean, nowMs = Date.now()): RawBatch | undefined {
    if (samples.length === 0) return undefined;
    const samplesJson = JSON.stringify(samples);
    const seq = this.appendRaw(samplesJson, offline, nowMs);
    return seq === undefined ? undefined : { seq, createdMs: nowMs, offline, samplesJson };
  }

  /** `samples`: the batch's sample array as JSON. */
  private appendRaw(samples: string, offline: boolean, nowMs: number): number | undefined {
    // Below the bound a single INSERT (its own atomic commit); at the bound drop and insert together.
    if (this.rows < this.opts.maxBatches) return this.insertRow(samples, offline, nowMs);
    return this.appendTx(samples, offline, nowMs);
  }

  private insertRow(samples: string, offline: boolean, nowMs: number): number {
    const r = this.insertStmt.run(nowMs, offline ? 1 : 0, samples);
    this.rows++;
    return Number(r.lastInsertRowid);
  }

  /** Oldest batches after `afterSeq`, in order (none once closed: the agent is stopping). */
  peek(limit: number, afterSeq = 0): BufferedBatch[] {
    return this.peekRaw(limit, afterSeq).map(({ samplesJson, ...b }) => ({
      ...b,
      samples: JSON.parse(samplesJson) as Sample[],
    }));
  }

  /**
   * As peek, with each batch's samples as the stored JSON array text: the uplink splices it into the
   * MQTT payload as is (parsing and re-serializing every sample was a large part of the agent's CPU).
   */
  peekRaw(limit: number, afterSeq = 0): RawBatch[] {
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
      samplesJson: r.samples,
    }));
  }

  /** Removes a batch once the broker has acknowledged it. */
  ack(seq: number): void {
    this.ackMany([seq]);
  }

  /** Removes acknowledged batches in one transaction (one commit for a burst of PUBACKs). */
  ackMany(seqs: readonly number[]): void {
    // A PUBACK that arrives after close (the agent closes its buffer first on stop) is dropped here:
    // the batch stays stored and is resent on the next start, a duplicate rather than a loss.
    if (!this.db.open || seqs.length === 0) return;
    this.ackTx(seqs);
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
