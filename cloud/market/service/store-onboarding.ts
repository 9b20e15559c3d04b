import type { SqlDb } from '../../storage/registry/db.ts';
import type { ActorKind } from '../model/roles.ts';

/**
 * Onboarding records (registry migration 14): market organizations registered through the API (the
 * config's `market.actors` stay the seed and are not copied here), users linked to an organization
 * through the API (on top of the config's `users`), and every interconnection decision on a
 * resource: who (user, and the DGO organization it acted for) set which status, from which, when.
 */

export interface StoredActor {
  readonly id: string;
  readonly kind: ActorKind;
  readonly name?: string;
  readonly registeredAt: number;
  readonly registeredBy: string;
}

export interface UserLink {
  readonly actor: string;
  readonly user: string;
  readonly linkedAt: number;
  readonly linkedBy: string;
}

export interface CertificationRecord {
  readonly id: string;
  readonly resource: string;
  readonly status: string;
  readonly previous: string;
  readonly decidedAt: number;
  /** The cloud user who decided. */
  readonly decidedBy: string;
  /** The organization it acted for (the DGO). */
  readonly as: string;
  readonly note?: string;
}

export class OnboardingStore {
  constructor(readonly db: SqlDb) {}

  async saveActor(a: StoredActor): Promise<void> {
    await this.db.run(
      'INSERT INTO market_actors (id, kind, name, registered_at, registered_by) VALUES (?, ?, ?, ?, ?)',
      [a.id, a.kind, a.name ?? null, a.registeredAt, a.registeredBy],
    );
  }

  async actors(): Promise<StoredActor[]> {
    const rows = await this.db.all('SELECT * FROM market_actors ORDER BY registered_at, id');
    return rows.map((r) => ({
      id: String(r.id),
      kind: String(r.kind) as ActorKind,
      ...(r.name !== null && r.name !== undefined ? { name: String(r.name) } : {}),
      registeredAt: Number(r.registered_at),
      registeredBy: String(r.registered_by),
    }));
  }

  /** false when the link already existed. */
  async link(l: UserLink): Promise<boolean> {
    const had = await this.db.all(
      'SELECT 1 AS x FROM market_actor_users WHERE actor_id = ? AND user_id = ?',
      [l.actor, l.user],
    );
    if (had.length) return false;
    await this.db.run(
      'INSERT INTO market_actor_users (actor_id, user_id, linked_at, linked_by) VALUES (?, ?, ?, ?)',
      [l.actor, l.user, l.linkedAt, l.linkedBy],
    );
    return true;
  }

  /** false when there was no such link. */
  async unlink(actor: string, user: string): Promise<boolean> {
    return (
      (await this.db.run('DELETE FROM market_actor_users WHERE actor_id = ? AND user_id = ?', [
        actor,
        user,
      ])) > 0
    );
  }

  async links(): Promise<UserLink[]> {
    const rows = await this.db.all('SELECT * FROM market_actor_users ORDER BY linked_at, actor_id, user_id');
    return rows.map((r) => ({
      actor: String(r.actor_id),
      user: String(r.user_id),
      linkedAt: Number(r.linked_at),
      linkedBy: String(r.linked_by),
    }));
  }

  async saveCertification(c: CertificationRecord): Promise<void> {
    await this.db.run(
      // seq: the order of decisions, also among decisions in the same millisecond of the market clock.
      `INSERT INTO market_certifications (id, seq, resource, status, previous, decided_at, decided_by, as_org, note)
       SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM market_certifications`,
      [c.id, c.resource, c.status, c.previous, c.decidedAt, c.decidedBy, c.as, c.note ?? null],
    );
  }

  async certifications(resource?: string): Promise<CertificationRecord[]> {
    const rows = await this.db.all(
      `SELECT * FROM market_certifications ${resource !== undefined ? 'WHERE resource = ?' : ''}
       ORDER BY seq`,
      resource !== undefined ? [resource] : [],
    );
    return rows.map((r) => ({
      id: String(r.id),
      resource: String(r.resource),
      status: String(r.status),
      previous: String(r.previous),
      decidedAt: Number(r.decided_at),
      decidedBy: String(r.decided_by),
      as: String(r.as_org),
      ...(r.note !== null && r.note !== undefined ? { note: String(r.note) } : {}),
    }));
  }
}
