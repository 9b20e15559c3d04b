import type { Capabilities, Command, Status } from '../../../protocols/mqtt/payloads.ts';
import type { Role } from '../../auth/roles.ts';
import { newId } from '../../auth/secrets.ts';
import type { Param, SqlDb } from './db.ts';
import { migrate } from './migrations.ts';

export interface Site {
  id: string;
  name: string | null;
  feeder: string | null;
  node: string | null;
  contract: string | null;
  status: string;
  lastSeen: number | null;
  agentVersion: string | null;
  mode: string | null;
  limits: Record<string, number> | null;
  createdAt: number;
  updatedAt: number;
}

export interface Device {
  siteId: string;
  id: string;
  kind: string;
  protocol: string;
  manufacturer: string | null;
  model: string | null;
  serial: string | null;
  firmware: string | null;
  nameplate: Record<string, number>;
  controls: string[];
  models: number[] | null;
  node: string | null;
  updatedAt: number;
}

export interface Group {
  id: string;
  name: string;
  kind: string;
  description: string | null;
  createdAt: number;
  sites: string[];
}

export type ScopeKind = 'all' | 'site' | 'group';
export interface Scope {
  kind: ScopeKind;
  target: string;
}
export interface User {
  id: string;
  name: string;
  role: Role;
  createdAt: number;
  scopes: Scope[];
}

/** An API token as the admin sees it: never its secret or hash. */
export interface ApiToken {
  id: string;
  userId: string;
  label: string | null;
  createdAt: number;
  /** Actor that issued it (`user:<id>`, `system`); null for tokens issued before this was recorded. */
  createdBy: string | null;
  /** null: never expires (the bootstrap token, tokens issued before expiry existed). */
  expiresAt: number | null;
  /** Last successful use, written at most once a minute per token (so it lags by up to a minute). */
  lastUsed: number | null;
  revokedAt: number | null;
}

/** A browser session (the operator app): only the SHA-256 of its id is stored. */
export interface SessionRecord {
  idHash: string;
  userId: string;
  /** The anti-CSRF value the app sends back in x-csrf-token (not a secret from the browser). */
  csrf: string;
  via: 'password' | 'token';
  /** The API token exchanged for it (its revocation ends the session too). */
  tokenId?: string | null;
  source: string | null;
  createdAt: number;
  lastUsed: number;
  /** Absolute expiry. */
  expiresAt: number;
}

export const FLEET_STATUSES = ['online', 'offline', 'stale', 'fallback'] as const;
export type FleetStatus = (typeof FLEET_STATUSES)[number];
export const FLEET_SORTS = ['id', 'name', 'status', 'lastSeen'] as const;

/** Whose sites (user: the sites of a scoped user; absent: all) and when a site counts as stale. */
export interface FleetScope {
  user?: string;
  /** A site online but last seen before this is stale. */
  staleBefore: number;
}
export interface FleetQuery extends FleetScope {
  q?: string;
  status?: FleetStatus;
  alarm?: boolean;
  sort: (typeof FLEET_SORTS)[number];
  desc?: boolean;
  offset: number;
  limit: number;
  /** Commands refused since then are alarms. */
  refusedSince: number;
}
export interface FleetRow {
  id: string;
  name: string | null;
  status: FleetStatus;
  mode: string | null;
  lastSeen: number | null;
  createdAt: number;
  fallbackSince: number | null;
  fallbackDetail: string | null;
  refused?: { at: number; detail: string };
}
export type AlarmKind = 'offline' | 'stale' | 'fallback' | 'command_refused';
export interface FleetAlarm {
  site: string;
  kind: AlarmKind;
  since: number;
  detail: string;
}

function toFleetRow(r: Record<string, unknown>, refused: FleetRow['refused']): FleetRow {
  return {
    id: String(r.id),
    name: r.name == null ? null : String(r.name),
    status: String(r.st) as FleetStatus,
    mode: r.mode == null ? null : String(r.mode),
    lastSeen: r.last_seen == null ? null : Number(r.last_seen),
    createdAt: Number(r.created_at),
    fallbackSince: r.fallback_since == null ? null : Number(r.fallback_since),
    fallbackDetail: r.fallback_detail == null ? null : String(r.fallback_detail),
    ...(refused && { refused }),
  };
}

/** The status alarm of a site (none when online). */
export function siteAlarm(r: FleetRow): Omit<FleetAlarm, 'site'> | undefined {
  const seen = r.lastSeen === null ? 'never seen' : `last seen ${new Date(r.lastSeen).toISOString()}`;
  if (r.status === 'offline')
    return { kind: 'offline', since: r.lastSeen ?? r.createdAt, detail: `offline, ${seen}` };
  if (r.status === 'stale')
    return { kind: 'stale', since: r.lastSeen ?? r.createdAt, detail: `online but no data, ${seen}` };
  if (r.status === 'fallback')
    return {
      kind: 'fallback',
      since: r.fallbackSince ?? r.createdAt,
      detail: r.fallbackDetail ?? 'remote setpoints lapsed: the site runs its default mode',
    };
  return undefined;
}

/** Alarms of one fleet row: its status alarm and a recently refused command. */
export function siteAlarms(r: FleetRow): Omit<FleetAlarm, 'site'>[] {
  const out: Omit<FleetAlarm, 'site'>[] = [];
  const a = siteAlarm(r);
  if (a) out.push(a);
  if (r.refused) out.push({ kind: 'command_refused', since: r.refused.at, detail: r.refused.detail });
  return out;
}

/** Thrown when a group would get members that are not registered sites. */
export class UnknownSitesError extends Error {
  constructor(readonly unknown: string[]) {
    const shown = unknown.slice(0, 20).join(', ');
    super(
      `unknown site id${unknown.length > 1 ? 's' : ''} (${unknown.length}): ${shown}${
        unknown.length > 20 ? `, … and ${unknown.length - 20} more` : ''
      } (register a site first: POST /sites)`,
    );
  }
}

/** Bound parameters per IN (…) list: far below SQLite's and PostgreSQL's limits. */
const IN_CHUNK = 500;
/** Rows per multi-row INSERT: full chunks share one statement text (prepared once). */
const ROWS_PER_INSERT = 100;

