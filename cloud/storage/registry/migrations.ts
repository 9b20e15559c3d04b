import type { SqlDb } from './db.ts';

/**
 * Registry schema, one list of migrations for SQLite and PostgreSQL alike (common SQL only: TEXT, BIGINT
 * epoch ms, DOUBLE PRECISION, JSON kept as TEXT). Append new migrations; never edit an applied one.
 */
export const MIGRATIONS: { id: number; name: string; statements: string[] }[] = [
  {
    id: 1,
    name: 'registry core',
    statements: [
      `CREATE TABLE sites (
        id TEXT PRIMARY KEY, name TEXT, feeder TEXT, node TEXT, contract TEXT,
        status TEXT NOT NULL DEFAULT 'unknown', last_seen BIGINT, agent_version TEXT, mode TEXT,
        limits TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      `CREATE TABLE site_credentials (
        site_id TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL)`,
      `CREATE TABLE devices (
        site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE, id TEXT NOT NULL,
        kind TEXT NOT NULL, protocol TEXT NOT NULL, manufacturer TEXT, model TEXT, serial TEXT,
        firmware TEXT, nameplate TEXT NOT NULL, controls TEXT NOT NULL, models TEXT, node TEXT,
        updated_at BIGINT NOT NULL, PRIMARY KEY (site_id, id))`,
      `CREATE TABLE site_groups (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, description TEXT,
        created_at BIGINT NOT NULL)`,
      `CREATE TABLE group_members (
        group_id TEXT NOT NULL REFERENCES site_groups(id) ON DELETE CASCADE,
        site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE, PRIMARY KEY (group_id, site_id))`,
      `CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created_at BIGINT NOT NULL)`,
      `CREATE TABLE user_scopes (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, kind TEXT NOT NULL,
        target TEXT NOT NULL, PRIMARY KEY (user_id, kind, target))`,
      `CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL, label TEXT, created_at BIGINT NOT NULL, last_used BIGINT, revoked_at BIGINT)`,
      `CREATE TABLE commands (
        id TEXT PRIMARY KEY, site_id TEXT NOT NULL, device_id TEXT, type TEXT NOT NULL, body TEXT NOT NULL,
        issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, issued_by TEXT NOT NULL,
        status TEXT NOT NULL, status_at BIGINT NOT NULL, applied TEXT, reason TEXT)`,
      'CREATE INDEX commands_site ON commands (site_id, issued_at)',
      'CREATE INDEX commands_open ON commands (status, expires_at)',
      `CREATE TABLE audit_log (
        id TEXT PRIMARY KEY, ts BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        target TEXT, detail TEXT)`,
      'CREATE INDEX audit_ts ON audit_log (ts, id)',
    ],
  },
  {
    // id 3: migration 2 is taken by the market branch.
    id: 3,
    name: 'forecasts: stored site/group forecasts and the status of the latest attempt',
    statements: [
      `CREATE TABLE forecasts (
        subject TEXT NOT NULL, subject_id TEXT NOT NULL, kind TEXT NOT NULL, issued_at BIGINT NOT NULL,
        model_version TEXT NOT NULL, start_ts BIGINT NOT NULL, step_ms BIGINT NOT NULL, series TEXT NOT NULL,
        members INTEGER, details TEXT, created_at BIGINT NOT NULL,
        PRIMARY KEY (subject, subject_id, kind, issued_at))`,
      'CREATE INDEX forecasts_issued ON forecasts (issued_at)',
      `CREATE TABLE forecast_status (
        subject TEXT NOT NULL, subject_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, at BIGINT NOT NULL, PRIMARY KEY (subject, subject_id, kind))`,
    ],
  },
];

/** Applies pending migrations, each in its own transaction, recording them in schema_migrations. */
export async function migrate(db: SqlDb): Promise<number[]> {
  await db.run(
    'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  const done = new Set(
    (await db.all<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => Number(r.id)),
  );
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.id)) continue;
    await db.tx(async (t) => {
      for (const s of m.statements) await t.run(s);
      await t.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [
        m.id,
        m.name,
        Date.now(),
      ]);
    });
    applied.push(m.id);
  }
  return applied;
}
