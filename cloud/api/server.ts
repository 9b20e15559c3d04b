import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { FailureThrottle } from '../auth/failure-throttle.ts';
import { tokenAuthenticator } from './auth.ts';
import { HttpError, mount, openApiDocument } from './route.ts';
import { type ApiDeps, buildRoutes } from './routes.ts';
import { forecastRoutes } from './routes-forecast.ts';
import { marketRoutes } from './routes-market.ts';
import { marketFormRoutes } from './routes-market-forms.ts';
import { networkRoutes } from './routes-network.ts';
import { vppRoutes } from './routes-vpp.ts';
import { serveOperatorPage } from './ui.ts';

export const API_PREFIX = '/api/v1';

export async function startApi(deps: ApiDeps, listen: { host: string; port: number }, log: Logger) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));
  const routes = [
    ...buildRoutes(deps),
    ...marketRoutes(deps.market),
    ...marketFormRoutes(deps.market),
    ...forecastRoutes(deps),
    ...networkRoutes(deps),
    ...vppRoutes(deps),
  ];
  const doc = openApiDocument(API_PREFIX, routes, { title: 'gridlayer cloud DERMS API', version: '1.0.0' });
  app.get(`${API_PREFIX}/openapi.json`, (_req, res) => {
    res.json(doc);
  });
  const throttle = new FailureThrottle({
    what: 'API auth',
    maxFailures: deps.auth.throttle.maxFailures,
    windowMs: deps.auth.throttle.windowSeconds * 1000,
    log,
    onEvent: (e) => deps.metrics.apiAuthFailures.inc({ result: e === 'failure' ? 'refused' : 'throttled' }),
  });
  mount(app, API_PREFIX, routes, tokenAuthenticator(deps.registry, { throttle, log }));
  serveOperatorPage(app);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status =
      err instanceof HttpError
        ? err.status
        : (err as { type?: string }).type === 'entity.parse.failed'
          ? 400
          : (err as { status?: number }).status && (err as { status: number }).status < 500
            ? (err as { status: number }).status
            : 500;
    if (status >= 500) log.error({ err, path: req.path }, 'API error');
    if (err instanceof HttpError) res.set(err.headers);
    res.status(status).json({ error: status >= 500 ? 'internal error' : (err as Error).message });
  });
  const server = app.listen(listen.port, listen.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    doc,
    close: () =>
      new Promise<void>((resolve) => {
        throttle.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
