import type { Request, Response } from 'express';
import { z } from 'zod';
import type { FailureThrottle } from '../auth/failure-throttle.ts';
import {
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordMatches,
} from '../auth/passwords.ts';
import { ROLES } from '../auth/roles.ts';
import { hashSecret, newSecret, parseApiToken, secretMatches } from '../auth/secrets.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { CSRF_COOKIE, cookieOf, SESSION_COOKIE, type SessionLimits, sourceOf } from './auth.ts';
import { CsrfRefused, DomainError } from './errors.ts';
import { id } from './params.ts';
import { type AnyRouteDef, csrfMatches, route } from './route.ts';

export const passwordSchema = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH);

export interface SessionDeps {
  registry: Registry;
  throttle: FailureThrottle;
  sessions: SessionLimits & { secureCookie: 'auto' | 'always' | 'never' };
  /** Called when a session ends (logout, password change): its live event streams are closed. */
  sessionEnded?: (idHash: string) => void;
  now?: () => number;
}

/** Whether cookies get the Secure attribute: over TLS (directly or as the TLS proxy says), or as configured. */
function secure(req: Request, mode: SessionDeps['sessions']['secureCookie']): boolean {
  if (mode !== 'auto') return mode === 'always';
  return (
    req.secure ||
    String(req.headers['x-forwarded-proto'] ?? '')
      .split(',')[0]
      .trim() === 'https'
  );
}

function setCookies(res: Response, req: Request, d: SessionDeps, sid: string, csrf: string, maxAgeS: number) {
  const attrs = `Path=/; SameSite=Strict; Max-Age=${maxAgeS}${secure(req, d.sessions.secureCookie) ? '; Secure' : ''}`;
  res.setHeader('set-cookie', [
    `${SESSION_COOKIE}=${sid}; HttpOnly; ${attrs}`,
    `${CSRF_COOKIE}=${csrf}; ${attrs}`,
  ]);
}

const loginBody = z.union([
  z.object({ user: id, password: z.string().min(1).max(MAX_PASSWORD_LENGTH) }).strict(),
  /** An API token exchanged once for a session (the token itself never goes into a URL or the page). */
  z.object({ token: z.string().min(1).max(300) }).strict(),
]);

const loginResponse = z.object({
  user: z.object({ id: z.string(), name: z.string(), role: z.enum(ROLES) }),
  /** Send it back as header x-csrf-token on every request other than GET/HEAD (also in cookie gl_csrf). */
  csrf: z.string(),
  /** Absolute end of the session (epoch ms); it ends earlier after idleSeconds without use. */
  expiresAt: z.number(),
  idleSeconds: z.number(),
});

