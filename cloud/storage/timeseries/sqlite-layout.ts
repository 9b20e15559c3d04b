import type Database from 'better-sqlite3';
import { CANONICAL_POINT_NAMES, type Quality } from '../../../protocols/canonical/points.ts';

/**
 * Layout of the embedded time-series file (PRAGMA user_version = LAYOUT_VERSION):
 *
 * - `series`: one integer id per (site, device).
 * - `device_samples`: one row per device sample, keyed (series, ts), with one REAL column per canonical
 *   point (NULL = not in that sample) and `q`, the non-good qualities packed 2 bits per point
 *   (0 good, 1 stale, 2 invalid) at bit 2 × the point's index in CANONICAL_POINT_NAMES.
 *   A gateway sends all of a device's points at one instant, so this is one B-tree insert per device
 *   sample instead of one per point, and integer keys instead of repeated text.
 * - `point_samples`: the rare point outside the canonical set (the store interface takes any name),
 *   one row per value.
 * - `latest_values`: newest value per (series, point), kept in the write transaction.
 * - `quarantine`: values and messages acknowledged but not stored as telemetry (unknown point, from
 *   the future, implausible, unreadable), as received with the reason; written in the same transaction
 *   as the batch's good samples. Added without a layout bump (CREATE IF NOT EXISTS).
 *
 * Version 1 (no user_version; `samples`/`latest` with one text-keyed row per point) is migrated in place
 * on open.
 */
export const LAYOUT_VERSION = 2;

export const POINTS = CANONICAL_POINT_NAMES as readonly string[];
export const POINT_INDEX = new Map(POINTS.map((p, i) => [p, i]));
export const column = (i: number) => `p_${POINTS[i]}`;

const QUALITY_CODE: Record<string, number> = { good: 0, stale: 1, invalid: 2 };
const QUALITY_NAME: (Quality | undefined)[] = [undefined, 'stale', 'invalid', undefined];
export const qualityCode = (q: Quality | undefined) => (q ? (QUALITY_CODE[q] ?? 0) : 0);
/** Arithmetic (not 32-bit bitwise) so the mask stays exact beyond 16 points. */
export const qualityBits = (code: number, i: number) => code * 4 ** i;
export const qualityAt = (q: number, i: number): Quality | undefined =>
  QUALITY_NAME[Math.floor(q / 4 ** i) % 4];

const DDL = `
  CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, UNIQUE (site, device)
  );
  CREATE TABLE IF NOT EXISTS device_samples (
    series INTEGER NOT NULL, ts INTEGER NOT NULL,
    ${POINTS.map((_, i) => `${column(i)} REAL`).join(', ')},
    q INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series, ts)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS point_samples (
    series INTEGER NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, quality TEXT,
    PRIMARY KEY (series, point, ts)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS latest_values (
    series INTEGER NOT NULL, point TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, quality TEXT,
    PRIMARY KEY (series, point)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS quarantine (
    key TEXT PRIMARY KEY, received_ms INTEGER NOT NULL, site TEXT NOT NULL, device TEXT, point TEXT,
    ts INTEGER, raw TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, schema INTEGER, seq INTEGER
  );
  CREATE INDEX IF NOT EXISTS quarantine_site ON quarantine (site, received_ms);
`;

const tableExists = (db: Database.Database, name: string) =>
  !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name);

/** Creates or upgrades the layout; idempotent. */
export function ensureLayout(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > LAYOUT_VERSION)
    throw new Error(`time-series file has layout ${version}, newer than this version supports`);
  db.transaction(() => {
    db.exec(DDL);
    // A canonical point added after the file was created becomes a new (NULL) column.
    const have = new Set(
      (db.prepare('PRAGMA table_info(device_samples)').all() as { name: string }[]).map((c) => c.name),
    );
    POINTS.forEach((_, i) => {
      if (!have.has(column(i))) db.exec(`ALTER TABLE device_samples ADD COLUMN ${column(i)} REAL`);
    });
    if (version < 2 && tableExists(db, 'samples')) migrateFromV1(db);
    db.pragma(`user_version = ${LAYOUT_VERSION}`);
  })();
}

