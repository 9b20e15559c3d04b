import type { Request } from 'express';
import { can, type Permission } from '../auth/roles.ts';
import { parseApiToken, secretMatches } from '../auth/secrets.ts';
import type { Registry, User } from '../storage/registry/registry.ts';

/** The authenticated caller: its user, role and the sites it may act on. */
export interface Principal {
  user: User;
  actor: string;
  can(permission: Permission): boolean;
  /** All sites ('all') or the set of site ids in scope (direct and through groups). */
  sites(): Promise<'all' | Set<string>>;
  /** Group ids in scope, or 'all'. */
  groups(): 'all' | Set<string>;
  canSite(site: string): Promise<boolean>;
}

export function principalFor(user: User, registry: Registry): Principal {
  const all = user.role === 'operator' || user.scopes.some((s) => s.kind === 'all');
  let cached: Promise<Set<string>> | undefined;
  const scoped = () =>
    (cached ??= registry
      .sitesOfGroups(user.scopes.filter((s) => s.kind === 'group').map((s) => s.target))
      .then(
        (fromGroups) =>
          new Set([...fromGroups, ...user.scopes.filter((s) => s.kind === 'site').map((s) => s.target)]),
      ));
  return {
    user,
    actor: `user:${user.id}`,
    can: (p) => can(user.role, p),
    sites: async () => (all ? 'all' : scoped()),
    groups: () => (all ? 'all' : new Set(user.scopes.filter((s) => s.kind === 'group').map((s) => s.target))),
    canSite: async (site) => all || (await scoped()).has(site),
  };
}

/** Bearer token → principal. Tokens are looked up by id and checked against their SHA-256 hash. */
export function tokenAuthenticator(registry: Registry) {
  return async (req: Request) => {
    const h = req.headers.authorization;
    const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    const parsed = m ? parseApiToken(m[1]) : undefined;
    if (!parsed) return undefined;
    const tok = await registry.findToken(parsed.id);
    if (!tok || tok.revoked || !secretMatches(parsed.secret, tok.secretHash)) return undefined;
    const user = await registry.getUser(tok.userId);
    return user ? principalFor(user, registry) : undefined;
  };
}
