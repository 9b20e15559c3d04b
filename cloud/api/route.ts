import type { Express, NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { formatIssues } from '../../protocols/mqtt/payloads.ts';
import type { Permission } from '../auth/roles.ts';
import type { Principal } from './auth.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Response headers to send with the error (Retry-After, WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: Request;
  res: Response;
}

/**
 * One REST route: its zod schemas validate the request and also produce the OpenAPI document, so the
 * two cannot drift apart.
 */
/** A route of any parameter, query and body types, as lists of routes hold them. */
// biome-ignore lint/suspicious/noExplicitAny: each route in a list has its own P/Q/B; unknown would reject the handlers
export type AnyRouteDef = RouteDef<any, any, any>;

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Express path under /api/v1, e.g. /sites/:site */
  path: string;
  summary: string;
  tag: string;
  /** null: public (no token). Otherwise the permission the caller's role needs; site scope is checked in the handler. */
  permission: Permission | null;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  response?: z.ZodType;
  status?: number;
  handler: (ctx: RouteContext<P, Q, B>) => Promise<unknown>;
  /** Called with the reason when an authenticated request fails validation (e.g. to audit it). */
  onInvalid?: (principal: Principal, req: Request, reason: string) => Promise<void>;
}

export function route<P, Q, B>(def: RouteDef<P, Q, B>): RouteDef<P, Q, B> {
  return def;
}

function parseOr400<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return value as T;
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, `invalid ${where}: ${formatIssues(r.error)}`);
  return r.data;
}

export function mount(
  app: Express,
  prefix: string,
  routes: AnyRouteDef[],
  authenticate: (req: Request) => Promise<Principal | undefined>,
) {
  for (const r of routes) {
    app[r.method](`${prefix}${r.path}`, async (req: Request, res: Response, next: NextFunction) => {
      try {
        let principal: Principal | undefined;
        if (r.permission !== null) {
          principal = await authenticate(req);
          if (!principal)
            throw new HttpError(401, 'missing API token (Authorization: Bearer glt_…)', {
              'www-authenticate': 'Bearer',
            });
          if (!principal.can(r.permission))
            throw new HttpError(403, `role ${principal.user.role} may not ${r.permission}`);
        }
        let ctx: RouteContext<unknown, unknown, unknown>;
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
          if (err instanceof HttpError && principal && r.onInvalid)
            await r.onInvalid(principal, req, err.message);
          throw err;
        }
        const out = await r.handler(ctx);
        if (res.headersSent) return;
        if (out === undefined) res.status(r.status ?? 204).end();
        else res.status(r.status ?? 200).json(out);
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
            : {}),
        },
        ...(r.permission
          ? {
              401: { description: 'no or bad token (the reason says which: invalid, revoked, expired)' },
              403: { description: 'not allowed' },
              429: { description: 'too many failed authentications from this address; see Retry-After' },
            }
          : {}),
        400: { description: 'invalid request' },
      },
    };
    if (r.permission) {
      op.security = [{ bearer: [] }];
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
      },
    },
    paths,
  };
}