/** Inserts rows with multi-row VALUES lists (one round trip / statement per ROWS_PER_INSERT rows). */
async function insertRows(db: SqlDb, head: string, rows: Param[][]): Promise<void> {
  if (!rows.length) return;
  const ph = `(${rows[0].map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    await db.run(`${head} VALUES ${chunk.map(() => ph).join(', ')}`, chunk.flat());
  }
}

/** Runs a query per IN_CHUNK ids (`{in}` in the SQL stands for the placeholder list). */
async function allIn<T>(db: SqlDb, sql: string, ids: readonly string[], extra: Param[] = []): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += IN_CHUNK) {
    const chunk = ids.slice(i, i + IN_CHUNK);
    out.push(...(await db.all<T>(sql.replace('{in}', chunk.map(() => '?').join(',')), [...chunk, ...extra])));
  }
  return out;
}

/** An audit row to write (ts and id are assigned when it is written). */
export interface AuditInput {
  actor: string;
  action: string;
  target: string | null;
  detail?: unknown;
}

export const COMMAND_STATUSES = [
  'pending',
  'sent',
  'acknowledged',
  'refused',
  'expired',
  'failed',
  /** Acknowledged, then dropped by the edge before its expiry (its fallback); see commands/pipeline.ts. */
  'lapsed',
] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];
export const OPEN_COMMAND_STATUSES: CommandStatus[] = ['pending', 'sent'];

export interface CommandRecord {
  id: string;
  siteId: string;
  deviceId: string | null;
  type: string;
  command: Command;
  issuedAt: number;
  expiresAt: number;
  issuedBy: string;
  status: CommandStatus;
  statusAt: number;
  applied: Record<string, number | boolean> | null;
  reason: string | null;
}

export interface AuditEntry {
  id: string;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  detail: unknown;
}

type Row = Record<string, unknown>;
const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
const parse = <T>(v: unknown): T | null => (typeof v === 'string' ? (JSON.parse(v) as T) : null);
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toSite(r: Row): Site {
  return {
    id: String(r.id),
    name: str(r.name),
    feeder: str(r.feeder),
    node: str(r.node),
    contract: str(r.contract),
    status: String(r.status),
    lastSeen: num(r.last_seen),
    agentVersion: str(r.agent_version),
    mode: str(r.mode),
    limits: parse(r.limits),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
/** JSON with object keys sorted, so equal values compare equal whatever order a gateway sent. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Row)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Row)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

/** Whether a stored device row already says what a capabilities message says. */
function sameDevice(r: Row, d: Capabilities['devices'][number]): boolean {
  const s = toDevice(r);
  return (
    s.kind === d.kind &&
    s.protocol === d.protocol &&
    s.manufacturer === (d.manufacturer ?? null) &&
    s.model === (d.model ?? null) &&
    s.serial === (d.serial ?? null) &&
    s.firmware === (d.firmware ?? null) &&
    stableJson(s.nameplate) === stableJson(d.nameplate) &&
    stableJson(s.controls) === stableJson(d.controls) &&
    stableJson(s.models) === stableJson(d.models ?? null)
  );
}

function toDevice(r: Row): Device {
  return {
    siteId: String(r.site_id),
    id: String(r.id),
    kind: String(r.kind),
    protocol: String(r.protocol),
    manufacturer: str(r.manufacturer),
    model: str(r.model),
    serial: str(r.serial),
    firmware: str(r.firmware),
    nameplate: parse(r.nameplate) ?? {},
    controls: parse(r.controls) ?? [],
    models: parse(r.models),
    node: str(r.node),
    updatedAt: Number(r.updated_at),
  };
}
function toCommand(r: Row): CommandRecord {
  return {
    id: String(r.id),
    siteId: String(r.site_id),
    deviceId: str(r.device_id),
    type: String(r.type),
    command: parse<Command>(r.body) as Command,
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    issuedBy: String(r.issued_by),
    status: String(r.status) as CommandStatus,
    statusAt: Number(r.status_at),
    applied: parse(r.applied),
    reason: str(r.reason),
  };
}

const TOKEN_COLUMNS = 'id, user_id, label, created_at, created_by, expires_at, last_used, revoked_at';
function toToken(r: Row): ApiToken {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    label: str(r.label),
    createdAt: Number(r.created_at),
    createdBy: str(r.created_by),
    expiresAt: num(r.expires_at),
    lastUsed: num(r.last_used),
    revokedAt: num(r.revoked_at),
  };
}

let auditSeq = 0;
/** Sortable audit id: time, then a per-process counter, then randomness against other processes. */
function auditId(ts: number): string {
  auditSeq = (auditSeq + 1) % 1e6;
  return `${ts.toString(36).padStart(9, '0')}${auditSeq.toString(36).padStart(4, '0')}${newId(4)}`;
}

/** Sites, devices, groups, users/tokens, gateway credentials, commands and audit log. */
/** Revokes the site's gateway certificates not yet revoked (inside the caller's transaction); returns how many. */
function revokeCertificates(t: SqlDb, siteId: string, now: number): Promise<number> {
  return t.run('UPDATE gateway_certificates SET revoked_at = ? WHERE site_id = ? AND revoked_at IS NULL', [
    now,
    siteId,
  ]);
}

export class Registry {
  constructor(readonly db: SqlDb) {}

  async init(): Promise<number[]> {
    return migrate(this.db);
  }

  // --- sites -------------------------------------------------------------------------------------

  async createSite(id: string, fields: { name?: string } = {}, db: SqlDb = this.db): Promise<Site> {
    const now = Date.now();
    await db.run(
      `INSERT INTO sites (id, name, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      [id, fields.name ?? null, now, now],
    );
    return (await this.getSite(id, db)) as Site;
  }

  async getSite(id: string, db: SqlDb = this.db): Promise<Site | undefined> {
    const [r] = await db.all('SELECT * FROM sites WHERE id = ?', [id]);
    return r ? toSite(r) : undefined;
  }

  /** All sites, or only those listed (for scoped users). */
  async listSites(ids?: string[]): Promise<Site[]> {
    if (ids && !ids.length) return [];
    if (ids && ids.length > IN_CHUNK) {
      // A fleet-sized list: read in chunks, ordered here (ids compare as the ASCII they are).
      const rows = await allIn<Row>(this.db, 'SELECT * FROM sites WHERE id IN ({in})', [...new Set(ids)]);
      return rows.map(toSite).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    const rows = ids
      ? await this.db.all(
          `SELECT * FROM sites WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY id`,
          ids,
        )
      : await this.db.all('SELECT * FROM sites ORDER BY id');
    return rows.map(toSite);
  }

  /** Operator-editable fields: what an edge cannot know. */
  async patchSite(
    id: string,
    patch: Partial<Pick<Site, 'name' | 'feeder' | 'node' | 'contract'>>,
  ): Promise<Site | undefined> {
    const cols = (['name', 'feeder', 'node', 'contract'] as const).filter((k) => patch[k] !== undefined);
    if (cols.length) {
      await this.db.run(
        `UPDATE sites SET ${cols.map((c) => `${c} = ?`).join(', ')}, updated_at = ? WHERE id = ?`,
        [...cols.map((c) => patch[c] ?? null), Date.now(), id],
      );
    }
    return this.getSite(id);
  }

  /** Self-registration: the edge's capabilities message creates/updates its site and devices. */
  /**
   * Stores a gateway's capabilities. Gateways resend them on every connect, so only what differs from
   * the stored devices and limits is written, and the result says what changed (for the audit log).
   * Devices the message no longer lists are kept (history refers to them).
   */
  async applyCapabilities(
    cap: Capabilities,
  ): Promise<{ created: boolean; devices: number; changedDevices: string[]; limitsChanged: boolean }> {
    return this.db.tx(async (db) => {
      const existed = await this.getSite(cap.site, db);
      const now = Date.now();
      await this.createSite(cap.site, {}, db);
      const [prev] = await db.all<{ limits: string | null }>('SELECT limits FROM sites WHERE id = ?', [
        cap.site,
      ]);
      const limits = json(cap.limits ?? null);
      const limitsChanged = !!existed && stableJson(parse(prev?.limits)) !== stableJson(cap.limits ?? null);
      await db.run('UPDATE sites SET limits = ?, last_seen = ?, updated_at = ? WHERE id = ?', [
        limits,
        cap.ts,
        now,
        cap.site,
      ]);
      const stored = new Map(
        (await db.all<Record<string, unknown>>('SELECT * FROM devices WHERE site_id = ?', [cap.site])).map(
          (r) => [String(r.id), r],
        ),
      );
      const changedDevices: string[] = [];
      for (const d of cap.devices) {
        const row = [
          d.kind,
          d.protocol,
          d.manufacturer ?? null,
          d.model ?? null,
          d.serial ?? null,
          d.firmware ?? null,
          json(d.nameplate) as string,
          json(d.controls) as string,
          json(d.models ?? null),
        ];
        const old = stored.get(d.id);
        if (old && sameDevice(old, d)) continue;
        changedDevices.push(d.id);
        await db.run(
          `INSERT INTO devices (site_id, id, kind, protocol, manufacturer, model, serial, firmware, nameplate,
             controls, models, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (site_id, id) DO UPDATE SET kind = excluded.kind, protocol = excluded.protocol,
             manufacturer = excluded.manufacturer, model = excluded.model, serial = excluded.serial,
             firmware = excluded.firmware, nameplate = excluded.nameplate, controls = excluded.controls,
             models = excluded.models, updated_at = excluded.updated_at`,
          [cap.site, d.id, ...row, now],
        );
      }
      return { created: !existed, devices: cap.devices.length, changedDevices, limitsChanged };
    });
  }

  async applyStatus(s: Status): Promise<void> {
    await this.createSite(s.site);
    await this.db.run(
      `UPDATE sites SET status = ?, last_seen = ?, agent_version = COALESCE(?, agent_version),
         mode = COALESCE(?, mode), updated_at = ? WHERE id = ?`,
      [s.state, s.ts, s.agentVersion ?? null, s.mode ?? null, Date.now(), s.site],
    );
    // Lapsed remote setpoints (listed in online statuses only): the site fell back to its default mode.
    if (s.state === 'online')
      await this.setFallback(
        s.site,
        s.lapsed?.length ? Math.min(...s.lapsed.map((l) => l.at)) : null,
        s.lapsed?.length
          ? `${s.lapsed.length} remote setpoint(s) lapsed: ${s.lapsed[0].reason}`.slice(0, 300)
          : null,
      );
  }

  // --- commissioning reports -----------------------------------------------------------------------

  /** Keeps a site's latest commissioning report (the installer's upload replaces the previous one). */
  async putCommissioningReport(siteId: string, report: unknown, by: string, at = Date.now()): Promise<void> {
    await this.db.run(
      `INSERT INTO commissioning_reports (site_id, report, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (site_id) DO UPDATE SET report = excluded.report, uploaded_by = excluded.uploaded_by,
         uploaded_at = excluded.uploaded_at`,
      [siteId, JSON.stringify(report), by, at],
    );
  }

  async getCommissioningReport(
    siteId: string,
  ): Promise<{ report: unknown; uploadedBy: string; uploadedAt: number } | undefined> {
    const [r] = await this.db.all<{ report: string; uploaded_by: string; uploaded_at: number }>(
      'SELECT report, uploaded_by, uploaded_at FROM commissioning_reports WHERE site_id = ?',
      [siteId],
    );
    return r
      ? { report: JSON.parse(r.report), uploadedBy: r.uploaded_by, uploadedAt: Number(r.uploaded_at) }
      : undefined;
  }

  // --- gateway credentials -------------------------------------------------------------------------

  /**
   * A new gateway password for the site. It replaces every credential the gateway had: its certificates
   * are revoked in the same transaction (a gateway rotating its own key records the new one after).
   */
  async setSiteCredential(siteId: string, secretHash: string, now = Date.now()): Promise<void> {
    await this.db.tx(async (t) => {
      await t.run(
        `INSERT INTO site_credentials (site_id, secret_hash, created_at) VALUES (?, ?, ?)
         ON CONFLICT (site_id) DO UPDATE SET secret_hash = excluded.secret_hash, created_at = excluded.created_at`,
        [siteId, secretHash, now],
      );
      await revokeCertificates(t, siteId, now);
    });
  }

  async siteCredentialHash(siteId: string): Promise<string | undefined> {
    const [r] = await this.db.all<{ secret_hash: string }>(
      'SELECT secret_hash FROM site_credentials WHERE site_id = ?',
      [siteId],
    );
    return r?.secret_hash;
  }

  /**
   * Revokes the site's gateway credential, its password and every certificate issued to it: the broker
   * refuses its logins from now on. Returns whether one existed.
   */
  async revokeSiteCredential(siteId: string, now = Date.now()): Promise<boolean> {
    return this.db.tx(async (t) => {
      const certs = await revokeCertificates(t, siteId, now);
      const pw = await t.run('DELETE FROM site_credentials WHERE site_id = ?', [siteId]);
      return certs + pw > 0;
    });
  }

  /**
   * Records a certificate issued to the site's gateway; with `replace`, the site's earlier ones are
   * revoked in the same transaction (a rotation: only the newest key logs in).
   */
  async recordGatewayCertificate(
    c: { siteId: string; serial: string; fingerprint: string; notAfter: number },
    replace: boolean,
    now = Date.now(),
  ): Promise<void> {
    await this.db.tx(async (t) => {
      if (replace) await revokeCertificates(t, c.siteId, now);
      await t.run(
        `INSERT INTO gateway_certificates (serial, site_id, fingerprint, issued_at, not_after)
         VALUES (?, ?, ?, ?, ?)`,
        [c.serial, c.siteId, c.fingerprint, now, c.notAfter],
      );
    });
  }

  /** The serials of the site's gateway certificates that are neither revoked nor expired. */
  async activeGatewayCertificates(siteId: string, now = Date.now()): Promise<string[]> {
    return (
      await this.db.all<{ serial: string }>(
        'SELECT serial FROM gateway_certificates WHERE site_id = ? AND revoked_at IS NULL AND not_after > ?',
        [siteId, now],
      )
    ).map((r) => String(r.serial));
  }

  // --- enrolment codes -----------------------------------------------------------------------------

  /** Stores a new one-time enrolment code (its hash only); earlier unused codes of the site stay valid. */
  async createEnrolmentCode(c: {
    codeHash: string;
    siteId: string;
    expiresAt: number;
    createdBy: string;
  }): Promise<void> {
    await this.db.run(
      `INSERT INTO enrolment_codes (code_hash, site_id, created_at, expires_at, created_by)
       VALUES (?, ?, ?, ?, ?)`,
      [c.codeHash, c.siteId, Date.now(), c.expiresAt, c.createdBy],
    );
  }

  /**
   * Uses an enrolment code once: marks it used and, in the same transaction, stores the site's new
   * gateway credential. Two gateways presenting the same code at once: one wins, the other is told
   * 'used'. Returns the site, or why the code was refused.
   */
  async redeemEnrolmentCode(
    codeHash: string,
    credentialHash: string,
    from: string,
    now = Date.now(),
  ): Promise<{ site: string } | { refused: 'unknown' | 'used' | 'expired' }> {
    return this.db.tx(async (t) => {
      const [r] = await t.all<{ site_id: string; expires_at: number; used_at: number | null }>(
        'SELECT site_id, expires_at, used_at FROM enrolment_codes WHERE code_hash = ?',
        [codeHash],
      );
      if (!r) return { refused: 'unknown' as const };
      if (r.used_at !== null) return { refused: 'used' as const };
      if (Number(r.expires_at) <= now) return { refused: 'expired' as const };
      const changed = await t.run(
        'UPDATE enrolment_codes SET used_at = ?, used_from = ? WHERE code_hash = ? AND used_at IS NULL',
        [now, from, codeHash],
      );
      if (changed !== 1) return { refused: 'used' as const };
      await t.run(
        `INSERT INTO site_credentials (site_id, secret_hash, created_at) VALUES (?, ?, ?)
         ON CONFLICT (site_id) DO UPDATE SET secret_hash = excluded.secret_hash, created_at = excluded.created_at`,
        [r.site_id, credentialHash, now],
      );
      // A new enrolment replaces the gateway's every credential, its certificates included.
      await revokeCertificates(t, r.site_id, now);
      return { site: String(r.site_id) };
    });
  }

  // --- devices -------------------------------------------------------------------------------------

  async listDevices(siteId: string): Promise<Device[]> {
    return (await this.db.all('SELECT * FROM devices WHERE site_id = ? ORDER BY id', [siteId])).map(toDevice);
  }

  /** The devices of many sites at once (ordered by id per site); sites without devices are absent. */
  async listDevicesOf(siteIds: readonly string[]): Promise<Map<string, Device[]>> {
    const rows = await allIn<Row>(this.db, 'SELECT * FROM devices WHERE site_id IN ({in})', [
      ...new Set(siteIds),
    ]);
    const out = new Map<string, Device[]>();
    for (const r of rows) {
      const d = toDevice(r);
      const list = out.get(d.siteId);
      if (list) list.push(d);
      else out.set(d.siteId, [d]);
    }
    for (const list of out.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  async getDevice(siteId: string, id: string): Promise<Device | undefined> {
    const [r] = await this.db.all('SELECT * FROM devices WHERE site_id = ? AND id = ?', [siteId, id]);
    return r ? toDevice(r) : undefined;
  }

  async patchDevice(
    siteId: string,
    id: string,
    patch: { node?: string | null },
  ): Promise<Device | undefined> {
    if (patch.node !== undefined) {
      await this.db.run('UPDATE devices SET node = ?, updated_at = ? WHERE site_id = ? AND id = ?', [
        patch.node,
        Date.now(),
        siteId,
        id,
      ]);
    }
    return this.getDevice(siteId, id);
  }

  // --- groups --------------------------------------------------------------------------------------

  async createGroup(g: { id: string; name: string; kind: string; description?: string }): Promise<Group> {
    await this.db.run(
      'INSERT INTO site_groups (id, name, kind, description, created_at) VALUES (?, ?, ?, ?, ?)',
      [g.id, g.name, g.kind, g.description ?? null, Date.now()],
    );
    return (await this.getGroup(g.id)) as Group;
  }

  async getGroup(id: string): Promise<Group | undefined> {
    const [r] = await this.db.all('SELECT * FROM site_groups WHERE id = ?', [id]);
    if (!r) return undefined;
    const members = await this.db.all<{ site_id: string }>(
      'SELECT site_id FROM group_members WHERE group_id = ? ORDER BY site_id',
      [id],
    );
    return {
      id: String(r.id),
      name: String(r.name),
      kind: String(r.kind),
      description: str(r.description),
      createdAt: Number(r.created_at),
      sites: members.map((m) => m.site_id),
    };
  }

  async listGroups(ids?: string[]): Promise<Group[]> {
    if (ids && !ids.length) return [];
    const rows = ids
      ? await this.db.all<{ id: string }>(
          `SELECT id FROM site_groups WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY id`,
          ids,
        )
      : await this.db.all<{ id: string }>('SELECT id FROM site_groups ORDER BY id');
    const out: Group[] = [];
    for (const r of rows) out.push((await this.getGroup(r.id)) as Group);
    return out;
  }

  async patchGroup(id: string, patch: { name?: string; kind?: string; description?: string | null }) {
    const cols = (['name', 'kind', 'description'] as const).filter((k) => patch[k] !== undefined);
    if (cols.length) {
      await this.db.run(`UPDATE site_groups SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`, [
        ...cols.map((c) => patch[c] ?? null),
        id,
      ]);
    }
    return this.getGroup(id);
  }

  /** The ids among `ids` that are not registered sites (distinct, in the order given). */
  async unknownSites(ids: string[], db: SqlDb = this.db): Promise<string[]> {
    const distinct = [...new Set(ids)];
    const known = new Set<string>();
    for (let i = 0; i < distinct.length; i += IN_CHUNK) {
      const chunk = distinct.slice(i, i + IN_CHUNK);
      const rows = await db.all<{ id: string }>(
        `SELECT id FROM sites WHERE id IN (${chunk.map(() => '?').join(',')})`,
        chunk,
      );
      for (const r of rows) known.add(String(r.id));
    }
    return distinct.filter((s) => !known.has(s));
  }

  /**
   * Replaces a group's membership. Every member must be a registered site: an unknown id is refused
   * (UnknownSitesError, membership unchanged) rather than created as a phantom site; an operator who
   * plans ahead of the edge registers the site first (POST /sites).
   */
  async setGroupSites(id: string, sites: string[]): Promise<Group | undefined> {
    await this.db.tx(async (db) => {
      const unknown = await this.unknownSites(sites, db);
      if (unknown.length) throw new UnknownSitesError(unknown);
      await db.run('DELETE FROM group_members WHERE group_id = ?', [id]);
      for (const s of new Set(sites))
        await db.run('INSERT INTO group_members (group_id, site_id) VALUES (?, ?)', [id, s]);
    });
    return this.getGroup(id);
  }

  async sitesOfGroups(groupIds: string[]): Promise<string[]> {
    if (!groupIds.length) return [];
    const rows = await this.db.all<{ site_id: string }>(
      `SELECT DISTINCT site_id FROM group_members WHERE group_id IN (${groupIds.map(() => '?').join(',')})`,
      groupIds,
    );
    return rows.map((r) => r.site_id);
  }

  // --- users and API tokens -------------------------------------------------------------------------

  async createUser(u: { id?: string; name: string; role: Role; scopes?: Scope[] }): Promise<User> {
    const id = u.id ?? newId();
    await this.db.tx(async (db) => {
      await db.run('INSERT INTO users (id, name, role, created_at) VALUES (?, ?, ?, ?)', [
        id,
        u.name,
        u.role,
        Date.now(),
      ]);
      for (const s of u.scopes ?? [])
        await db.run('INSERT INTO user_scopes (user_id, kind, target) VALUES (?, ?, ?)', [
          id,
          s.kind,
          s.target,
        ]);
    });
    return (await this.getUser(id)) as User;
  }

  async getUser(id: string): Promise<User | undefined> {
    const [r] = await this.db.all('SELECT * FROM users WHERE id = ?', [id]);
    if (!r) return undefined;
    const scopes = await this.db.all<Scope>(
      'SELECT kind, target FROM user_scopes WHERE user_id = ? ORDER BY kind, target',
      [id],
    );
    return {
      id: String(r.id),
      name: String(r.name),
      role: r.role as Role,
      createdAt: Number(r.created_at),
      scopes,
    };
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.db.all<{ id: string }>('SELECT id FROM users ORDER BY id');
    const out: User[] = [];
    for (const r of rows) out.push((await this.getUser(r.id)) as User);
    return out;
  }

  async countUsers(): Promise<number> {
    const [r] = await this.db.all<{ n: number }>('SELECT count(*) AS n FROM users');
    return Number(r.n);
  }

  async createToken(t: {
    id: string;
    userId: string;
    secretHash: string;
    label?: string;
    expiresAt?: number | null;
    createdBy?: string;
    createdAt?: number;
  }): Promise<ApiToken> {
    await this.db.run(
      `INSERT INTO api_tokens (id, user_id, secret_hash, label, created_at, expires_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [
        t.id,
        t.userId,
        t.secretHash,
        t.label ?? null,
        t.createdAt ?? Date.now(),
        t.expiresAt ?? null,
        t.createdBy ?? null,
      ],
    );
    return (await this.getToken(t.id)) as ApiToken;
  }

  /** What authentication needs: the hash to check, and whether the token may still be used. */
  async findToken(
    id: string,
  ): Promise<{ userId: string; secretHash: string; revoked: boolean; expiresAt: number | null } | undefined> {
    const [r] = await this.db.all(
      'SELECT user_id, secret_hash, revoked_at, expires_at FROM api_tokens WHERE id = ?',
      [id],
    );
    return r
      ? {
          userId: String(r.user_id),
          secretHash: String(r.secret_hash),
          revoked: r.revoked_at != null,
          expiresAt: num(r.expires_at),
        }
      : undefined;
  }

  async getToken(id: string): Promise<ApiToken | undefined> {
    const [r] = await this.db.all(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = ?`, [id]);
    return r ? toToken(r) : undefined;
  }

  /** Tokens (all, or one user's), oldest first; revoked ones only when asked. */
  async listTokens(q: { userId?: string; includeRevoked?: boolean } = {}): Promise<ApiToken[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (q.userId) {
      where.push('user_id = ?');
      params.push(q.userId);
    }
    if (!q.includeRevoked) where.push('revoked_at IS NULL');
    const rows = await this.db.all(
      `SELECT ${TOKEN_COLUMNS} FROM api_tokens ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at, id`,
      params,
    );
    return rows.map(toToken);
  }

  /** Records a use (the caller throttles how often). */
  async touchToken(id: string, at: number): Promise<void> {
    await this.db.run('UPDATE api_tokens SET last_used = ? WHERE id = ?', [at, id]);
  }

  async revokeToken(id: string): Promise<boolean> {
    return (
      (await this.db.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [
        Date.now(),
        id,
      ])) > 0
    );
  }

  // --- passwords and browser sessions ---------------------------------------------------------------

  /** Sets (or with null removes) a user's password hash; false when there is no such user. */
  async setPasswordHash(userId: string, hash: string | null, at = Date.now()): Promise<boolean> {
    return (
      (await this.db.run('UPDATE users SET password_hash = ?, password_set_at = ? WHERE id = ?', [
        hash,
        hash === null ? null : at,
        userId,
      ])) > 0
    );
  }

  /** The stored password hash of a user (undefined: no such user or no password). */
  async passwordHash(userId: string): Promise<string | undefined> {
    const [r] = await this.db.all<{ password_hash: string | null }>(
      'SELECT password_hash FROM users WHERE id = ?',
      [userId],
    );
    return r?.password_hash ?? undefined;
  }

  async createSession(s: SessionRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO sessions (id_hash, user_id, csrf, via, token_id, source, created_at, last_used, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [s.idHash, s.userId, s.csrf, s.via, s.tokenId ?? null, s.source, s.createdAt, s.lastUsed, s.expiresAt],
    );
  }

  async findSession(idHash: string): Promise<SessionRecord | undefined> {
    const [r] = await this.db.all('SELECT * FROM sessions WHERE id_hash = ?', [idHash]);
    return r
      ? {
          idHash: String(r.id_hash),
          userId: String(r.user_id),
          csrf: String(r.csrf),
          via: String(r.via) as SessionRecord['via'],
          tokenId: str(r.token_id),
          source: str(r.source),
          createdAt: Number(r.created_at),
          lastUsed: Number(r.last_used),
          expiresAt: Number(r.expires_at),
        }
      : undefined;
  }

  async touchSession(idHash: string, at: number): Promise<void> {
    await this.db.run('UPDATE sessions SET last_used = ? WHERE id_hash = ? AND last_used < ?', [
      at,
      idHash,
      at,
    ]);
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM sessions WHERE id_hash = ?', [idHash])) > 0;
  }

  /** The id hashes of a user's sessions. */
  async sessionsOf(userId: string): Promise<string[]> {
    return (
      await this.db.all<{ id_hash: string }>('SELECT id_hash FROM sessions WHERE user_id = ?', [userId])
    ).map((r) => r.id_hash);
  }

  /** Ends the sessions an API token was exchanged for (the token was revoked); returns their id hashes. */
  async deleteTokenSessions(tokenId: string): Promise<string[]> {
    const rows = await this.db.all<{ id_hash: string }>('SELECT id_hash FROM sessions WHERE token_id = ?', [
      tokenId,
    ]);
    await this.db.run('DELETE FROM sessions WHERE token_id = ?', [tokenId]);
    return rows.map((r) => r.id_hash);
  }

  /** Ends every session of a user (password changed); returns how many. */
  async deleteUserSessions(userId: string): Promise<number> {
    return this.db.run('DELETE FROM sessions WHERE user_id = ?', [userId]);
  }

  /** Deletes sessions past their absolute expiry or idle since before `idleBefore`. */
  async purgeSessions(now: number, idleBefore: number): Promise<number> {
    return this.db.run('DELETE FROM sessions WHERE expires_at <= ? OR last_used < ?', [now, idleBefore]);
  }

  // --- fleet view: status, alarms, paging over the whole fleet in SQL ---------------------------------

  /**
   * Marks a site as fallen back to its default mode (the edge reported lapsed remote setpoints), or
   * with null clears it (a command to the site was acknowledged since).
   */
  async setFallback(site: string, since: number | null, detail: string | null = null): Promise<boolean> {
    return (
      (await this.db.run(
        since === null
          ? 'UPDATE sites SET fallback_since = NULL, fallback_detail = NULL WHERE id = ? AND fallback_since IS NOT NULL'
          : 'UPDATE sites SET fallback_since = COALESCE(fallback_since, ?), fallback_detail = ? WHERE id = ?',
        since === null ? [site] : [since, detail, site],
      )) > 0
    );
  }

  /** Advances sites' last_seen to the newest telemetry seen (never backwards), one transaction. */
  async touchSitesSeen(seen: ReadonlyMap<string, number>): Promise<void> {
    if (!seen.size) return;
    await this.db.tx(async (db) => {
      for (const [site, ts] of seen)
        await db.run('UPDATE sites SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)', [
          ts,
          site,
          ts,
        ]);
    });
  }

  private fleetBase(scope: FleetScope): { sql: string; params: Param[] } {
    const where = scope.user
      ? `WHERE s.id IN (SELECT target FROM user_scopes WHERE user_id = ? AND kind = 'site'
           UNION SELECT gm.site_id FROM group_members gm JOIN user_scopes us
             ON us.kind = 'group' AND us.target = gm.group_id WHERE us.user_id = ?)`
      : '';
    return {
      sql: `SELECT s.id, s.name, s.mode, s.last_seen, s.created_at, s.fallback_since, s.fallback_detail,
          CASE WHEN s.status <> 'online' THEN 'offline'
               WHEN s.last_seen IS NULL OR s.last_seen < ? THEN 'stale'
               WHEN s.fallback_since IS NOT NULL THEN 'fallback'
               ELSE 'online' END AS st
        FROM sites s ${where}`,
      params: [scope.staleBefore, ...(scope.user ? [scope.user, scope.user] : [])],
    };
  }

  private static readonly REFUSED_SITES =
    "SELECT site_id FROM commands WHERE status = 'refused' AND status_at >= ?";

  /** One page of the fleet (filtered, sorted) and how many sites match, in two queries. */
  async fleetPage(q: FleetQuery): Promise<{ total: number; rows: FleetRow[] }> {
    const base = this.fleetBase(q);
    const where: string[] = [];
    const params: Param[] = [...base.params];
    if (q.q) {
      const like = `%${q.q.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
      where.push("(lower(f.id) LIKE ? ESCAPE '!' OR lower(COALESCE(f.name, '')) LIKE ? ESCAPE '!')");
      params.push(like, like);
    }
    if (q.status) {
      where.push('f.st = ?');
      params.push(q.status);
    }
    if (q.alarm) {
      where.push(`(f.st <> 'online' OR f.id IN (${Registry.REFUSED_SITES}))`);
      params.push(q.refusedSince);
    }
    const from = `FROM (${base.sql}) f ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;
    const dir = q.desc ? 'DESC' : 'ASC';
    const order = {
      id: `f.id ${dir}`,
      name: `COALESCE(f.name, f.id) ${dir}, f.id ${dir}`,
      status: `CASE f.st WHEN 'offline' THEN 0 WHEN 'stale' THEN 1 WHEN 'fallback' THEN 2 ELSE 3 END ${dir}, f.id ${dir}`,
      lastSeen: `COALESCE(f.last_seen, 0) ${dir}, f.id ${dir}`,
    }[q.sort];
    const [count] = await this.db.all<{ n: number }>(`SELECT count(*) AS n ${from}`, params);
    const rows = await this.db.all<Row>(`SELECT f.* ${from} ORDER BY ${order} LIMIT ? OFFSET ?`, [
      ...params,
      q.limit,
      q.offset,
    ]);
    const refused = await this.refusedOf(
      rows.map((r) => String(r.id)),
      q.refusedSince,
    );
    return { total: Number(count.n), rows: rows.map((r) => toFleetRow(r, refused.get(String(r.id)))) };
  }

  /** Per site: its latest refused command since `since` (time and reason). */
  private async refusedOf(
    sites: readonly string[],
    since: number,
  ): Promise<Map<string, { at: number; detail: string }>> {
    const out = new Map<string, { at: number; detail: string }>();
    if (!sites.length) return out;
    const rows = await allIn<Row>(
      this.db,
      `SELECT site_id, id, type, status_at, reason FROM commands
        WHERE site_id IN ({in}) AND status = 'refused' AND status_at >= ? ORDER BY status_at`,
      sites,
      [since],
    );
    for (const r of rows)
      out.set(String(r.site_id), {
        at: Number(r.status_at),
        detail: `command ${r.id} (${r.type}) refused${r.reason ? `: ${r.reason}` : ''}`,
      });
    return out;
  }

  /** Counts per derived status, and how many sites have at least one alarm. */
  async fleetSummary(scope: FleetScope & { refusedSince: number }) {
    const base = this.fleetBase(scope);
    const rows = await this.db.all<{ st: string; n: number }>(
      `SELECT f.st, count(*) AS n FROM (${base.sql}) f GROUP BY f.st`,
      base.params,
    );
    const [refusedOnline] = await this.db.all<{ n: number }>(
      `SELECT count(*) AS n FROM (${base.sql}) f WHERE f.st = 'online' AND f.id IN (${Registry.REFUSED_SITES})`,
      [...base.params, scope.refusedSince],
    );
    const by = Object.fromEntries(rows.map((r) => [r.st, Number(r.n)])) as Record<string, number>;
    const c = (k: string) => by[k] ?? 0;
    const total = c('online') + c('offline') + c('stale') + c('fallback');
    return {
      total,
      online: c('online'),
      offline: c('offline'),
      stale: c('stale'),
      fallback: c('fallback'),
      alarms: c('offline') + c('stale') + c('fallback') + Number(refusedOnline.n),
    };
  }

  /** Active alarms, newest first: offline/stale/fallback sites and recently refused commands. */
  async fleetAlarms(scope: FleetScope & { refusedSince: number; limit: number }): Promise<FleetAlarm[]> {
    const base = this.fleetBase(scope);
    const rows = await this.db.all<Row>(
      `SELECT f.* FROM (${base.sql}) f WHERE f.st <> 'online'
        ORDER BY COALESCE(f.fallback_since, f.last_seen, f.created_at) DESC, f.id LIMIT ?`,
      [...base.params, scope.limit],
    );
    const out: FleetAlarm[] = [];
    for (const r of rows) {
      const a = siteAlarm(toFleetRow(r, undefined));
      if (a) out.push({ site: String(r.id), ...a });
    }
    const scopeSql = scope.user
      ? `AND c.site_id IN (SELECT target FROM user_scopes WHERE user_id = ? AND kind = 'site'
           UNION SELECT gm.site_id FROM group_members gm JOIN user_scopes us
             ON us.kind = 'group' AND us.target = gm.group_id WHERE us.user_id = ?)`
      : '';
    const refused = await this.db.all<Row>(
      `SELECT c.site_id, c.id, c.type, c.status_at, c.reason FROM commands c
        WHERE c.status = 'refused' AND c.status_at >= ? ${scopeSql} ORDER BY c.status_at DESC, c.id LIMIT ?`,
      [scope.refusedSince, ...(scope.user ? [scope.user, scope.user] : []), scope.limit],
    );
    for (const r of refused)
      out.push({
        site: String(r.site_id),
        kind: 'command_refused',
        since: Number(r.status_at),
        detail: `command ${r.id} (${r.type}) refused${r.reason ? `: ${r.reason}` : ''}`,
      });
    out.sort((a, b) => b.since - a.since || (a.site < b.site ? -1 : a.site > b.site ? 1 : 0));
    return out.slice(0, scope.limit);
  }

  // --- commands ------------------------------------------------------------------------------------

  async insertCommand(c: Command, issuedBy: string): Promise<CommandRecord> {
    const now = Date.now();
    await this.db.run(
      `INSERT INTO commands (id, site_id, device_id, type, body, issued_at, expires_at, issued_by, status, status_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
      [c.id, c.site, c.device ?? null, c.type, JSON.stringify(c), c.issuedAt, c.expiresAt, issuedBy, now],
    );
    return (await this.getCommand(c.id)) as CommandRecord;
  }

  /**
   * Stores new commands (pending) and their audit rows in one transaction: one commit (one fsync on
   * SQLite) for a whole dispatch step. Returns the records as stored.
   */
  async insertCommands(
    items: readonly { command: Command; issuedBy: string }[],
    audits: readonly AuditInput[] = [],
  ): Promise<CommandRecord[]> {
    const now = Date.now();
    await this.db.tx(async (db) => {
      await insertRows(
        db,
        `INSERT INTO commands (id, site_id, device_id, type, body, issued_at, expires_at, issued_by, status, status_at)`,
        items.map(({ command: c, issuedBy }) => [
          c.id,
          c.site,
          c.device ?? null,
          c.type,
          JSON.stringify(c),
          c.issuedAt,
          c.expiresAt,
          issuedBy,
          'pending',
          now,
        ]),
      );
      await this.auditMany(audits, db);
    });
    return items.map(({ command: c, issuedBy }) => ({
      id: c.id,
      siteId: c.site,
      deviceId: c.device ?? null,
      type: c.type,
      command: c,
      issuedAt: c.issuedAt,
      expiresAt: c.expiresAt,
      issuedBy,
      status: 'pending',
      statusAt: now,
      applied: null,
      reason: null,
    }));
  }

  async getCommands(ids: readonly string[]): Promise<Map<string, CommandRecord>> {
    const rows = await allIn<Row>(this.db, 'SELECT * FROM commands WHERE id IN ({in})', [...new Set(ids)]);
    return new Map(rows.map((r) => [String(r.id), toCommand(r)]));
  }

  /** Moves many commands from `from` to `status` (no other field changes); returns how many moved. */
  async transitionCommands(
    ids: readonly string[],
    from: CommandStatus[],
    status: CommandStatus,
    at = Date.now(),
  ): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += IN_CHUNK) {
      const chunk = ids.slice(i, i + IN_CHUNK);
      n += await this.db.run(
        `UPDATE commands SET status = ?, status_at = ? WHERE status IN (${from.map(() => '?').join(',')})
           AND id IN (${chunk.map(() => '?').join(',')})`,
        [status, at, ...from, ...chunk],
      );
    }
    return n;
  }

  /** Runs fn in one registry transaction (one commit): `db` is passed to the methods that take one. */
  tx<T>(fn: (db: SqlDb) => Promise<T>): Promise<T> {
    return this.db.tx(fn);
  }

  async getCommand(id: string): Promise<CommandRecord | undefined> {
    const [r] = await this.db.all('SELECT * FROM commands WHERE id = ?', [id]);
    return r ? toCommand(r) : undefined;
  }

  async listCommands(siteId: string, limit = 100): Promise<CommandRecord[]> {
    return (
      await this.db.all('SELECT * FROM commands WHERE site_id = ? ORDER BY issued_at DESC, id LIMIT ?', [
        siteId,
        limit,
      ])
    ).map(toCommand);
  }

  /** Moves a command to `status` only from one of `from`; returns false when it was elsewhere. */
  async transitionCommand(
    id: string,
    from: CommandStatus[],
    status: CommandStatus,
    fields: { applied?: Record<string, number | boolean> | null; reason?: string | null; at?: number } = {},
    db: SqlDb = this.db,
  ): Promise<boolean> {
    const n = await db.run(
      `UPDATE commands SET status = ?, status_at = ?, applied = COALESCE(?, applied), reason = COALESCE(?, reason)
       WHERE id = ? AND status IN (${from.map(() => '?').join(',')})`,
      [status, fields.at ?? Date.now(), json(fields.applied ?? null), fields.reason ?? null, id, ...from],
    );
    return n > 0;
  }

  /**
   * A site's commands still waiting for an acknowledgement, not expired, and not replaced by a newer
   * command (of any status) of the same type for the same device; oldest first.
   */
  async resendableCommands(siteId: string, now: number): Promise<CommandRecord[]> {
    return (
      await this.db.all(
        `SELECT * FROM commands c WHERE c.site_id = ? AND c.expires_at > ?
           AND c.status IN (${OPEN_COMMAND_STATUSES.map(() => '?').join(',')})
           AND NOT EXISTS (SELECT 1 FROM commands n WHERE n.site_id = c.site_id AND n.type = c.type
             AND COALESCE(n.device_id, '') = COALESCE(c.device_id, '')
             AND (n.issued_at > c.issued_at OR (n.issued_at = c.issued_at AND n.id > c.id)))
         ORDER BY c.issued_at, c.id`,
        [siteId, now, ...OPEN_COMMAND_STATUSES],
      )
    ).map(toCommand);
  }

  /** Whether a newer command of the same type for the same device (any status) exists for the site. */
  async hasNewerCommand(c: CommandRecord): Promise<boolean> {
    const rows = await this.db.all(
      `SELECT 1 AS x FROM commands n WHERE n.site_id = ? AND n.type = ? AND COALESCE(n.device_id, '') = ?
         AND (n.issued_at > ? OR (n.issued_at = ? AND n.id > ?)) LIMIT 1`,
      [c.siteId, c.type, c.deviceId ?? '', c.issuedAt, c.issuedAt, c.id],
    );
    return rows.length > 0;
  }

  async overdueCommands(now: number): Promise<CommandRecord[]> {
    return (
      await this.db.all(
        `SELECT * FROM commands WHERE status IN (${OPEN_COMMAND_STATUSES.map(() => '?').join(',')}) AND expires_at <= ?`,
        [...OPEN_COMMAND_STATUSES, now],
      )
    ).map(toCommand);
  }

  // --- audit ---------------------------------------------------------------------------------------

  /** Writes many audit rows (multi-row inserts; pass the transaction's db to commit them with it). */
  async auditMany(entries: readonly AuditInput[], db: SqlDb = this.db): Promise<void> {
    const ts = Date.now();
    await insertRows(
      db,
      'INSERT INTO audit_log (id, ts, actor, action, target, detail)',
      entries.map((e) => [auditId(ts), ts, e.actor, e.action, e.target, json(e.detail ?? null)]),
    );
  }

  async audit(
    actor: string,
    action: string,
    target: string | null,
    detail?: unknown,
    db: SqlDb = this.db,
  ): Promise<AuditEntry> {
    const ts = Date.now();
    const id = auditId(ts);
    await db.run('INSERT INTO audit_log (id, ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)', [
      id,
      ts,
      actor,
      action,
      target,
      json(detail ?? null),
    ]);
    return { id, ts, actor, action, target, detail: detail ?? null };
  }

  async listAudit(
    q: { since?: number; target?: string; action?: string; limit?: number } = {},
  ): Promise<AuditEntry[]> {
    const where = ['ts >= ?'];
    const params: (string | number)[] = [q.since ?? 0];
    if (q.target) {
      where.push('target = ?');
      params.push(q.target);
    }
    if (q.action) {
      where.push('action = ?');
      params.push(q.action);
    }
    params.push(Math.min(q.limit ?? 100, 1000));
    const rows = await this.db.all(
      `SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY ts, id LIMIT ?`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      ts: Number(r.ts),
      actor: String(r.actor),
      action: String(r.action),
      target: str(r.target),
      detail: parse(r.detail),
    }));
  }
}
