import { z } from 'zod';
import { hashPassword } from '../auth/passwords.ts';
import { PERMISSIONS, ROLES } from '../auth/roles.ts';
import { formatApiToken, hashSecret, newId, newSecret } from '../auth/secrets.ts';
import type { MarketService } from '../market/index.ts';
import type { Registry } from '../storage/registry/registry.ts';
import { DomainError } from './errors.ts';
import { id } from './params.ts';
import { type AnyRouteDef, route } from './route.ts';
import { passwordSchema } from './routes-auth.ts';

const scopeSchema = z.object({ kind: z.enum(['all', 'site', 'group']), target: z.string().default('*') });
const userSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  createdAt: z.number(),
  scopes: z.array(scopeSchema),
});
const tokenSchema = z.object({
  id: z.string(),
  userId: z.string(),
  label: z.string().nullable(),
  createdAt: z.number(),
  createdBy: z.string().nullable(),
  /** null: never expires (the bootstrap token). */
  expiresAt: z.number().nullable(),
  lastUsed: z.number().nullable(),
  revokedAt: z.number().nullable(),
});

interface UserDeps {
  registry: Registry;
  auth: { tokenDefaultTtlSeconds: number; tokenMaxTtlSeconds: number };
}

/** The caller. */
export function meRoutes(market?: Pick<MarketService, 'actorsOf' | 'rolesOf'>): AnyRouteDef[] {
  return [
    route({
      method: 'get',
      path: '/me',
      summary: 'The caller: user, role and scopes',
      tag: 'auth',
      permission: 'site:read',
      response: userSchema.extend({
        /** What the caller's role may do (the operator app shows what it may). */
        permissions: z.array(z.enum(PERMISSIONS)),
        /** Present when signed in with the session cookie: when the session ends at the latest. */
        session: z.object({ expiresAt: z.number() }).optional(),
        /** The market organizations the user acts for and their market roles (absent: market off or none). */
        market: z
          .object({ actors: z.array(z.string()), roles: z.record(z.string(), z.array(z.string())) })
          .optional(),
      }),
      handler: async ({ principal }) => ({
        ...principal.user,
        permissions: PERMISSIONS.filter((p) => principal.can(p)),
        ...(principal.session && { session: { expiresAt: principal.session.expiresAt } }),
        ...(market?.actorsOf(principal.user.id).length && {
          market: { actors: market.actorsOf(principal.user.id), roles: market.rolesOf(principal.user.id) },
        }),
      }),
    }),
  ];
}

/** Users and their API tokens (issued once, stored hashed, revocable). */
export function userRoutes(d: UserDeps): AnyRouteDef[] {
  const { registry } = d;
  return [
    route({
      method: 'get',
      path: '/users',
      summary: 'Users',
      tag: 'auth',
      permission: 'user:admin',
      response: z.array(userSchema),
      handler: async () => registry.listUsers(),
    }),
    route({
      method: 'post',
      path: '/users',
      summary: 'Create a user with a role and scopes (all, site:<id>, group:<id>)',
      tag: 'auth',
      permission: 'user:admin',
      body: z.object({
        name: z.string().min(1).max(200),
        role: z.enum(ROLES),
        scopes: z.array(scopeSchema).default([]),
        /** Optional id (default: random); the operator app signs in with it. */
        id: id.optional(),
        /** Optional password for the operator app's sign-in (stored as a scrypt hash). */
        password: passwordSchema.optional(),
      }),
      status: 201,
      response: userSchema,
      handler: async ({ body }) => {
        const { password, ...u } = body;
        if (u.id && (await registry.getUser(u.id))) throw new DomainError('conflict', `user ${u.id} exists`);
        const user = await registry.createUser(u);
        if (password !== undefined) await registry.setPasswordHash(user.id, await hashPassword(password));
        return user;
      },
      audit: {
        action: 'user.create',
        target: (_ctx, u) => u.id,
        // Never the password itself.
        detail: ({ body: { password, ...rest } }) => ({ ...rest, password: password !== undefined }),
      },
    }),
    ...tokenRoutes(d),
  ];
}

function tokenRoutes(d: UserDeps): AnyRouteDef[] {
  const { registry } = d;
  return [
    route({
      method: 'post',
      path: '/users/:user/tokens',
      summary:
        'Issue an API token for a user (the token is shown once; stored hashed); it expires after ttlSeconds',
      tag: 'auth',
      permission: 'user:admin',
      params: z.object({ user: id }),
      body: z
        .object({
          label: z.string().max(200).optional(),
          /** Lifetime; default auth.tokenDefaultTtlSeconds, at most auth.tokenMaxTtlSeconds. */
          ttlSeconds: z.number().int().min(60).optional(),
        })
        .strict(),
      status: 201,
      response: tokenSchema.extend({ token: z.string() }),
      handler: async ({ params, body, principal }) => {
        if (!(await registry.getUser(params.user)))
          throw new DomainError('not_found', `unknown user ${params.user}`);
        const ttl = body.ttlSeconds ?? d.auth.tokenDefaultTtlSeconds;
        if (ttl > d.auth.tokenMaxTtlSeconds)
          throw new DomainError(
            'invalid',
            `invalid body: ttlSeconds: ${ttl} exceeds the maximum ${d.auth.tokenMaxTtlSeconds} (auth.tokenMaxTtlSeconds)`,
          );
        const tokenId = newId();
        const secret = newSecret();
        const now = Date.now();
        const t = await registry.createToken({
          id: tokenId,
          userId: params.user,
          secretHash: hashSecret(secret),
          label: body.label,
          createdAt: now,
          expiresAt: now + ttl * 1000,
          createdBy: principal.actor,
        });
        return { ...t, token: formatApiToken(tokenId, secret) };
      },
      audit: {
        action: 'token.create',
        target: ({ params }) => params.user,
        detail: ({ body }, t) => ({ tokenId: t.id, label: body.label, expiresAt: t.expiresAt }),
      },
    }),
    route({
      method: 'get',
      path: '/tokens',
      summary: 'API tokens (never their secrets): issuer, expiry, last use (written at most once a minute)',
      tag: 'auth',
      permission: 'user:admin',
      query: z
        .object({
          user: id.optional(),
          /** Also list revoked tokens. */
          revoked: z.enum(['true', 'false']).default('false'),
        })
        .strict(),
      response: z.array(tokenSchema),
      handler: async ({ query }) =>
        registry.listTokens({ userId: query.user, includeRevoked: query.revoked === 'true' }),
    }),
    route({
      method: 'delete',
      path: '/tokens/:id',
      summary: 'Revoke an API token (refused from the next request on)',
      tag: 'auth',
      permission: 'user:admin',
      params: z.object({ id }),
      handler: async ({ params }) => {
        if (!(await registry.revokeToken(params.id)))
          throw new DomainError('not_found', `unknown or revoked token ${params.id}`);
        return undefined;
      },
      audit: { action: 'token.revoke', target: ({ params }) => params.id },
    }),
  ];
}
