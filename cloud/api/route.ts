import { timingSafeEqual } from 'node:crypto';
import type { Express, NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { formatIssues } from '../../protocols/mqtt/payloads.ts';
import type { Permission, Role } from '../auth/roles.ts';
import type { Principal } from './auth.ts';
import { CsrfRefused, DomainError, isRefusal } from './errors.ts';

/** Whether the request's x-csrf-token equals the session's CSRF value (constant-time). */
export function csrfMatches(req: Request, csrf: string): boolean {
  const h = req.headers['x-csrf-token'];
  if (typeof h !== 'string') return false;
  const a = Buffer.from(h);
  const b = Buffer.from(csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: Request;
  res: Response;
}

/** Reads an id from the request: the name of a path parameter, or a function of the parsed request. */
export type IdFrom<P, Q, B> = string | ((ctx: RouteContext<P, Q, B>) => string);

/** Who may call a route beyond its permission; checked by mount() after validation, before the handler. */
export interface RouteScope<P, Q, B> {
  /** Only these roles; `verb` completes the refusal "role <role> may not <verb>". */
  roles?: { allow: readonly Role[]; verb: string };
  /** The site the caller must have in scope. */
  site?: IdFrom<P, Q, B>;
  /** The group the caller must have in scope. */
  group?: IdFrom<P, Q, B>;
}

/** One audit record written by mount() after the handler succeeded. */
export interface AuditSpec<P, Q, B, O> {
  action: string;
  target: (ctx: RouteContext<P, Q, B>, out: O) => string | null;
  detail?: (ctx: RouteContext<P, Q, B>, out: O) => unknown;
}

/** Where a request was refused: validation, scope (role, site, group) or the handler's domain (4xx). */
export type RefusalStage = 'invalid' | 'scope' | 'domain';

/** An audit record of refused requests (who tried what, and why it was refused). */
export interface RefusalAuditSpec<B> {
  action: string;
  /** From the raw request: on an invalid request nothing is parsed. */
  target: (req: Request) => string;
  on: readonly RefusalStage[];
  detail: (r: { stage: RefusalStage; reason: string; req: Request; body?: B; err: unknown }) => unknown;
}

/**
 * One REST route: its zod schemas validate the request and also produce the OpenAPI document, so the
 * two cannot drift apart. Scope and audit are declared here and applied once, by mount().
 */
export interface RouteDef<P = unknown, Q = unknown, B = unknown, O = unknown> {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Express path under /api/v1, e.g. /sites/:site */
  path: string;
  summary: string;
  tag: string;
  /** null: public (no token). Otherwise the permission the caller's role needs. */
  permission: Permission | null;
  scope?: RouteScope<P, Q, B>;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  response?: z.ZodType;
  /** Media type of a success answer that is not JSON (the event stream: text/event-stream). */
  produces?: string;
  status?: number;
  handler: (ctx: RouteContext<P, Q, B>) => Promise<O>;
  /** Audit records of a successful call, in order. */
  audit?: AuditSpec<P, Q, B, O> | readonly AuditSpec<P, Q, B, O>[];
  auditRefusals?: RefusalAuditSpec<B>;
}

/** A route of any parameter, query, body and result types, as lists of routes hold them. */
// biome-ignore lint/suspicious/noExplicitAny: each route in a list has its own P/Q/B/O; unknown would reject the handlers
export type AnyRouteDef = RouteDef<any, any, any, any>;

export function route<P, Q, B, O>(def: RouteDef<P, Q, B, O>): RouteDef<P, Q, B, O> {
  return def;
}

export type Auditor = (
  actor: string,
  action: string,
  target: string | null,
  detail?: unknown,
) => Promise<unknown>;

type Ctx = RouteContext<unknown, unknown, unknown>;

function parseOr400<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return value as T;
  const r = schema.safeParse(value);
  if (!r.success) throw new DomainError('invalid', `invalid ${where}: ${formatIssues(r.error)}`);
  return r.data;
}

async function authorize(r: AnyRouteDef, req: Request, authenticate: Authenticate) {
  if (r.permission === null) return undefined;
  const principal = await authenticate(req);
  if (!principal)
    throw new DomainError('unauthenticated', 'missing API token (Authorization: Bearer glt_…)', {
      'www-authenticate': 'Bearer',
    });
  // A cookie is sent by the browser whatever page asks: a change must prove it comes from our app.
  if (
    principal.session &&
    req.method !== 'GET' &&
    req.method !== 'HEAD' &&
    !csrfMatches(req, principal.session.csrf)
  )
    throw new CsrfRefused();
  if (!principal.can(r.permission))
    throw new DomainError('forbidden', `role ${principal.user.role} may not ${r.permission}`);
  return principal;
}

const idFrom = (p: IdFrom<unknown, unknown, unknown>, ctx: Ctx) =>
  typeof p === 'function' ? p(ctx) : String((ctx.params as Record<string, unknown>)[p]);

async function checkScope(scope: RouteScope<unknown, unknown, unknown> | undefined, ctx: Ctx) {
  if (!scope) return;
  const p = ctx.principal;
  if (scope.roles && !scope.roles.allow.includes(p.user.role))
    throw new DomainError('forbidden', `role ${p.user.role} may not ${scope.roles.verb}`);
  if (scope.site !== undefined) {
    const site = idFrom(scope.site, ctx);
    if (!(await p.canSite(site))) throw new DomainError('forbidden', `not authorized for site ${site}`);
  }
  if (scope.group !== undefined) {
    const group = idFrom(scope.group, ctx);
    if (!p.canGroup(group)) throw new DomainError('forbidden', `not authorized for group ${group}`);
  }
}

type Authenticate = (req: Request) => Promise<Principal | undefined>;

/** Runs one request through authentication, validation, scope, the handler and the audit. */
async function serve(
  r: AnyRouteDef,
  req: Request,
  res: Response,
  authenticate: Authenticate,
  audit: Auditor,
) {
  const principal = await authorize(r, req, authenticate);
  const refused = async (stage: RefusalStage, err: unknown, body?: unknown) => {
    const a = r.auditRefusals;
    if (!a || !principal || !a.on.includes(stage) || !isRefusal(err)) return;
    const reason = (err as Error).message;
    await audit(principal.actor, a.action, a.target(req), a.detail({ stage, reason, req, body, err }));
  };
  let ctx: Ctx;
  try {
    ctx = {
      params: parseOr400(r.params, req.params, 'path parameters'),
      query: parseOr400(r.query, req.query, 'query'),
      body: parseOr400(r.body, req.body, 'body'),
      principal: principal as Principal,
      req,
      res,
    };
  } catch (err) {
    await refused('invalid', err);
    throw err;
  }
  const stage = async <T>(s: RefusalStage, fn: () => Promise<T>) => {
    try {
      return await fn();
    } catch (err) {
      await refused(s, err, ctx.body);
      throw err;
    }
  };
  await stage('scope', () => checkScope(r.scope, ctx));
  const out = await stage('domain', () => r.handler(ctx));
  const specs = r.audit === undefined ? [] : Array.isArray(r.audit) ? r.audit : [r.audit];
  for (const a of specs as AuditSpec<unknown, unknown, unknown, unknown>[])
    await audit(ctx.principal.actor, a.action, a.target(ctx, out), a.detail?.(ctx, out));
  if (res.headersSent) return;
  if (out === undefined) res.status(r.status ?? 204).end();
  else res.status(r.status ?? 200).json(out);
}

export function mount(
  app: Express,
  prefix: string,
  routes: AnyRouteDef[],
  authenticate: Authenticate,
  audit: Auditor,
) {
  for (const r of routes) {
    // Scope and audit need a caller; a public route declaring them is a programming error.
    if (r.permission === null && (r.scope || r.audit || r.auditRefusals))
      throw new Error(`${r.method} ${r.path}: scope and audit need a permission (an authenticated caller)`);
    app[r.method](`${prefix}${r.path}`, async (req: Request, res: Response, next: NextFunction) => {
      try {
        await serve(r, req, res, authenticate, audit);
      } catch (err) {
        next(err);
      }
    });
  }
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  const s = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' }) as Record<
    string,
    unknown
  >;
  delete s.$schema;
  return s;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
  }));
}

