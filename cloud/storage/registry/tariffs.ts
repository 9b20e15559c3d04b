import { DomainError } from '../../errors.ts';
import type { CppEvent, TariffVersion, TariffVersionBody, VoltageLevel } from '../../tariffs/schema.ts';
import type { SqlDb } from './db.ts';

/**
 * Tariffs in the registry database (migration 13): each tariff's versions with their validity, its
 * critical-peak events, and the tariff each site is on (with its connection voltage level).
 *
 * Versions of one tariff never overlap: a new version starts after the latest one started, and the
 * latest (open-ended, or ending later) is cut to end where the new one begins, in one transaction.
 */

export interface SiteTariff {
  readonly site: string;
  readonly tariff: string;
  readonly voltageLevel: VoltageLevel | null;
  readonly assignedBy: string;
  readonly assignedAt: number;
}

interface VersionRow {
  tariff: string;
  version: number;
  valid_from: number;
  valid_to: number | null;
  body: string;
}

function toVersion(r: VersionRow): TariffVersion {
  const body = JSON.parse(r.body) as TariffVersionBody;
  const v: TariffVersion = {
    ...body,
    tariff: r.tariff,
    version: Number(r.version),
    validFrom: Number(r.valid_from),
  };
  if (r.valid_to === null || r.valid_to === undefined) delete (v as { validTo?: number }).validTo;
  else (v as { validTo?: number }).validTo = Number(r.valid_to);
  return v;
}

export class TariffStore {
  constructor(readonly db: SqlDb) {}

  /** Adds a version; the previous latest is cut at its start. Refuses (409) one starting no later than the latest. */
  async addVersion(
    tariff: string,
    body: TariffVersionBody,
    by: string,
    at = Date.now(),
  ): Promise<TariffVersion> {
    return this.db.tx(async (db) => {
      const [latest] = await db.all<VersionRow>(
        'SELECT * FROM tariff_versions WHERE tariff = ? ORDER BY version DESC LIMIT 1',
        [tariff],
      );
      if (latest && body.validFrom <= Number(latest.valid_from))
        throw new DomainError(
          'conflict',
          `tariff ${tariff} v${latest.version} starts ${new Date(Number(latest.valid_from)).toISOString()}; a new version must start later`,
        );
      if (latest && (latest.valid_to === null || Number(latest.valid_to) > body.validFrom))
        await db.run('UPDATE tariff_versions SET valid_to = ? WHERE tariff = ? AND version = ?', [
          body.validFrom,
          tariff,
          latest.version,
        ]);
      const version = latest ? Number(latest.version) + 1 : 1;
      const { validFrom, validTo, ...rest } = body;
      await db.run(
        `INSERT INTO tariff_versions (tariff, version, valid_from, valid_to, body, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [tariff, version, validFrom, validTo ?? null, JSON.stringify(rest), by, at],
      );
      return { ...body, tariff, version };
    });
  }

  async versions(tariff: string): Promise<TariffVersion[]> {
    const rows = await this.db.all<VersionRow>(
      'SELECT * FROM tariff_versions WHERE tariff = ? ORDER BY version',
      [tariff],
    );
    return rows.map(toVersion);
  }

  /** Every tariff's id and its versions' count and validity span. */
  async list(): Promise<{ tariff: string; versions: number; latest: TariffVersion }[]> {
    const rows = await this.db.all<VersionRow>('SELECT * FROM tariff_versions ORDER BY tariff, version');
    const out = new Map<string, { tariff: string; versions: number; latest: TariffVersion }>();
    for (const r of rows) {
      const v = toVersion(r);
      const e = out.get(v.tariff);
      out.set(v.tariff, { tariff: v.tariff, versions: (e?.versions ?? 0) + 1, latest: v });
    }
    return [...out.values()];
  }

  async addCppEvent(
    tariff: string,
    ev: CppEvent & { id: string },
    by: string,
    at = Date.now(),
  ): Promise<void> {
    const [dup] = await this.db.all('SELECT id FROM tariff_cpp_events WHERE tariff = ? AND id = ?', [
      tariff,
      ev.id,
    ]);
    if (dup) throw new DomainError('conflict', `tariff ${tariff} already has CPP event ${ev.id}`);
    await this.db.run(
      `INSERT INTO tariff_cpp_events (tariff, id, start_ts, end_ts, notified_at, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [tariff, ev.id, ev.start, ev.end, ev.notifiedAt, by, at],
    );
  }

  /** CPP events of a tariff overlapping [from, to). */
  async cppEvents(
    tariff: string,
    from = 0,
    to = Number.MAX_SAFE_INTEGER,
  ): Promise<(CppEvent & { id: string })[]> {
    const rows = await this.db.all<{ id: string; start_ts: number; end_ts: number; notified_at: number }>(
      'SELECT id, start_ts, end_ts, notified_at FROM tariff_cpp_events WHERE tariff = ? AND end_ts > ? AND start_ts < ? ORDER BY start_ts',
      [tariff, from, to],
    );
    return rows.map((r) => ({
      id: r.id,
      start: Number(r.start_ts),
      end: Number(r.end_ts),
      notifiedAt: Number(r.notified_at),
    }));
  }

  async assign(site: string, tariff: string, voltageLevel: VoltageLevel | null, by: string, at = Date.now()) {
    await this.db.tx(async (db) => {
      await db.run('DELETE FROM site_tariffs WHERE site_id = ?', [site]);
      await db.run(
        'INSERT INTO site_tariffs (site_id, tariff, voltage_level, assigned_by, assigned_at) VALUES (?, ?, ?, ?, ?)',
        [site, tariff, voltageLevel, by, at],
      );
    });
  }

  /** The sites on any of these tariffs. */
  async sitesOn(tariffs: readonly string[]): Promise<SiteTariff[]> {
    if (!tariffs.length) return [];
    const rows = await this.db.all<{
      site_id: string;
      tariff: string;
      voltage_level: string | null;
      assigned_by: string;
      assigned_at: number;
    }>(`SELECT * FROM site_tariffs WHERE tariff IN (${tariffs.map(() => '?').join(', ')}) ORDER BY site_id`, [
      ...tariffs,
    ]);
    return rows.map((r) => ({
      site: r.site_id,
      tariff: r.tariff,
      voltageLevel: (r.voltage_level as VoltageLevel | null) ?? null,
      assignedBy: r.assigned_by,
      assignedAt: Number(r.assigned_at),
    }));
  }

  async assignment(site: string): Promise<SiteTariff | undefined> {
    const [r] = await this.db.all<{
      site_id: string;
      tariff: string;
      voltage_level: string | null;
      assigned_by: string;
      assigned_at: number;
    }>('SELECT * FROM site_tariffs WHERE site_id = ?', [site]);
    if (!r) return undefined;
    return {
      site: r.site_id,
      tariff: r.tariff,
      voltageLevel: (r.voltage_level as VoltageLevel | null) ?? null,
      assignedBy: r.assigned_by,
      assignedAt: Number(r.assigned_at),
    };
  }
}
