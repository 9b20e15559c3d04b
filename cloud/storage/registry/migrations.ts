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
    id: 2,
    name: 'market: resources, bids, runs, awards, prices, ledger, dispatch',
    statements: [
      `CREATE TABLE market_resources (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, aggregator TEXT, kind TEXT NOT NULL, bus TEXT NOT NULL,
        max_inject_w DOUBLE PRECISION NOT NULL, max_withdraw_w DOUBLE PRECISION NOT NULL,
        energy_wh DOUBLE PRECISION, soc0_wh DOUBLE PRECISION, efficiency DOUBLE PRECISION,
        status TEXT NOT NULL, site_id TEXT, device_id TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      `CREATE TABLE market_bids (
        id TEXT PRIMARY KEY, participant TEXT NOT NULL, resource TEXT NOT NULL, market TEXT NOT NULL,
        product TEXT NOT NULL, side TEXT NOT NULL, interval_start BIGINT NOT NULL, steps TEXT NOT NULL,
        status TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      'CREATE INDEX market_bids_interval ON market_bids (market, interval_start)',
      `CREATE TABLE market_runs (
        id TEXT PRIMARY KEY, market TEXT NOT NULL, interval_start BIGINT NOT NULL, interval_end BIGINT NOT NULL,
        run_at BIGINT NOT NULL, run_by TEXT NOT NULL, summary TEXT NOT NULL)`,
      `CREATE TABLE market_awards (
        run_id TEXT NOT NULL, market TEXT NOT NULL, resource TEXT NOT NULL, participant TEXT NOT NULL,
        bus TEXT NOT NULL, interval_start BIGINT NOT NULL, product TEXT NOT NULL,
        award_w DOUBLE PRECISION NOT NULL, deviation_w DOUBLE PRECISION, price_per_mwh DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, resource, interval_start, product))`,
      'CREATE INDEX market_awards_participant ON market_awards (participant, interval_start)',
      `CREATE TABLE market_prices (
        run_id TEXT NOT NULL, market TEXT NOT NULL, interval_start BIGINT NOT NULL, bus TEXT NOT NULL,
        dlmp DOUBLE PRECISION NOT NULL, energy DOUBLE PRECISION NOT NULL, loss DOUBLE PRECISION NOT NULL,
        congestion DOUBLE PRECISION NOT NULL, voltage DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, interval_start, bus))`,
      `CREATE TABLE market_ledger (
        id TEXT PRIMARY KEY, run_id TEXT NOT NULL, market TEXT NOT NULL, period BIGINT NOT NULL,
        from_acct TEXT NOT NULL, to_acct TEXT NOT NULL, cents BIGINT NOT NULL, kind TEXT NOT NULL, ref TEXT)`,
      'CREATE INDEX market_ledger_from ON market_ledger (from_acct, period)',
      'CREATE INDEX market_ledger_to ON market_ledger (to_acct, period)',
      `CREATE TABLE market_dispatch (
        run_id TEXT NOT NULL, resource TEXT NOT NULL, site_id TEXT, device_id TEXT,
        interval_start BIGINT NOT NULL, award_w DOUBLE PRECISION NOT NULL, screened_w DOUBLE PRECISION NOT NULL,
        command_type TEXT, command_id TEXT, status TEXT NOT NULL, reason TEXT,
        PRIMARY KEY (run_id, resource))`,
    ],
  },
  {
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
  {
    id: 4,
    name: 'market forms: DGO screening of ISO awards (models 1, 2), P2P orders and trades (models 5, 6)',
    statements: [
      `CREATE TABLE market_screening (
        run_id TEXT NOT NULL, resource TEXT NOT NULL, participant TEXT NOT NULL, bus TEXT NOT NULL,
        interval_start BIGINT NOT NULL, award_w DOUBLE PRECISION NOT NULL, screened_w DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL, reason TEXT, PRIMARY KEY (run_id, resource, interval_start))`,
      'CREATE INDEX market_screening_participant ON market_screening (participant, interval_start)',
      `CREATE TABLE market_p2p_orders (
        id TEXT PRIMARY KEY, territory TEXT NOT NULL, participant TEXT NOT NULL, resource TEXT NOT NULL,
        bus TEXT NOT NULL, side TEXT NOT NULL, interval_start BIGINT NOT NULL,
        quantity_wh DOUBLE PRECISION NOT NULL, remaining_wh DOUBLE PRECISION NOT NULL,
        limit_price DOUBLE PRECISION NOT NULL, seq BIGINT NOT NULL, status TEXT NOT NULL,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      'CREATE INDEX market_p2p_orders_interval ON market_p2p_orders (territory, interval_start)',
      `CREATE TABLE market_p2p_trades (
        id TEXT PRIMARY KEY, territory TEXT NOT NULL, interval_start BIGINT NOT NULL,
        buy_order TEXT NOT NULL, sell_order TEXT NOT NULL, buyer TEXT NOT NULL, seller TEXT NOT NULL,
        buyer_resource TEXT NOT NULL, seller_resource TEXT NOT NULL, buyer_bus TEXT NOT NULL,
        seller_bus TEXT NOT NULL, price DOUBLE PRECISION NOT NULL, quantity_wh DOUBLE PRECISION NOT NULL,
        matched_wh DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, reason TEXT,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      'CREATE INDEX market_p2p_trades_interval ON market_p2p_trades (interval_start)',
    ],
  },
  {
    id: 5,
    name: 'market: P2P interval closes are their own run kind (P2P), no longer listed as RT market runs',
    // Every P2P close was stored with an id starting `p2p_` (service-p2p.ts) and market 'RT'.
    statements: ['market_runs', 'market_awards', 'market_prices', 'market_ledger'].map(
      (t) =>
        `UPDATE ${t} SET market = 'P2P' WHERE substr(${t === 'market_runs' ? 'id' : 'run_id'}, 1, 4) = 'p2p_'`,
    ),
  },
  {
    id: 6,
    name: 'market screening: one row per product (ISO ancillary awards are screened next to energy)',
    // Rebuilt rather than altered: the product joins the primary key; old rows were all energy.
    statements: [
      `CREATE TABLE market_screening_v6 (
        run_id TEXT NOT NULL, resource TEXT NOT NULL, product TEXT NOT NULL, participant TEXT NOT NULL,
        bus TEXT NOT NULL, interval_start BIGINT NOT NULL, award_w DOUBLE PRECISION NOT NULL,
        screened_w DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, reason TEXT,
        PRIMARY KEY (run_id, resource, product, interval_start))`,
      `INSERT INTO market_screening_v6 (run_id, resource, product, participant, bus, interval_start, award_w,
        screened_w, status, reason) SELECT run_id, resource, 'energy', participant, bus, interval_start, award_w,
        screened_w, status, reason FROM market_screening`,
      'DROP TABLE market_screening',
      'ALTER TABLE market_screening_v6 RENAME TO market_screening',
      'CREATE INDEX market_screening_participant ON market_screening (participant, interval_start)',
    ],
  },
  {
    id: 7,
    name: 'API tokens: expiry and issuer (existing tokens: no expiry, issuer unknown)',
    statements: [
      'ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT',
      'ALTER TABLE api_tokens ADD COLUMN created_by TEXT',
      'CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at)',
    ],
  },
  {
    id: 8,
    name: 'VPP dispatches and their performance intervals, so that open dispatches survive a restart',
    statements: [
      `CREATE TABLE vpp_dispatches (
        id TEXT PRIMARY KEY, group_id TEXT NOT NULL, status TEXT NOT NULL, start_ts BIGINT NOT NULL,
        end_ts BIGINT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
      'CREATE INDEX vpp_dispatches_status ON vpp_dispatches (status, updated_at)',
      `CREATE TABLE vpp_dispatch_intervals (
        dispatch_id TEXT NOT NULL REFERENCES vpp_dispatches(id) ON DELETE CASCADE, start_ts BIGINT NOT NULL,
        body TEXT NOT NULL, PRIMARY KEY (dispatch_id, start_ts))`,
    ],
  },
  {
    id: 9,
    name: 'forecast scores: each issued forecast scored against actuals and both persistence baselines',
    statements: [
      `CREATE TABLE forecast_scores (
        subject TEXT NOT NULL, subject_id TEXT NOT NULL, kind TEXT NOT NULL, issued_at BIGINT NOT NULL,
        model_version TEXT NOT NULL, served TEXT NOT NULL, n INTEGER NOT NULL,
        abs_obs DOUBLE PRECISION NOT NULL, abs_err DOUBLE PRECISION NOT NULL, sq_err DOUBLE PRECISION NOT NULL,
        abs_err_1d DOUBLE PRECISION NOT NULL, sq_err_1d DOUBLE PRECISION NOT NULL,
        abs_err_7d DOUBLE PRECISION NOT NULL, sq_err_7d DOUBLE PRECISION NOT NULL,
        pin10 DOUBLE PRECISION NOT NULL, pin50 DOUBLE PRECISION NOT NULL, pin90 DOUBLE PRECISION NOT NULL,
        below10 INTEGER NOT NULL, below50 INTEGER NOT NULL, below90 INTEGER NOT NULL, in_band INTEGER NOT NULL,
        scored_at BIGINT NOT NULL, PRIMARY KEY (subject, subject_id, kind, issued_at))`,
      'CREATE INDEX forecast_scores_issued ON forecast_scores (issued_at)',
    ],
  },
  {
    id: 10,
    name: 'operator app: user passwords, browser sessions, and when a site fell back to its default mode',
    statements: [
      'ALTER TABLE users ADD COLUMN password_hash TEXT',
      'ALTER TABLE users ADD COLUMN password_set_at BIGINT',
      `CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL, via TEXT NOT NULL, token_id TEXT, source TEXT, created_at BIGINT NOT NULL,
        last_used BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
      'CREATE INDEX sessions_user ON sessions (user_id)',
      'CREATE INDEX sessions_expires ON sessions (expires_at)',
      'ALTER TABLE sites ADD COLUMN fallback_since BIGINT',
      'ALTER TABLE sites ADD COLUMN fallback_detail TEXT',
    ],
  },
  {
    id: 11,
    name: 'gateway enrolment: one-time codes, stored hashed, that expire and are used once',
    statements: [
      `CREATE TABLE enrolment_codes (
        code_hash TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, created_by TEXT NOT NULL,
        used_at BIGINT, used_from TEXT)`,
      'CREATE INDEX enrolment_codes_site ON enrolment_codes (site_id, created_at)',
    ],
  },
  {
    id: 12,
    name: "commissioning reports: the installer's latest report per site, for the operator app",
    statements: [
      `CREATE TABLE commissioning_reports (
        site_id TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE, report TEXT NOT NULL,
        uploaded_by TEXT NOT NULL, uploaded_at BIGINT NOT NULL)`,
    ],
  },
  {
    id: 13,
    name: 'retail tariffs: versions with validity dates, critical-peak events, and which tariff each site is on',
    statements: [
      `CREATE TABLE tariff_versions (
        tariff TEXT NOT NULL, version INTEGER NOT NULL, valid_from BIGINT NOT NULL, valid_to BIGINT,
        body TEXT NOT NULL, created_by TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (tariff, version))`,
      `CREATE TABLE tariff_cpp_events (
        tariff TEXT NOT NULL, id TEXT NOT NULL, start_ts BIGINT NOT NULL, end_ts BIGINT NOT NULL,
        notified_at BIGINT NOT NULL, created_by TEXT NOT NULL, created_at BIGINT NOT NULL,
        PRIMARY KEY (tariff, id))`,
      `CREATE TABLE site_tariffs (
        site_id TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE, tariff TEXT NOT NULL,
        voltage_level TEXT, assigned_by TEXT NOT NULL, assigned_at BIGINT NOT NULL)`,
    ],
  },
  {
    id: 14,
    name: 'market onboarding: organizations and user links registered through the API, interconnection decisions (who decided what, when)',
    statements: [
      `CREATE TABLE market_actors (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, registered_at BIGINT NOT NULL,
        registered_by TEXT NOT NULL)`,
      `CREATE TABLE market_actor_users (
        actor_id TEXT NOT NULL, user_id TEXT NOT NULL, linked_at BIGINT NOT NULL, linked_by TEXT NOT NULL,
        PRIMARY KEY (actor_id, user_id))`,
      `CREATE TABLE market_certifications (
        id TEXT PRIMARY KEY, seq BIGINT NOT NULL, resource TEXT NOT NULL, status TEXT NOT NULL, previous TEXT NOT NULL,
        decided_at BIGINT NOT NULL, decided_by TEXT NOT NULL, as_org TEXT NOT NULL, note TEXT)`,
      'CREATE INDEX market_certifications_resource ON market_certifications (resource, decided_at)',
    ],
  },
  {
    id: 17,
    name: "gateway certificates the cloud's gateway CA issued: serial, site, expiry, revocation",
    statements: [
      `CREATE TABLE gateway_certificates (
        serial TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
        fingerprint TEXT NOT NULL, issued_at BIGINT NOT NULL, not_after BIGINT NOT NULL,
        revoked_at BIGINT)`,
      'CREATE INDEX gateway_certificates_site ON gateway_certificates (site_id)',
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
