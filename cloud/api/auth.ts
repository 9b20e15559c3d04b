import type { Request } from 'express';
import type { Logger } from 'pino';
import type { FailureThrottle } from '../auth/failure-throttle.ts';
import { can, type Permission } from '../auth/roles.ts';
import { hashSecret, parseApiToken, secretMatches } from '../auth/secrets.ts';
import type { Registry, User } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';

export { CsrfRefused } from './errors.ts';

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
  canGroup(group: string): boolean;
  /** Present when the caller came with the operator app's session cookie rather than a bearer token. */
  session?: { idHash: string; csrf: string; expiresAt: number };
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
    canGroup: (group) => all || user.scopes.some((s) => s.kind === 'group' && s.target === group),
  };
}

/** Browser sessions (api.sessions): idle and absolute limits, in ms. */
export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

export const SESSION_COOKIE = 'gl_session';
export const CSRF_COOKIE = 'gl_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** One cookie of the request's Cookie header (undefined when absent). */
export function cookieOf(req: Request, name: string): string | undefined {
  const h = req.headers.cookie;
  if (!h) return undefined;
  for (const part of h.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

export interface TokenAuthOptions {
  /** Browser sessions: accepted as an alternative to the bearer token when given. */
  sessions?: SessionLimits;
  /** Per-source throttle of failed attempts (429 + Retry-After once a source is over its limit). */
  throttle?: FailureThrottle;
  /** A token's last_used is written at most this often (default a minute): no DB write per request. */
  lastUsedEveryMs?: number;
  log?: Pick<Logger, 'error'>;
  now?: () => number;
}

/** The address a request came from (IPv4-mapped IPv6 written as plain IPv4). */
export function sourceOf(req: Request): string {
  const a = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** An expired session is no guessing attempt: 401 without counting against the throttle. */
const refusedSession = (reason: string) => new DomainError('unauthenticated', reason);

const refused = (reason: string) =>
  new DomainError('unauthenticated', reason, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${reason}"`,
  });

/**
 * Bearer token → principal. Tokens are looked up by id and checked against their SHA-256 hash; then
 * revocation and expiry (only after the secret matched, so neither is an oracle for a guessed id).
 * Resolves undefined when no token was presented; throws 401 with the reason for a bad one, and 429
 * while the source is throttled (before any lookup).
 */
export function tokenAuthenticator(registry: Registry, o: TokenAuthOptions = {}) {
  const now = o.now ?? Date.now;
  const every = o.lastUsedEveryMs ?? 60_000;
  const lastWritten = new Map<string, number>();
  const fail = (source: string, reason: string, message: string) => {
    o.throttle?.failure(source, reason);
    return refused(message);
  };
  const sessionTouched = new Map<string, number>();
  const sessionPrincipal = async (sid: string, source: string): Promise<Principal> => {
    const limits = o.sessions as SessionLimits;
    const idHash = hashSecret(sid);
    const s = await registry.findSession(idHash);
    const t = now();
    if (!s) throw fail(source, 'unknown session', 'session ended or unknown: sign in again');
    if (t >= s.expiresAt || t - Math.max(s.lastUsed, sessionTouched.get(idHash) ?? 0) >= limits.idleMs) {
      sessionTouched.delete(idHash);
      await registry.deleteSession(idHash);
      throw refusedSession('session expired: sign in again');
    }
    const user = await registry.getUser(s.userId);
    if (!user) throw fail(source, 'no user', 'session ended or unknown: sign in again');
    // last_used is written at most every idle/10 (and at most once a minute): no DB write per request.
    if (t - (sessionTouched.get(idHash) ?? s.lastUsed) >= Math.min(every, limits.idleMs / 10)) {
      sessionTouched.set(idHash, t);
      await registry
        .touchSession(idHash, t)
        .catch((err) => o.log?.error({ err }, 'writing session use failed'));
    }
    if (sessionTouched.size > 100_000) sessionTouched.clear();
    return { ...principalFor(user, registry), session: { idHash, csrf: s.csrf, expiresAt: s.expiresAt } };
  };
  return async (req: Request): Promise<Principal | undefined> => {
    const source = sourceOf(req);
    const wait = o.throttle?.retryAfterMs(source) ?? 0;
    if (wait > 0) {
      o.throttle?.throttled(source);
      const seconds = Math.ceil(wait / 1000);
      throw new DomainError(
        'throttled',
        `too many failed authentication attempts from ${source}: retry in ${seconds} s`,
        {
          'retry-after': String(seconds),
        },
      );
    }
    const h = req.headers.authorization;
    if (!h) {
      const sid = o.sessions && cookieOf(req, SESSION_COOKIE);
      return sid ? sessionPrincipal(sid, source) : undefined;
    }
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    const parsed = m ? parseApiToken(m[1]) : undefined;
    if (!parsed)
      throw fail(source, 'malformed', 'malformed API token (Authorization: Bearer glt_<id>_<secret>)');
    const tok = await registry.findToken(parsed.id);
    if (!tok || !secretMatches(parsed.secret, tok.secretHash))
      throw fail(source, tok ? 'wrong secret' : 'unknown token', 'invalid API token');
    if (tok.revoked) throw fail(source, 'revoked', `API token ${parsed.id} was revoked`);
    const t = now();
    if (tok.expiresAt !== null && t >= tok.expiresAt)
      throw fail(
        source,
        'expired',
        `API token ${parsed.id} expired at ${new Date(tok.expiresAt).toISOString()}`,
      );
    const user = await registry.getUser(tok.userId);
    if (!user) throw fail(source, 'no user', 'invalid API token');
    if (t - (lastWritten.get(parsed.id) ?? Number.NEGATIVE_INFINITY) >= every) {
      lastWritten.set(parsed.id, t);
      // A failed bookkeeping write must not refuse a valid caller.
      await registry
        .touchToken(parsed.id, t)
        .catch((err) => o.log?.error({ err }, 'writing last_used failed'));
    }
    return principalFor(user, registry);
  };
}