export function openApiDocument(
  prefix: string,
  routes: AnyRouteDef[],
  info: { title: string; version: string },
) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const p = `${prefix}${r.path}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses: {
        [String(r.status ?? 200)]: {
          description: 'OK',
          ...(r.response
            ? { content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } }
            : r.produces
              ? { content: { [r.produces]: { schema: { type: 'string' } } } }
              : {}),
        },
        ...(r.permission
          ? {
              401: { description: 'no or bad token (the reason says which: invalid, revoked, expired)' },
              403: { description: 'not allowed (or CSRF: a cookie request without x-csrf-token)' },
              429: { description: 'too many failed authentications from this address; see Retry-After' },
            }
          : {}),
        400: { description: 'invalid request' },
      },
    };
    if (r.permission) {
      // Either credential: a bearer token, or the operator app's session cookie (changes: + x-csrf-token).
      op.security = [{ bearer: [] }, { session: [] }];
      op.description = `Needs permission \`${r.permission}\`.`;
    }
    if (r.body)
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: jsonSchema(r.body, 'input') } },
      };
    paths[p] ??= {};
    paths[p][r.method] = op;
  }
  return {
    openapi: '3.0.3',
    info,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'API token glt_<id>_<secret>' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'gl_session',
          description:
            'Session of the operator app (POST /api/v1/auth/login); any method other than GET/HEAD must also send header x-csrf-token with the session csrf value (cookie gl_csrf), else 403 CSRF',
        },
      },
    },
    paths,
  };
}
