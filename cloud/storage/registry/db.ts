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

/** Serializes async sections: SQLite has one connection, so a transaction must not interleave. */
class Mutex {
  private last: Promise<void> = Promise.resolve();
  async lock<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.last;
    let release!: () => void;
    this.last = new Promise<void>((r) => {
      release = r;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Distinct statement texts kept prepared per SQLite connection. */
const STATEMENT_CACHE = 256;

/**
 * SQLite (better-sqlite3: synchronous, on the calling thread). synchronous=FULL: a commit is on disk
 * before it returns, one fsync per transaction, so hot paths write many rows per transaction (the
 * command pipeline stores a whole dispatch step's commands and audit rows in one).
 */
export function openSqlite(path: string): SqlDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  const mutex = new Mutex();
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
  const direct = {
    all: async <T>(sql: string, params: Param[] = []) => stmt(sql).all(...params) as T[],
    run: async (sql: string, params: Param[] = []) => stmt(sql).run(...params).changes,
  };
  const inTx: SqlDb = {
    dialect: 'sqlite',
    ...direct,
    tx: (fn) => fn(inTx),
    ping: async () => db.open,
    close: async () => undefined,
  };
  const self: SqlDb = {
    dialect: 'sqlite',
    all: (sql, params) => mutex.lock(() => direct.all(sql, params)),
    run: (sql, params) => mutex.lock(() => direct.run(sql, params)),
    tx: (fn) =>
      mutex.lock(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const r = await fn(inTx);
          db.exec('COMMIT');
          return r;
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      }),
    ping: async () => db.open,
    close: async () => {
      if (db.open) db.close();
    },
  };
  return self;
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