/** Operator-app sign-in: password or token → session cookie (httpOnly) + CSRF value; sign-out. */
export function sessionRoutes(d: SessionDeps): AnyRouteDef[] {
  const { registry, throttle } = d;
  const now = d.now ?? Date.now;
  const fail = (source: string, reason: string, message: string) => {
    throttle.failure(source, reason);
    return new DomainError('unauthenticated', message);
  };
  /** The user a token or password proves, or a 401 (counted by the throttle). */
  const verify = async (body: z.infer<typeof loginBody>, source: string) => {
    if ('token' in body) {
      const parsed = parseApiToken(body.token);
      if (!parsed) throw fail(source, 'malformed', 'malformed API token (glt_<id>_<secret>)');
      const tok = await registry.findToken(parsed.id);
      if (!tok || !secretMatches(parsed.secret, tok.secretHash))
        throw fail(source, tok ? 'wrong secret' : 'unknown token', 'invalid API token');
      if (tok.revoked) throw fail(source, 'revoked', `API token ${parsed.id} was revoked`);
      if (tok.expiresAt !== null && now() >= tok.expiresAt)
        throw fail(
          source,
          'expired',
          `API token ${parsed.id} expired at ${new Date(tok.expiresAt).toISOString()}`,
        );
      return { userId: tok.userId, via: 'token' as const };
    }
    const ok = await passwordMatches(body.password, await registry.passwordHash(body.user));
    if (!ok) throw fail(source, 'wrong password', 'invalid user or password');
    return { userId: body.user, via: 'password' as const };
  };
  return [
    route({
      method: 'post',
      path: '/auth/login',
      summary:
        'Sign in with {user, password} or exchange an API token {token}: sets the httpOnly session cookie gl_session and the CSRF cookie gl_csrf; throttled per source like bearer tokens',
      tag: 'auth',
      permission: null,
      body: loginBody,
      response: loginResponse,
      handler: async ({ body, req, res }) => {
        const source = sourceOf(req);
        const wait = throttle.retryAfterMs(source);
        if (wait > 0) {
          throttle.throttled(source);
          const s = Math.ceil(wait / 1000);
          throw new DomainError(
            'throttled',
            `too many failed authentication attempts from ${source}: retry in ${s} s`,
            {
              'retry-after': String(s),
            },
          );
        }
        const { userId, via } = await verify(body, source);
        const user = await registry.getUser(userId);
        if (!user)
          throw fail(source, 'no user', via === 'token' ? 'invalid API token' : 'invalid user or password');
        const sid = newSecret();
        const csrf = newSecret();
        const t = now();
        const expiresAt = t + d.sessions.absoluteMs;
        await registry.createSession({
          idHash: hashSecret(sid),
          userId,
          csrf,
          via,
          source,
          createdAt: t,
          lastUsed: t,
          expiresAt,
        });
        // Expired sessions are swept on the way (no timer): sign-ins are rare.
        await registry.purgeSessions(t, t - d.sessions.idleMs);
        await registry.audit(`user:${userId}`, 'auth.login', userId, { via, source });
        setCookies(res, req, d, sid, csrf, Math.ceil(d.sessions.absoluteMs / 1000));
        return {
          user: { id: user.id, name: user.name, role: user.role },
          csrf,
          expiresAt,
          idleSeconds: Math.round(d.sessions.idleMs / 1000),
        };
      },
    }),
    route({
      method: 'post',
      path: '/auth/logout',
      summary:
        'Sign out: the session is deleted server-side and its cookies cleared (with the cookie, header x-csrf-token is required)',
      tag: 'auth',
      permission: null,
      handler: async ({ req, res }) => {
        const sid = cookieOf(req, SESSION_COOKIE);
        if (sid) {
          const idHash = hashSecret(sid);
          const s = await registry.findSession(idHash);
          if (s) {
            if (!csrfMatches(req, s.csrf)) throw new CsrfRefused();
            await registry.deleteSession(idHash);
            d.sessionEnded?.(idHash);
            await registry.audit(`user:${s.userId}`, 'auth.logout', s.userId, { source: sourceOf(req) });
          }
        }
        setCookies(res, req, d, '', '', 0);
        return undefined;
      },
    }),
    route({
      method: 'put',
      path: '/users/:user/password',
      summary: `Set a user's password (at least ${MIN_PASSWORD_LENGTH} characters; stored as a scrypt hash) or remove it (null); ends the user's sessions`,
      tag: 'auth',
      permission: 'user:admin',
      params: z.object({ user: id }),
      body: z.object({ password: passwordSchema.nullable() }).strict(),
      response: z.object({ user: z.string(), password: z.boolean(), sessionsEnded: z.number() }),
      handler: async ({ params, body }) => {
        const hash = body.password === null ? null : await hashPassword(body.password);
        if (!(await registry.setPasswordHash(params.user, hash)))
          throw new DomainError('not_found', `unknown user ${params.user}`);
        const ended = await endSessions(registry, params.user, d.sessionEnded);
        return { user: params.user, password: hash !== null, sessionsEnded: ended };
      },
      audit: {
        action: 'user.password',
        target: ({ params }) => params.user,
        detail: (_ctx, out) => ({ set: out.password, sessionsEnded: out.sessionsEnded }),
      },
    }),
  ];
}

/** Ends all sessions of a user (their live streams too); returns how many. */
async function endSessions(registry: Registry, user: string, ended?: (idHash: string) => void) {
  const hashes = ended ? await registry.sessionsOf(user) : [];
  const n = await registry.deleteUserSessions(user);
  for (const h of hashes) ended?.(h);
  return n;
}
