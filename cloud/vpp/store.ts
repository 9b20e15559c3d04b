/**
 * Dispatches in the registry database (SQLite or PostgreSQL, migration 7), so that an open dispatch
 * survives a restart of the cloud and the record of a finished one stays. One row per dispatch (its
 * JSON without the performance intervals) and one row per performance interval, upserted as the loop
 * goes, so a long dispatch does not rewrite its whole history every tick.
 */
import type { SqlDb } from '../storage/registry/db.ts';

/** Finished dispatches are kept in the database for ever; this many recent ones are loaded at start. */
const RECENT_LIMIT = 500;

/**
 * What the store itself reads of a dispatch: the columns it indexes and the intervals it keeps in
 * rows of their own. The rest travels as JSON. The full record (`Dispatch` in dispatch.ts) is the type
 * parameter, so the store needs nothing of the dispatch loop and the two do not import each other.
 */
export interface StoredDispatch {
  id: string;
  group: string;
  status: string;
  start: number;
  end: number;
  createdAt: number;
  intervals: readonly { start: number }[];
}

export class DispatchStore<D extends StoredDispatch = StoredDispatch> {
  constructor(private readonly db: SqlDb) {}

  /** Upserts the dispatch and the given intervals (by default the latest one only). */
  async save(d: D, intervals: StoredDispatch['intervals'] = d.intervals.slice(-1)): Promise<void> {
    const { intervals: _all, ...rest } = d;
    await this.db.tx(async (db) => {
      await db.run(
        `INSERT INTO vpp_dispatches (id, group_id, status, start_ts, end_ts, body, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, start_ts = excluded.start_ts,
           end_ts = excluded.end_ts, body = excluded.body, updated_at = excluded.updated_at`,
        [d.id, d.group, d.status, d.start, d.end, JSON.stringify(rest), d.createdAt, Date.now()],
      );
      for (const iv of intervals)
        await db.run(
          `INSERT INTO vpp_dispatch_intervals (dispatch_id, start_ts, body) VALUES (?, ?, ?)
           ON CONFLICT (dispatch_id, start_ts) DO UPDATE SET body = excluded.body`,
          [d.id, iv.start, JSON.stringify(iv)],
        );
    });
  }

  /** Every open dispatch and the most recent finished ones, with their intervals in time order. */
  async load(): Promise<D[]> {
    const open = await this.db.all<{ id: string; body: string }>(
      `SELECT id, body FROM vpp_dispatches WHERE status IN ('scheduled', 'active') ORDER BY created_at`,
    );
    const recent = await this.db.all<{ id: string; body: string }>(
      `SELECT id, body FROM vpp_dispatches WHERE status NOT IN ('scheduled', 'active')
       ORDER BY updated_at DESC LIMIT ?`,
      [RECENT_LIMIT],
    );
    const out: D[] = [];
    for (const r of [...recent.reverse(), ...open]) {
      const ivs = await this.db.all<{ body: string }>(
        'SELECT body FROM vpp_dispatch_intervals WHERE dispatch_id = ? ORDER BY start_ts',
        [r.id],
      );
      out.push({ ...(JSON.parse(r.body) as D), intervals: ivs.map((i) => JSON.parse(i.body)) });
    }
    return out;
  }
}
