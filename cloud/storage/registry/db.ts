import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export type Param = string | number | null;

/**
 * The little SQL surface the registry needs, over SQLite (embedded) and PostgreSQL. Statements are
 * written once in the common dialect with `?` placeholders (rewritten to $n for PostgreSQL).
 */
export interface SqlDb {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Record<string, unknown>>(sql: string, params?: Param[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: Param[]): Promise<number>;
  /** Runs fn in one transaction (committed if it resolves, rolled back if it throws). */
  tx<T>(fn: (db: SqlDb) => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Distinct statement texts kept prepared per SQLite connection. */
const STATEMENT_CACHE = 256;
/** Operations (statements or whole transactions) committed together at most. */
const GROUP_MAX = 5000;

type Op =
  | { kind: 'run' | 'all'; sql: string; params: Param[]; settle: Settle }
  | { kind: 'tx'; fn: (db: SqlDb) => Promise<unknown>; settle: Settle };
type Settle = (err: unknown, value?: unknown) => void;

/**
 * SQLite (better-sqlite3: synchronous, on the calling thread), synchronous=FULL: a commit is on disk
 * before it returns, one fsync per commit.
 *
 * Group commit: every statement and transaction asked for in one turn of the event loop runs, in
 * the order asked, inside ONE physical transaction with one fsync (ingest of a reconnecting fleet,
 * a dispatch step's acks). Each caller's promise settles only after that COMMIT, so nothing is
 * reported stored before it is on disk. A caller's transaction runs inside a SAVEPOINT: when it
 * throws, only its own work is rolled back; a failing single statement is undone by SQLite alone.
 * If the commit fails (or SQLite abandons the transaction: disk full, I/O error), every operation of
 * the group fails. Operations run one after another, never interleaved, like SQLite's one
 * connection requires.
 */
export function openSqlite(path: string): SqlDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Prepared once per statement text: preparing costs more than running a small statement. Texts
  // with generated IN (…) lists vary, so the cache is bounded (cleared when full).
  const cache = new Map<string, Database.Statement>();
  const stmt = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      if (cache.size >= STATEMENT_CACHE) cache.clear();
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  const exec = (kind: 'run' | 'all', sql: string, params: Param[]) =>
    kind === 'run' ? stmt(sql).run(...params).changes : stmt(sql).all(...params);
  const inTx: SqlDb = {
    dialect: 'sqlite',
    all: async <T>(sql: string, params: Param[] = []) => exec('all', sql, params) as T[],
    run: async (sql: string, params: Param[] = []) => exec('run', sql, params) as number,
    tx: (fn) => fn(inTx),
    ping: async () => db.open,
    close: async () => undefined,
  };

  const queue: Op[] = [];
  /** Next operation to run (ops before it are in the group being committed). */
  let head = 0;
  let scheduled = false;
  let flushing = false;
  let drained: (() => void)[] = [];
  const schedule = () => {
    if (scheduled || flushing || !queue.length) return;
    scheduled = true;
    setImmediate(() => void flush());
  };
  const flush = async () => {
    scheduled = false;
    flushing = true;
    const ok: { op: Op; value: unknown }[] = [];
    const failed: { op: Op; err: unknown }[] = [];
    try {
      if (!db.open) throw new Error('registry database closed');
      db.exec('BEGIN IMMEDIATE');
      // Taken in order (not shift(): that moves the whole queue each time, quadratic in a burst).
      for (let n = 0; head < queue.length && n < GROUP_MAX; n++) {
        const op = queue[head++];
        if (op.kind === 'tx') {
          db.exec('SAVEPOINT op');
          try {
            const value = await op.fn(inTx);
            db.exec('RELEASE op');
            ok.push({ op, value });
          } catch (err) {
            if (db.inTransaction) db.exec('ROLLBACK TO op; RELEASE op');
            failed.push({ op, err });
          }
        } else {
          try {
            ok.push({ op, value: exec(op.kind, op.sql, op.params) });
          } catch (err) {
            failed.push({ op, err });
          }
        }
        if (!db.inTransaction) throw new Error('SQLite rolled the transaction back');
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.open && db.inTransaction) db.exec('ROLLBACK');
      for (const o of ok.splice(0)) failed.push({ op: o.op, err });
      // Still queued when the database was closed: they fail too rather than hang.
      if (!db.open) for (const op of queue.splice(head)) failed.push({ op, err });
    } finally {
      flushing = false;
      queue.splice(0, head);
      head = 0;
    }
    for (const o of ok) o.op.settle(undefined, o.value);
    for (const f of failed) f.op.settle(f.err);
    if (queue.length) schedule();
    else for (const d of drained.splice(0)) d();
  };
  const submit = <T>(op: (settle: Settle) => Op) =>
    new Promise<T>((resolve, reject) => {
      queue.push(op((err, value) => (err === undefined ? resolve(value as T) : reject(err))));
      schedule();
    });
  drained = [];
  return {
    dialect: 'sqlite',
    all: <T>(sql: string, params: Param[] = []) =>
      submit<T[]>((settle) => ({ kind: 'all', sql, params, settle })),
    run: (sql: string, params: Param[] = []) =>
      submit<number>((settle) => ({ kind: 'run', sql, params, settle })),
    tx: <T>(fn: (db: SqlDb) => Promise<T>) =>
      submit<T>((settle) => ({ kind: 'tx', fn: fn as (db: SqlDb) => Promise<unknown>, settle })),
    ping: async () => db.open,
    close: async () => {
      // What was asked for before the close is committed first.
      if (queue.length || flushing || scheduled) await new Promise<void>((r) => drained.push(r));
      if (db.open) db.close();
    },
  };
}

// BIGINT (epoch ms) comes back from pg as a string by default; every value we store fits a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

function toPg(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export function openPostgres(connectionString: string, poolSize = 10): SqlDb {
  const pool = new pg.Pool({ connectionString, max: poolSize });
  // An idle client losing its connection must not crash the service; the pool replaces it.
  pool.on('error', () => undefined);
  const over = (q: { query: pg.Pool['query'] }): Omit<SqlDb, 'tx' | 'close' | 'ping' | 'dialect'> => ({
    all: async <T>(sql: string, params: Param[] = []) => (await q.query(toPg(sql), params)).rows as T[],
    run: async (sql: string, params: Param[] = []) => (await q.query(toPg(sql), params)).rowCount ?? 0,
  });
  return {
    dialect: 'postgres',
    ...over(pool),
    async tx(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const inTx: SqlDb = {
          dialect: 'postgres',
          ...over(client as unknown as { query: pg.Pool['query'] }),
          tx: (f) => f(inTx),
          ping: async () => true,
          close: async () => undefined,
        };
        const r = await fn(inTx);
        await client.query('COMMIT');
        return r;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    close: () => pool.end(),
  };
}