/** Version 1 → 2: pivots the per-point rows into per-device-sample rows, then drops the old tables. */
function migrateFromV1(db: Database.Database): void {
  const list = POINTS.map((p) => `'${p}'`).join(', ');
  const pointIdx = `CASE s.point ${POINTS.map((p, i) => `WHEN '${p}' THEN ${i}`).join(' ')} END`;
  const qcode = "CASE s.quality WHEN 'stale' THEN 1 WHEN 'invalid' THEN 2 ELSE 0 END";
  db.exec(`
    INSERT OR IGNORE INTO series (site, device) SELECT DISTINCT site, device FROM samples;
    INSERT OR IGNORE INTO series (site, device) SELECT DISTINCT site, device FROM latest;
    INSERT INTO device_samples (series, ts, ${POINTS.map((_, i) => column(i)).join(', ')}, q)
      SELECT se.id, s.ts,
        ${POINTS.map((p) => `max(CASE WHEN s.point = '${p}' THEN s.value END)`).join(',\n        ')},
        sum(${qcode} * (1 << (2 * ${pointIdx})))
      FROM samples s JOIN series se ON se.site = s.site AND se.device = s.device
      WHERE s.point IN (${list})
      GROUP BY se.id, s.ts;
    INSERT INTO point_samples (series, point, ts, value, quality)
      SELECT se.id, s.point, s.ts, s.value, s.quality
      FROM samples s JOIN series se ON se.site = s.site AND se.device = s.device
      WHERE s.point NOT IN (${list});
    INSERT INTO latest_values (series, point, ts, value, quality)
      SELECT se.id, l.point, l.ts, l.value, l.quality
      FROM latest l JOIN series se ON se.site = l.site AND se.device = l.device;
    DROP TABLE samples;
    DROP TABLE latest;
  `);
}

/**
 * Files written before ingest refused samples from the future may hold one as a point's "latest",
 * where it would stay forever (a newer write never replaces a later ts). Such rows (later than
 * `horizonMs`) are replaced by the newest sample not later than it, or removed when there is none.
 * The samples themselves stay stored. Returns how many latest rows were repaired.
 */
export function repairFutureLatest(db: Database.Database, horizonMs: number): number {
  const bad = db.prepare('SELECT series, point FROM latest_values WHERE ts > ?').all(horizonMs) as {
    series: number;
    point: string;
  }[];
  if (!bad.length) return 0;
  db.transaction(() => {
    const del = db.prepare('DELETE FROM latest_values WHERE series = ? AND point = ?');
    const ins = db.prepare(
      'INSERT INTO latest_values (series, point, ts, value, quality) VALUES (?, ?, ?, ?, ?)',
    );
    for (const { series, point } of bad) {
      del.run(series, point);
      const i = POINT_INDEX.get(point);
      if (i !== undefined) {
        const c = column(i);
        const r = db
          .prepare(
            `SELECT ts, ${c} AS value, q FROM device_samples
             WHERE series = ? AND ts <= ? AND ${c} IS NOT NULL ORDER BY ts DESC LIMIT 1`,
          )
          .get(series, horizonMs) as { ts: number; value: number; q: number } | undefined;
        if (r) ins.run(series, point, r.ts, r.value, qualityAt(r.q, i) ?? null);
      } else {
        const r = db
          .prepare(
            `SELECT ts, value, quality FROM point_samples
             WHERE series = ? AND point = ? AND ts <= ? ORDER BY ts DESC LIMIT 1`,
          )
          .get(series, point, horizonMs) as { ts: number; value: number; quality: string | null } | undefined;
        if (r) ins.run(series, point, r.ts, r.value, r.quality);
      }
    }
  })();
  return bad.length;
}
